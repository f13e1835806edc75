"""A cohort of NIfTI images plus a participants table, preprocessed once and cached.

``dataset=nifti`` points this at any folder (IXI, OpenBHB, OASIS, UK Biobank exports): a BIDS
``participants.tsv`` or a CSV, an id column, and an image path pattern. Images go through MONAI
transforms (load, RAS orientation, resampling to a spacing, intensity normalisation within the
brain, crop/pad to a fixed shape) and are stored as one float16 array in the cache directory,
keyed by the files and the preprocessing, so later epochs and later runs memory-map it instead of
re-reading NIfTI. The array has a checksum sidecar (:mod:`tlsweep.data.volume_cache`): an
overwritten or truncated cache is named in a warning and rebuilt, never read.
"""

from __future__ import annotations

import hashlib
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from filelock import FileLock

from tlsweep.data.cohort import Cohort
from tlsweep.data.volume_cache import read_verified, recorded_sha256, write_verified
from tlsweep.errors import ConfigError, bad_column
from tlsweep.progress import progress_bar

__all__ = ["Cohort", "NiftiCohort", "load_volume", "preprocessing", "read_participants"]

log = logging.getLogger(__name__)
CACHE_VERSION = "2"  # 2: voxel checks and a checksum sidecar


class NiftiCohort:
    """Read a participants table and its NIfTI images (a :class:`~tlsweep.data.cohort.Dataset`).

    Args:
        root: dataset folder.
        participants: table path, relative to ``root`` or absolute (.tsv or .csv).
        id_column: the participant-id column (read as text: ``001`` stays ``001``).
        image_pattern: image path relative to ``root``; ``{id}`` is replaced by the id.
        spacing: target voxel size in mm, three positive numbers.
        shape: spatial shape after crop/pad, three positive integers.
        cache_dir: where preprocessed volumes are cached.
        max_subjects: keep only the first this many subjects with an image (``debug=smoke``);
            None keeps all.
        site_column: the participants column holding each subject's acquisition site, read by
            the splits when ``split.held_out_sites`` names sites.
    """

    def __init__(
        self,
        root: str,
        participants: str = "participants.tsv",
        id_column: str = "participant_id",
        image_pattern: str = "{id}/anat/{id}_T1w.nii.gz",
        spacing: list[float] | None = None,
        shape: list[int] | None = None,
        cache_dir: str = ".cache/tlsweep",
        max_subjects: int | None = None,
        site_column: str | None = "site",
    ) -> None:
        self.root = Path(root).expanduser()
        self.participants = participants
        self.id_column = id_column
        self.image_pattern = image_pattern
        self.spacing = list(spacing or (4.0, 4.0, 4.0))
        self.shape = list(shape or (48, 56, 48))
        self.cache_dir = Path(cache_dir).expanduser()
        self.max_subjects = max_subjects
        self.site_column = site_column

    def load(self, progress: bool = True) -> Cohort:
        """Return the cohort, preprocessing and caching the images on first use.

        Raises:
            ConfigError: a bad spacing or shape; missing folder, table or id column; a bad
                table (empty, duplicate or missing ids); no images; a NIfTI file that cannot be
                read, is not one 3-D volume, holds NaN/inf voxels or only zeros.
        """
        table, paths = self._index()
        target = self.cache_dir / "volumes" / self._cache_key(paths)
        target.mkdir(parents=True, exist_ok=True)
        expected = (len(paths), *self.shape)
        with FileLock(str(target / "lock")):
            images = read_verified(target / "images.npy", expected)
            if images is None:
                write_verified(target / "images.npy", self._preprocess_all(paths, progress))
                images = read_verified(target / "images.npy", expected)
        if images is None:  # written and verified a moment ago: only a broken disk gets here
            raise ConfigError(f"dataset.cache_dir={self.cache_dir}: cannot write a readable cache")
        digest = recorded_sha256(target / "images.npy")
        return Cohort(table=table, images=images, images_sha256=digest)

    def _index(self) -> tuple[pd.DataFrame, list[Path]]:
        """The table rows that have an image, and their paths (no image is read)."""
        self._check_args()
        if not self.root.is_dir():
            raise ConfigError(f"dataset.root={self.root}: no such directory")
        table = read_participants(self._table_path(), self.id_column)
        paths = [self.root / self.image_pattern.format(id=pid) for pid in table.index]
        present = np.asarray([p.is_file() for p in paths])
        if not present.any():
            raise ConfigError(
                f"dataset.image_pattern={self.image_pattern}: no image found under {self.root} "
                f"(first expected: {paths[0]})"
            )
        if not present.all():
            missing = [str(p) for p, ok in zip(paths, present) if not ok]
            log.warning(
                "%d of %d subjects have no image and are left out (first: %s)",
                len(missing),
                len(paths),
                ", ".join(missing[:3]),
            )
        keep = np.flatnonzero(present)[: self.max_subjects]
        return table.iloc[keep], [paths[i] for i in keep]

    def _check_args(self) -> None:
        for key, values, kind in (("spacing", self.spacing, float), ("shape", self.shape, int)):
            ok = len(values) == 3 and all(
                isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in values
            )
            if not ok or (kind is int and any(int(v) != v for v in values)):
                raise ConfigError(
                    f"dataset.{key}={list(values)}: must be three positive "
                    f"{'integers' if kind is int else 'numbers'}"
                )
        if self.max_subjects is not None and not (
            isinstance(self.max_subjects, int) and self.max_subjects >= 1
        ):
            raise ConfigError(f"dataset.max_subjects={self.max_subjects}: must be >= 1 or null")
        self.spacing = [float(v) for v in self.spacing]
        self.shape = [int(v) for v in self.shape]

    def _table_path(self) -> Path:
        path = Path(self.participants).expanduser()
        path = path if path.is_absolute() else self.root / path
        if not path.is_file():
            raise ConfigError(f"dataset.participants={self.participants}: no such file ({path})")
        return path

    def _cache_key(self, paths: list[Path]) -> str:
        files = [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in paths]
        spec = {"files": files, "spacing": self.spacing, "shape": self.shape, "v": CACHE_VERSION}
        return hashlib.sha1(json.dumps(spec).encode()).hexdigest()[:16]

    def _preprocess_all(self, paths: list[Path], progress: bool) -> np.ndarray:
        transform = preprocessing(self.spacing, self.shape)
        out = np.empty((len(paths), *self.shape), dtype=np.float16)

        def work(i: int) -> None:
            out[i] = load_volume(paths[i], transform)

        from tlsweep.resources import worker_count

        workers = worker_count(cap=min(8, len(paths)))  # the trial's share, not the machine
        with ThreadPoolExecutor(workers) as pool:
            jobs = pool.map(work, range(len(paths)))
            for _ in progress_bar(jobs, enabled=progress, total=len(paths), desc="preprocess"):
                pass
        return out


def read_participants(path: Path, id_column: str) -> pd.DataFrame:
    """Read a BIDS participants.tsv or a CSV, indexed by the id column (as text).

    Raises:
        ConfigError: an empty or header-only table, no such id column, missing or repeated ids.
    """
    sep = "\t" if path.suffix.lower() in (".tsv", ".txt") else ","
    where = f"dataset.participants={path}"
    try:  # ids as text: "001" must not become 1
        table = pd.read_csv(path, sep=sep, dtype={id_column: str})
    except pd.errors.EmptyDataError:
        raise ConfigError(f"{where}: the file is empty") from None
    if id_column not in table.columns:
        raise bad_column("dataset.id_column", id_column, table.columns, path.name)
    if table.empty:
        raise ConfigError(f"{where}: the table has a header but no rows")
    ids = table[id_column].str.strip()
    if ids.isna().any():
        rows = [int(i) + 2 for i in np.flatnonzero(ids.isna())][:5]  # 1-based, after the header
        raise ConfigError(f"{where}: empty {id_column} on line(s) {rows}")
    repeated = sorted(set(ids[ids.duplicated()]))
    if repeated:
        raise ConfigError(f"{where}: {id_column} values repeat: {', '.join(repeated[:5])}")
    table[id_column] = ids
    return table.set_index(id_column)


def preprocessing(spacing: list[float], shape: list[int]):  # noqa: ANN201 (MONAI Compose)
    """MONAI transforms from a loaded ``(1, X, Y, Z)`` image to a normalised ``(1, *shape)``
    volume."""
    from monai.transforms import (
        Compose,
        NormalizeIntensity,
        Orientation,
        ResizeWithPadOrCrop,
        Spacing,
    )

    return Compose(
        [
            Orientation(axcodes="RAS", labels=(("L", "R"), ("P", "A"), ("I", "S"))),
            Spacing(pixdim=spacing, mode="bilinear"),
            NormalizeIntensity(nonzero=True),
            ResizeWithPadOrCrop(spatial_size=shape),
        ]
    )


def load_volume(path: Path, transform) -> np.ndarray:  # noqa: ANN001
    """Read one NIfTI file, check its voxels, run ``transform``; errors name the file.

    Raises:
        ConfigError: unreadable; not a single 3-D volume; NaN/inf voxels; all zeros.
    """
    from monai.transforms import LoadImage

    try:
        image = LoadImage(image_only=True, ensure_channel_first=True)(str(path))
    except Exception as exc:  # noqa: BLE001 - any reader failure becomes one clear line
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"cannot load NIfTI file {path}: {reason}") from exc
    raw = np.asarray(image)
    if raw.ndim != 4 or raw.shape[0] != 1:
        volumes, spatial = (raw.shape[0], raw.shape[1:]) if raw.ndim == 4 else (1, raw.shape[1:])
        raise ConfigError(
            f"NIfTI file {path} holds {volumes} volume(s) of shape {tuple(spatial)}; each "
            "subject's image must be one 3-D volume (multi-channel images are not supported)"
        )
    if not np.isfinite(raw).all():
        bad = int((~np.isfinite(raw)).sum())
        raise ConfigError(f"NIfTI file {path} holds {bad} NaN/inf voxels")
    if not raw.any():
        raise ConfigError(f"NIfTI file {path} is all zeros")
    return np.asarray(transform(image)[0], dtype=np.float16)
