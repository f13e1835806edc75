"""A synthetic brain-MRI cohort from nilearn's MNI152 templates, written once as BIDS-like NIfTI.

Generative model, per subject (all draws from ``SeedSequence(seed, spawn_key=(0, i))``):

* demographics: age ~ U(age_range), rounded to 0.1 y; sex 50/50; site uniform over ``n_sites``.
  These draws come first and do not depend on ``relatedness``: subject ``i`` has the same age,
  sex and site at every setting, only its anatomy changes.
* head size: intracranial volume (ICV) is log-normal, within-sex SD 7 %; plus a small per-axis
  shape jitter (SD 2 %), a small rigid misalignment (2 deg, 2 mm) and a smooth individual
  deformation (SD 2 mm, 20 mm scale).
* ageing acts on the same tissue boundaries through a "brain age" = age + N(0, 5 y):
  grey matter turns into WM-like signal at the GM/WM boundary (apparent cortical thinning,
  0.25 %/y of GM from 20 to 50 y); brain tissue is lost to CSF at the pial surface following the
  literature curve -0.2 %/y after 35 and -0.5 %/y after 60 (Hedman et al. 2012; Fotenos et al.
  2005), i.e. -15 % at 80; the ventricles expand by 0.3 ml/y (a smooth outward displacement
  calibrated numerically in ml), around an individual size offset (SD 6 ml).
* sex, and the ``relatedness`` r in [0, 1]: where the sex signal lives. Sex scales the ICV by
  ``1.12 ** (1 - r)`` (males over females; 1.12 is the real ratio, e.g. Ruigrok et al. 2014), a
  global size that carries no age information; and it shifts the brain age by ``r`` times
  :data:`SEX_BRAIN_AGE_Y` (a male brain looks 30 y older than a female one of the same age at
  r = 1), so sex acts through exactly the mechanisms age acts through (ventricles, sulcal CSF,
  grey/white contrast), in the same direction. At r = 0 sex is predictable only from head size
  (a sex classifier learns nothing age needs); at r = 1 only from how old the brain looks (a sex
  classifier must learn to measure brain ageing, which is what age regression needs); in
  between, from both, each at a fraction of its strength. The offset is sized so that a small
  CNN learns sex at r = 1 about as well as from head size at r = 0; the price is that at r = 1
  age is readable from the image only up to the unseen sex offset, so the best achievable age
  error is larger there (``benchmarks/synthetic_baseline.py`` reports the linear baselines per
  setting, ``reports/transfer_recovery.md`` the transfer each setting plants).
* site: each site has its own T1 contrast (tissue intensities perturbed around those fitted to
  the MNI152 T1), gain, smooth multiplicative bias field and Rician noise level; ``site_effect``
  scales how far contrast and bias field stray (:func:`make_site`).
* optionally, a planted accelerated-ageing group (:class:`Ageing`, off by default): a fraction
  of subjects, drawn from a stream of their own, whose brain age is N years above their age,
  with a ``diagnosis`` column saying who; the clinical use of a brain-age model made
  measurable (does its gap detect the group?).

Images are skull-stripped (zero outside the brain mask), RAS, isotropic ``resolution_mm``, and
generated directly at that resolution from templates resampled once (Gaussian anti-aliasing);
random fields live on control grids fixed in millimetres, so a subject's anatomy does not depend
on the resolution and subject ``i`` depends only on ``(seed, i)``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import ndimage as ndi
from scipy.spatial.transform import Rotation

from tlsweep.data.tasks import GROUP_NEGATIVE, GROUP_POSITIVE

log = logging.getLogger(__name__)

FORMAT_VERSION = 4  # 2: sex effects scaled by relatedness; 3: file sizes; 4: sex as brain age
FOV_CENTRE_MM = np.array([0.0, -18.0, 22.0])  # centre of nilearn's 2 mm MNI152 grid
FOV_MM = np.array([198.0, 234.0, 190.0])
ICV_MALE_OVER_FEMALE = 1.12  # at relatedness 0; 1.12 ** (1 - r) in general
ICV_LOG_SD = 0.07
#: Male-minus-female brain-age offset at relatedness 1 (scaled by r), in years of ageing.
SEX_BRAIN_AGE_Y = 30.0
BRAIN_AGE_SD_Y = 5.0
AGE_RANGE = (20.0, 80.0)  # years, uniform
# the ``diagnosis`` of a planted group: what the brain-age gap flags by default
ACCELERATED, CONTROL = GROUP_POSITIVE, GROUP_NEGATIVE
#: Default strength of the site differences (:func:`make_site`).
SITE_EFFECT = 1.0
VENTRICLE_ML_PER_Y = 0.3
VENTRICLE_SD_ML = 6.0
GM_TO_WM_PER_Y = 0.0025
WARP_SD_MM, WARP_SPACING_MM, BIAS_SPACING_MM = 2.0, 20.0, 60.0


def brain_volume_loss(age: float) -> float:
    """Fraction of brain tissue lost since 35 y: 0.2 %/y from 35, 0.5 %/y from 60."""
    return 0.002 * float(np.clip(age - 35, 0, 25)) + 0.005 * max(age - 60.0, 0.0)


@dataclass(frozen=True)
class Templates:
    """MNI152 tissue maps resampled to the working grid, plus precomputed age-effect fields."""

    resolution_mm: float
    affine: np.ndarray  # voxel -> mm, RAS
    gm: np.ndarray
    wm: np.ndarray
    mask: np.ndarray
    pial: np.ndarray  # where GM is lost to CSF; sums to 1
    deep: np.ndarray  # where GM turns WM-like; sums to 1
    ventricle_field: np.ndarray  # (3, *shape) outward-expanding displacement, max norm 1 mm
    ventricle_ml_per_mm: float
    contrast: np.ndarray  # (csf, gm, wm) intensities fitted to the T1 template
    axes_mm: tuple[np.ndarray, ...]  # voxel centres along each axis, mm
    warp_kernels: tuple[np.ndarray, ...]  # see _kernels
    bias_kernels: tuple[np.ndarray, ...]


@dataclass(frozen=True)
class Ageing:
    """A planted accelerated-ageing group: each subject belongs to it with probability
    ``fraction`` (column ``diagnosis``: :data:`ACCELERATED` or :data:`CONTROL`), and its brain
    is ``years`` older than its age: every age effect (grey matter, sulcal CSF, ventricles)
    acts as at age + ``years``."""

    fraction: float = 0.0
    years: float = 10.0


@dataclass(frozen=True)
class Site:
    """One acquisition site: tissue intensities, gain, bias field and noise level."""

    contrast: np.ndarray
    gain: float
    noise_sd: float  # at 2 mm, relative to WM; scaled by (2 / resolution) ** 1.5
    bias_log: np.ndarray  # coefficients on the bias control grid, already amplitude-scaled


def _grid(resolution_mm: float) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """Affine and per-axis voxel centres (mm) of the working grid; same FOV at any resolution."""
    shape = np.ceil(FOV_MM / resolution_mm - 1e-6).astype(int)
    origin = FOV_CENTRE_MM - (shape - 1) * resolution_mm / 2
    affine = np.diag([resolution_mm] * 3 + [1.0])
    affine[:3, 3] = origin
    return affine, tuple(o + resolution_mm * np.arange(n) for o, n in zip(origin, shape))


def _resample(data: np.ndarray, src_affine: np.ndarray, axes: tuple) -> np.ndarray:
    """Anti-aliased linear resampling of ``data`` (on ``src_affine``) onto the grid ``axes``."""
    src_mm, dst_mm = abs(src_affine[0, 0]), axes[0][1] - axes[0][0]
    extra_fwhm = np.sqrt(max(dst_mm**2 - src_mm**2, 0.0))
    data = ndi.gaussian_filter(data.astype(np.float32), extra_fwhm / 2.3548 / src_mm)
    coords = np.meshgrid(*axes, indexing="ij")
    vox = [(c - src_affine[a, 3]) / src_affine[a, a] for a, c in enumerate(coords)]
    return ndi.map_coordinates(data, vox, order=1, mode="nearest", output=np.float32)


def _tissues(resolution_mm: float) -> tuple[np.ndarray, ...]:
    """T1, GM, WM, CSF and brain mask from nilearn's MNI152 templates on the working grid."""
    from nilearn import datasets as d

    axes, src = _grid(resolution_mm)[1], 1 if resolution_mm < 2 else 2
    loaders = (d.load_mni152_template, d.load_mni152_gm_template, d.load_mni152_wm_template)
    images = [f(resolution=src) for f in (*loaders, d.load_mni152_brain_mask)]
    t1, gm, wm, mask = (_resample(im.get_fdata(), im.affine, axes) for im in images)
    wm = np.minimum(wm, mask)
    gm = np.minimum(gm, mask - wm)
    return t1, gm, wm, mask - gm - wm, mask


@lru_cache(maxsize=2)
def load_templates(resolution_mm: float) -> Templates:
    """Resample nilearn's MNI152 templates (offline) to ``resolution_mm`` and derive fields."""
    affine, axes = _grid(resolution_mm)
    t1, gm, wm, csf, mask = _tissues(resolution_mm)
    inside = mask > 0.5
    tissue = np.stack([csf[inside], gm[inside], wm[inside]], 1)
    contrast = np.linalg.lstsq(tissue, t1[inside], rcond=None)[0].astype(np.float32)
    sigma = 3.0 / resolution_mm
    pial, deep = gm * ndi.gaussian_filter(csf, sigma), gm * ndi.gaussian_filter(wm, sigma)
    field, ml_per_mm = _ventricles()
    field = np.stack([_resample(f, _grid(2.0)[0], axes) for f in field])
    kernels = (_kernels(axes, WARP_SPACING_MM), _kernels(axes, BIAS_SPACING_MM))
    fields = (gm, wm, mask, pial / pial.sum(), deep / deep.sum(), field, ml_per_mm, contrast)
    return Templates(resolution_mm, affine, *fields, axes, *kernels)


@lru_cache(maxsize=1)
def _ventricles() -> tuple[np.ndarray, float]:
    """At 2 mm: a unit displacement pointing into the ventricles, and the ml it adds per mm.

    The ventricles are the deep (>15 mm inside the mask) CSF components over 5 ml.
    """
    _, _, _, csf, mask = _tissues(2.0)
    deep = (csf > 0.5) & (ndi.distance_transform_edt(mask > 0.5) * 2.0 > 15.0)
    labels, n = ndi.label(deep)
    sizes = ndi.sum(deep, labels, range(1, n + 1)) * 8 / 1000
    ventricles = np.isin(labels, 1 + np.flatnonzero(sizes > 5.0)).astype(np.float32)
    grad = np.stack(np.gradient(ndi.gaussian_filter(ventricles, 2.5)))
    field = grad / np.sqrt((grad**2).sum(0)).max()
    grown = ndi.map_coordinates(csf, np.indices(csf.shape) + field, order=1)  # 2 mm = 1 voxel
    near = ndi.binary_dilation(ventricles > 0, iterations=8)
    return field.astype(np.float32), float((grown - csf)[near].sum() * 8 / 1000 / 2.0)


def _control_shape(spacing: float) -> tuple[int, ...]:
    return tuple(int(np.ceil(f / spacing)) + 3 for f in FOV_MM)


def _kernels(axes: tuple, spacing: float) -> tuple[np.ndarray, ...]:
    """Gaussian interpolation matrices (voxel x control point) for a control grid fixed in mm.

    The control grid does not depend on the resolution, so neither does a subject's anatomy.
    """
    out = []
    for x, centre, n in zip(axes, FOV_CENTRE_MM, _control_shape(spacing)):
        ctrl = centre + spacing * (np.arange(n) - (n - 1) / 2)
        k = np.exp(-0.5 * ((x[:, None] - ctrl[None, :]) / spacing) ** 2)
        out.append((k / np.sqrt((k**2).sum(1).mean())).astype(np.float32))  # unit variance
    return tuple(out)


def _smooth_field(coeffs: np.ndarray, kernels: tuple[np.ndarray, ...]) -> np.ndarray:
    """Separable interpolation of control-point coefficients (..., cx, cy, cz) to the grid."""
    kx, ky, kz = kernels
    out = np.matmul(ky, coeffs.astype(np.float32) @ kz.T)  # (..., cx, ny, nz)
    return np.moveaxis(np.tensordot(kx, out, axes=([1], [-3])), 0, -3)


def make_site(seed: int, index: int, strength: float = 1.0) -> Site:
    """Draw site ``index``'s acquisition parameters; independent of cohort size and site count.

    ``strength`` scales how far a site's tissue contrast (in log) and bias field stray from the
    template's: 1 gives the full ranges below, 0 scanners that differ only in gain and noise.
    The draws do not depend on it, so each strength has the same sites, more or less apart.
    """
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1, index)))
    scale = np.array([rng.uniform(0.6, 1.5), rng.uniform(0.9, 1.1), 1.0])
    bias = rng.standard_normal(_control_shape(BIAS_SPACING_MM)) * rng.uniform(0.05, 0.2)
    if strength != 1.0:  # exactly the full-strength site at 1
        scale, bias = scale**strength, bias * strength
    return Site(scale, rng.uniform(0.8, 1.25), rng.uniform(0.01, 0.04), bias.astype(np.float32))


def _tissue_image(tpl: Templates, site: Site, brain_age: float) -> np.ndarray:
    """Template-space T1 intensity, grey matter thinned and lost to CSF by ``brain_age``."""
    shift = GM_TO_WM_PER_Y * (np.clip(brain_age, 20, 50) - 20)
    loss = brain_volume_loss(brain_age)
    to_wm = np.clip(shift * tpl.gm.sum() * tpl.deep, -tpl.wm, tpl.gm)
    wm = tpl.wm + to_wm
    to_csf = loss * (tpl.gm + tpl.wm).sum() * tpl.pial
    gm = np.clip(tpl.gm - to_wm - to_csf, 0.0, np.maximum(tpl.mask - wm, 0.0))
    c_csf, c_gm, c_wm = site.contrast * tpl.contrast
    return c_csf * tpl.mask + (c_gm - c_csf) * gm + (c_wm - c_csf) * wm


def _sample_coords(
    tpl: Templates, rng: np.random.Generator, sex_sign: float, age: float, relatedness: float
) -> np.ndarray:
    """Template voxel coordinates of every output voxel: the subject's head size and shape.

    ``sex_sign`` is +0.5 for males, -0.5 for females; ``age`` is the brain age.
    """
    log_icv = sex_sign * (1.0 - relatedness) * np.log(ICV_MALE_OVER_FEMALE)
    scale = np.exp((log_icv + rng.normal(0, ICV_LOG_SD)) / 3 + rng.normal(0, 0.02, 3))
    rotation = Rotation.from_euler("xyz", rng.normal(0, 2.0, 3), degrees=True).as_matrix()
    inverse = np.linalg.inv(rotation * scale)
    offset = np.meshgrid(
        *(x - c for x, c in zip(tpl.axes_mm, FOV_CENTRE_MM + rng.normal(0, 2, 3))),
        indexing="ij",
        sparse=True,
    )
    vent_ml = VENTRICLE_ML_PER_Y * (age - 20) + rng.normal(0, VENTRICLE_SD_ML)
    warp = rng.standard_normal((3, *_control_shape(WARP_SPACING_MM))) * WARP_SD_MM
    coords = _smooth_field(warp, tpl.warp_kernels)
    coords += (vent_ml / tpl.ventricle_ml_per_mm) * tpl.ventricle_field
    for a in range(3):
        coords[a] += sum(inverse[a, b] * offset[b] for b in range(3))
        coords[a] += FOV_CENTRE_MM[a] - tpl.affine[a, 3]
    return coords / tpl.resolution_mm


def synthesize(
    index: int,
    seed: int,
    age_range: tuple[float, float],
    tpl: Templates,
    sites: list[Site],
    noise: bool = True,
    relatedness: float = 0.0,
    ageing: Ageing | None = None,
) -> tuple[dict, np.ndarray]:
    """Draw subject ``index`` of the cohort ``seed``.

    Args:
        index: subject number from 0; the subject depends only on ``seed`` and ``index``.
        seed: cohort seed.
        age_range: uniform age range in years.
        tpl: templates at the working resolution (:func:`load_templates`).
        sites: the cohort's sites (:func:`make_site`); each subject picks one uniformly.
        noise: add Rician noise (off only to compare resolutions).
        relatedness: in [0, 1], where the sex signal lives (see the module docstring); the
            random draws do not depend on it.
        ageing: the planted accelerated-ageing group (:class:`Ageing`), or None.

    Returns:
        The participants row (participant_id, age, sex, site, and ``diagnosis`` with a planted
        group) and the float32 image.
    """
    rng = _subject_rng(seed, index)
    row, k = _demographics(rng, index, age_range, len(sites), seed, ageing)
    age, sex = row["age"], row["sex"]
    sign = 0.5 if sex == "M" else -0.5
    brain_age = age + rng.normal(0, BRAIN_AGE_SD_Y) + relatedness * sign * SEX_BRAIN_AGE_Y
    if ageing is not None and row.get("diagnosis") == ACCELERATED:
        brain_age += ageing.years
    coords = _sample_coords(tpl, rng, sign, brain_age, relatedness)
    tissue = _tissue_image(tpl, sites[k], brain_age)
    clean = ndi.map_coordinates(tissue, coords, order=1, output=np.float32, prefilter=False)
    bias = sites[k].bias_log + rng.standard_normal(sites[k].bias_log.shape) * 0.03
    image = clean * sites[k].gain * np.exp(_smooth_field(bias, tpl.bias_kernels))
    if noise:
        sd = sites[k].noise_sd * tpl.contrast[2] * sites[k].gain
        sd *= (2.0 / tpl.resolution_mm) ** 1.5  # as if averaged down from 2 mm
        real = image + rng.standard_normal(image.shape, dtype=np.float32) * sd
        image = np.hypot(real, rng.standard_normal(image.shape, dtype=np.float32) * sd)
    image[clean < 0.5 * sites[k].contrast[0] * tpl.contrast[0]] = 0.0  # skull-stripped
    return row, image


def participants(
    seed: int,
    n_subjects: int,
    n_sites: int,
    age_range: tuple[float, float],
    ageing: Ageing | None = None,
) -> list[dict]:
    """The participants rows :func:`synthesize` gives subjects ``0..n_subjects-1``, without
    drawing any image (what ``tlsweep plan`` splits before the cohort exists)."""
    return [
        _demographics(_subject_rng(seed, i), i, age_range, n_sites, seed, ageing)[0]
        for i in range(n_subjects)
    ]


def _subject_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0, index)))


def _demographics(
    rng: np.random.Generator,
    index: int,
    age_range: tuple[float, float],
    n_sites: int,
    seed: int,
    ageing: Ageing | None,
) -> tuple[dict, int]:
    """A subject's participants row and site index: its first draws, age, sex and site (nothing
    else may come before them), and its group when one is planted (from a stream of its own, so
    every other draw is unchanged)."""
    age = round(float(rng.uniform(*age_range)), 1)
    sex, k = ("M" if rng.random() < 0.5 else "F"), int(rng.integers(n_sites))
    site = f"site-{chr(ord('A') + k)}"
    row = dict(participant_id=f"sub-{index + 1:04d}", age=age, sex=sex, site=site)
    if ageing is not None and ageing.fraction > 0:
        group = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2, index)))
        row["diagnosis"] = ACCELERATED if group.random() < ageing.fraction else CONTROL
    return row, k
