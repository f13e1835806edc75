"""``dataset=synthetic_brain``: the synthetic cohort, generated once, then read like real data.

The generator (:mod:`tlsweep.data.synthetic`) writes NIfTI files and a ``participants.tsv`` into
the cache directory; this class points :class:`~tlsweep.data.nifti.NiftiCohort` at them, so the
synthetic cohort goes through exactly the loader, preprocessing and cache that real data does.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tlsweep.data.nifti import Cohort, NiftiCohort
from tlsweep.data.synthetic import SITE_EFFECT, Ageing
from tlsweep.errors import ConfigError


def _is_fraction(value: object) -> bool:
    try:
        return 0.0 <= float(value) <= 1.0  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


class SyntheticBrain(NiftiCohort):
    """A synthetic brain-MRI cohort (see :mod:`tlsweep.data.synthetic`).

    Args:
        n_subjects: cohort size.
        seed: generator seed; the cohort is a pure function of the arguments.
        resolution_mm: isotropic voxel size of the generated images.
        n_sites: number of acquisition sites.
        shape: spatial shape after crop/pad.
        cache_dir: where the cohort and its preprocessed volumes are stored.
        relatedness: in [0, 1], where the source label (sex) lives: 0 in head size only (no age
            information), 1 only in the ventricles, sulcal CSF and grey/white contrast that age
            acts on; each setting is its own cohort folder.
        site_column: the participants column of the site (the generator writes ``site``).
        site_effect: in [0, 1], how far the sites' tissue contrast and bias field differ
            (:func:`tlsweep.data.synthetic.make_site`); each value is its own cohort folder.
        accelerated_fraction: plant an accelerated-ageing group of about this fraction of the
            subjects (a ``diagnosis`` column, ``accelerated`` or ``control``); 0 plants none.
        accelerated_years: how much older the group's brains look than their age.

    Raises:
        ConfigError: for a relatedness outside [0, 1].
    """

    def __init__(
        self,
        n_subjects: int = 600,
        seed: int = 0,
        resolution_mm: float = 4.0,
        n_sites: int = 3,
        shape: list[int] | None = None,
        cache_dir: str = ".cache/tlsweep",
        relatedness: float = 0.0,
        site_column: str | None = "site",
        site_effect: float = SITE_EFFECT,
        accelerated_fraction: float = 0.0,
        accelerated_years: float = 10.0,
    ) -> None:
        fractions = {
            "relatedness": relatedness,
            "site_effect": site_effect,
            "accelerated_fraction": accelerated_fraction,
        }
        for key, value in fractions.items():
            if not _is_fraction(value):
                raise ConfigError(f"dataset.{key}={value}: must be a number in [0, 1]")
        if not 0 < float(accelerated_years) <= 60:
            raise ConfigError(
                f"dataset.accelerated_years={accelerated_years}: must be in (0, 60] years"
            )
        name = f"n{n_subjects}-seed{seed}-{resolution_mm:g}mm-{n_sites}sites-r{relatedness:g}"
        if float(site_effect) != SITE_EFFECT:
            name += f"-site{site_effect:g}"
        ageing = None
        if float(accelerated_fraction) > 0:
            ageing = Ageing(float(accelerated_fraction), float(accelerated_years))
            name += f"-aged{ageing.fraction:g}x{ageing.years:g}y"
        root = Path(cache_dir).expanduser() / "synthetic_brain" / name
        super().__init__(
            root=str(root),
            spacing=[resolution_mm] * 3,
            shape=shape,
            cache_dir=cache_dir,
            site_column=site_column,
        )
        self.generator_args = dict(
            n_subjects=n_subjects,
            seed=seed,
            resolution_mm=resolution_mm,
            n_sites=n_sites,
            relatedness=float(relatedness),
            site_effect=float(site_effect),
            ageing=ageing,
        )

    def load(self, progress: bool = True) -> Cohort:
        """Generate the cohort if it is not on disk yet, then load it as NIfTI."""
        from tlsweep.data.synthetic_writer import generate_cohort

        generate_cohort(self.root, progress=progress, **self.generator_args)
        return super().load(progress=progress)

    def planned_table(self) -> pd.DataFrame:
        """The participants table the cohort has or will have, without drawing an image: what
        ``tlsweep plan`` splits (per-site counts) before the first trial generates the cohort."""
        from tlsweep.data.synthetic import AGE_RANGE, participants

        args = self.generator_args
        rows = participants(
            args["seed"], args["n_subjects"], args["n_sites"], AGE_RANGE, args["ageing"]
        )
        return pd.DataFrame(rows).set_index("participant_id")
