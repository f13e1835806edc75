"""Random 3D augmentations of whole batches on the training device, for SSL and consistency.

MONAI's random transforms work on one ``(C, *spatial)`` sample at a time on the CPU; its
``Rand3DElastic`` costs about a second per 2 mm volume, far too slow for two views of every
sample in every step. Here every transform draws per-sample parameters and acts on the batch
``(B, C, *spatial)`` at once, on whatever device it lives on, generic over ``spatial_dims``:

* :class:`RandomWarp`: a random affine map (rotation, isotropic scale, translation) plus a smooth
  deformation drawn on a coarse control grid and upsampled, composed into one displacement field
  and applied by one ``grid_sample`` (MONAI's :class:`~monai.networks.blocks.Warp`).
* :class:`Augment`: the SimCLR view generator: a :class:`RandomWarp`, flips, a multiplicative
  bias field, intensity scale/shift, Gaussian blur, Gaussian noise and cutout.

Everything runs in float32 with autocast off (bf16 coordinates would be off by a quarter voxel)
and without gradients. Randomness comes from torch's global generator of the batch's device, which
``run`` seeds.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

import torch
import torch.nn.functional as F

from tlsweep.errors import ConfigError, suggest

INTERPOLATION = {1: "linear", 2: "bilinear", 3: "trilinear"}
T = TypeVar("T")


def from_settings(cls: type[T], settings: Mapping[str, Any], key: str) -> T:
    """``cls(**settings)`` for a config mapping, naming an unknown setting and the valid ones.

    Raises:
        ConfigError: for a key that is not a field of ``cls``.
    """
    known = {f.name for f in fields(cls)}
    for name in settings:
        if name not in known:
            raise ConfigError(
                f"{key}.{name}: no such setting; {suggest(name, known)}"
                f"options: {', '.join(sorted(known))}"
            )
    return cls(**settings)


def _uniform(shape: tuple[int, ...], low: float, high: float, like: torch.Tensor) -> torch.Tensor:
    return torch.rand(shape, device=like.device, dtype=torch.float32) * (high - low) + low


def _per_sample(values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """(B,) → (B, 1, 1, …) broadcastable against ``x``."""
    return values.view(-1, *([1] * (x.ndim - 1)))


def affine_ddf(x: torch.Tensor, rotate_deg: float, scale: float, translate: float) -> torch.Tensor:
    """Displacement field ``(B, spatial_dims, *spatial)``, in voxels, of a random affine map.

    Rotation about the volume centre is the exponential of a random antisymmetric matrix with
    entries up to ``rotate_deg`` (any ``spatial_dims``); scale is uniform in 1 ± ``scale``;
    translation is up to ``translate`` of the extent along each axis.
    """
    b, spatial = x.shape[0], x.shape[2:]
    nd = len(spatial)
    axes = [torch.arange(n, device=x.device, dtype=torch.float32) - (n - 1) / 2 for n in spatial]
    coords = torch.stack(torch.meshgrid(*axes, indexing="ij"))  # (nd, *spatial)
    upper = torch.triu(_uniform((b, nd, nd), -1.0, 1.0, x), diagonal=1) * math.radians(rotate_deg)
    rotation = torch.linalg.matrix_exp(upper - upper.transpose(1, 2))
    matrix = rotation * _uniform((b, 1, 1), 1 - scale, 1 + scale, x)
    shift = _uniform((b, nd), -translate, translate, x) * torch.tensor(spatial, device=x.device)
    moved = torch.einsum("bij,j...->bi...", matrix, coords) + shift.view(b, nd, *[1] * nd)
    return moved - coords


def coarse_field(
    x: torch.Tensor, channels: int, points: int, std: float | torch.Tensor
) -> torch.Tensor:
    """A smooth random field ``(B, channels, *spatial)``: N(0, std) on a coarse grid, upsampled.

    Args:
        x: the batch whose size, spatial shape and device the field takes.
        channels: field channels (spatial_dims for a displacement, 1 for a bias field).
        points: control points per axis (at least 2; ``points**d`` in all); fewer points, smoother
            field.
        std: standard deviation at the control points; a (channels,) tensor gives one per channel.
    """
    spatial = x.shape[2:]
    grid = torch.randn(
        (x.shape[0], channels, *[points] * len(spatial)), device=x.device, dtype=torch.float32
    )
    if isinstance(std, torch.Tensor):
        std = std.view(1, channels, *[1] * len(spatial))
    mode = INTERPOLATION[len(spatial)]
    return F.interpolate(grid * std, size=tuple(spatial), mode=mode, align_corners=True)


@dataclass
class RandomWarp:
    """Random affine map plus a smooth coarse-grid deformation, one resampling per batch.

    Args:
        rotate_deg: maximum rotation about each axis pair, degrees.
        scale: isotropic scale drawn from 1 ± ``scale``.
        translate: maximum shift, as a fraction of the extent of each axis.
        warp_std: SD of the deformation at the control points, as a fraction of each axis'
            extent (0 = affine only), so it means the same at 2 mm and at 4 mm.
        control_points: control points per axis of the deformation grid (at least 2).
    """

    rotate_deg: float = 10.0
    scale: float = 0.1
    translate: float = 0.05
    warp_std: float = 0.02
    control_points: int = 5

    def __post_init__(self) -> None:
        if self.control_points < 2:
            raise ConfigError(
                f"control_points={self.control_points}: a deformation grid needs at least 2 "
                "points per axis"
            )
        for key in ("rotate_deg", "scale", "translate", "warp_std"):
            if getattr(self, key) < 0:
                raise ConfigError(f"{key}={getattr(self, key)}: must be >= 0")
        from monai.networks.blocks import Warp

        with warnings.catch_warnings():  # MONAI warns that it uses torch's grid_sample: intended
            warnings.simplefilter("ignore")
            self._warp = Warp(mode="bilinear", padding_mode="zeros")

    def ddf(self, x: torch.Tensor) -> torch.Tensor:
        """The random displacement field ``(B, spatial_dims, *spatial)``, in voxels."""
        ddf = affine_ddf(x, self.rotate_deg, self.scale, self.translate)
        if self.warp_std > 0:
            extent = torch.tensor(x.shape[2:], device=x.device, dtype=torch.float32)
            field_ = coarse_field(x, x.ndim - 2, self.control_points, self.warp_std * extent)
            ddf = ddf + field_
        return ddf

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Warp ``x`` ``(B, C, *spatial)``, each sample differently; zeros come in from outside."""
        with torch.autocast(x.device.type, enabled=False):
            return self._warp(x.float(), self.ddf(x))


def random_flip(x: torch.Tensor, axes: list[int], prob: float) -> torch.Tensor:
    """Flip each sample along each spatial axis in ``axes`` with probability ``prob``."""
    for axis in axes:
        flip = _per_sample(torch.rand(x.shape[0], device=x.device) < prob, x)
        x = torch.where(flip, x.flip(2 + axis), x)
    return x


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian blur with a per-sample ``sigma`` (B,) in voxels (0 = unchanged).

    One grouped convolution per axis: the batch is folded into channels so each sample gets its
    own kernel.
    """
    radius = math.ceil(3 * float(sigma.max()))
    if radius == 0:
        return x
    b, c, spatial = x.shape[0], x.shape[1], x.shape[2:]
    nd = len(spatial)
    t = torch.arange(-radius, radius + 1, device=x.device, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (t / sigma.clamp_min(1e-6)[:, None]) ** 2)
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(c, 0)  # (B*C, K)
    conv = (F.conv1d, F.conv2d, F.conv3d)[nd - 1]
    y = x.reshape(1, b * c, *spatial)
    for axis in range(nd):
        shape, padding = [b * c, 1, *[1] * nd], [0] * nd
        shape[2 + axis], padding[axis] = -1, radius
        y = conv(y, kernel.view(shape), padding=padding, groups=b * c)
    return y.view_as(x)


def cutout(x: torch.Tensor, prob: float, size: float) -> torch.Tensor:
    """Zero one random box per sample (with probability ``prob``), ½–1 × ``size`` of each axis."""
    b, spatial = x.shape[0], x.shape[2:]
    inside = (torch.rand(b, device=x.device) < prob).view(b, *[1] * len(spatial))
    for axis, n in enumerate(spatial):
        shape = [1] * (len(spatial) + 1)
        shape[axis + 1] = n
        index = torch.arange(n, device=x.device).view(shape)
        width = (_uniform((b,), 0.5 * size, size, x) * n).clamp_min(1.0)
        low = _uniform((b,), 0.0, 1.0, x) * (n - width)
        low, high = (v.view(b, *[1] * len(spatial)) for v in (low, low + width))
        inside = inside & (index >= low) & (index < high)
    return x.masked_fill(inside.unsqueeze(1), 0.0)


@dataclass
class Augment:
    """SimCLR's view generator for brain volumes (z-scored within the brain, zero outside).

    Args:
        warp: the spatial part (affine map and deformation); see :class:`RandomWarp`.
        flip_axes: spatial axes that may be flipped (0 = left-right in RAS volumes).
        flip_prob: probability of each flip.
        bias_std: SD of the log bias field at its control points (0 = off).
        bias_points: control points per axis of the bias field.
        intensity_scale: brain intensities scaled by 1 ± this.
        intensity_shift: brain intensities shifted by ± this (in SDs of the z-scored image).
        blur_prob: probability of a Gaussian blur.
        blur_sigma: maximum blur SD, voxels.
        noise_std: maximum SD of added Gaussian noise.
        cutout_prob: probability of zeroing one box.
        cutout_size: maximum box side, as a fraction of each axis.
    """

    warp: RandomWarp = field(default_factory=RandomWarp)
    flip_axes: list[int] = field(default_factory=lambda: [0])
    flip_prob: float = 0.5
    bias_std: float = 0.2
    bias_points: int = 3
    intensity_scale: float = 0.1
    intensity_shift: float = 0.1
    blur_prob: float = 0.3
    blur_sigma: float = 1.0
    noise_std: float = 0.1
    cutout_prob: float = 0.5
    cutout_size: float = 0.3

    def __post_init__(self) -> None:
        if isinstance(self.warp, dict):  # from a plain config mapping
            self.warp = from_settings(RandomWarp, self.warp, "method.augment.warp")
        self.flip_axes = [int(a) for a in self.flip_axes]
        for key in ("flip_prob", "blur_prob", "cutout_prob", "cutout_size"):
            if not 0 <= getattr(self, key) <= 1:
                raise ConfigError(f"{key}={getattr(self, key)}: must be in [0, 1]")

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """One random view of every sample of ``x`` ``(B, C, *spatial)``."""
        if any(not 0 <= a < x.ndim - 2 for a in self.flip_axes):
            raise ConfigError(
                f"flip_axes={self.flip_axes}: volumes have {x.ndim - 2} spatial axes"
            )
        with torch.autocast(x.device.type, enabled=False):
            x = random_flip(self.warp(x), self.flip_axes, self.flip_prob)
            brain = x != 0
            if self.bias_std > 0:
                x = x * torch.exp(coarse_field(x, 1, self.bias_points, self.bias_std))
            gain = _per_sample(_uniform((x.shape[0],), -1, 1, x) * self.intensity_scale + 1, x)
            offset = _per_sample(_uniform((x.shape[0],), -1, 1, x) * self.intensity_shift, x)
            x = torch.where(brain, x * gain + offset, x)
            blurred = torch.rand(x.shape[0], device=x.device) < self.blur_prob
            x = gaussian_blur(x, _uniform((x.shape[0],), 0, self.blur_sigma, x) * blurred)
            noise_sd = _per_sample(_uniform((x.shape[0],), 0, self.noise_std, x), x)
            x = x + torch.randn_like(x) * noise_sd
            return cutout(x, self.cutout_prob, self.cutout_size)
