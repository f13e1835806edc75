"""A cohort of NIfTI images plus a participants table, preprocessed once and cached.

``dataset=nifti`` points this at any folder (IXI, OpenBHB, OASIS, UK Biobank exports): a BIDS
``participants.tsv`` or a CSV, an id column, and an image path pattern. Images go through MONAI
transforms (load, RAS orientation, resampling to a spacing, intensity normalisation within the
brain, crop/pad to a fixed shape) and are stored as one float16 array in the cache directory,
keyed by the files and the preprocessing, so later epochs and later runs memory-map it instead of
re-reading NIfTI.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from filelock import FileLock
from tqdm.auto import tqdm

from tlsweep.errors import ConfigError, bad_column

log = logging.getLogger(__name__)
CACHE_VERSION = "1"


@dataclass
class Cohort:
    """Images and labels in memory-mappable form.

    Attributes:
        table: participants table indexed by participant id (string).
        images: array (N, D, H, W), float16, row i belonging to ``table.index[i]``.
    """

    table: pd.DataFrame
    images: np.ndarray

    def rows(self, ids: list[str]) -> np.ndarray:
        """Row numbers of ``ids`` in ``images``."""
        return self.table.index.get_indexer(ids)


class NiftiCohort:
    """Read a participants table and its NIfTI images.

    Args:
        root: dataset folder.
        participants: table path, relative to ``root`` or absolute (.tsv or .csv).
        id_column: the participant-id column.
        image_pattern: image path relative to ``root``; ``{id}`` is replaced by the id.
        spacing: target voxel size in mm.
        shape: spatial shape after crop/pad.
        cache_dir: where preprocessed volumes are cached.
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
    ) -> None:
        self.root = Path(root).expanduser()
        self.participants = participants
        self.id_column = id_column
        self.image_pattern = image_pattern
        self.spacing = [float(s) for s in spacing or (4.0, 4.0, 4.0)]
        self.shape = [int(s) for s in shape or (48, 56, 48)]
        self.cache_dir = Path(cache_dir).expanduser()

    def load(self, progress: bool = True) -> Cohort:
        """Return the cohort, preprocessing and caching the images on first use.

        Raises:
            ConfigError: missing folder, table or id column; no images; an unreadable NIfTI file.
        """
        table, paths = self._index()
        key = self._cache_key(paths)
        target = self.cache_dir / "volumes" / key
        target.mkdir(parents=True, exist_ok=True)
        with FileLock(str(target / "lock")):
            if not (target / "images.npy").exists():
                self._preprocess_all(paths, target, progress)
        return Cohort(table=table, images=np.load(target / "images.npy", mmap_mode="r"))

    def _index(self) -> tuple[pd.DataFrame, list[Path]]:
        if not self.root.is_dir():
            raise ConfigError(f"dataset.root={self.root}: no such directory")
        table = read_participants(self._table_path(), self.id_column)
        paths = [self.root / self.image_pattern.format(id=pid) for pid in table.index]
        present = [p.exists() for p in paths]
        if not any(present):
            raise ConfigError(
                f"dataset.image_pattern={self.image_pattern}: no image found under {self.root} "
                f"(first expected: {paths[0] if paths else '-'})"
            )
        if not all(present):
            log.warning(
                "%d of %d subjects have no image; they are left out",
                present.count(False),
                len(paths),
            )
        keep = np.asarray(present)
        return table[keep], [p for p, k in zip(paths, present) if k]

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

    def _preprocess_all(self, paths: list[Path], target: Path, progress: bool) -> None:
        transform = preprocessing(self.spacing, self.shape)
        out = np.empty((len(paths), *self.shape), dtype=np.float16)

        def work(i: int) -> None:
            out[i] = load_volume(paths[i], transform)

        from tlsweep.resources import worker_count

        workers = worker_count(cap=min(8, len(paths)))  # the trial's share, not the machine
        with ThreadPoolExecutor(workers) as pool:
            jobs = pool.map(work, range(len(paths)))
            for _ in tqdm(jobs, total=len(paths), desc="preprocess", disable=not progress):
                pass
        target.mkdir(parents=True, exist_ok=True)
        np.save(target / "images.tmp.npy", out)  # then an atomic rename: never half a cache
        os.replace(target / "images.tmp.npy", target / "images.npy")


def read_participants(path: Path, id_column: str) -> pd.DataFrame:
    """Read a BIDS participants.tsv or a CSV, indexed by the id column (as strings)."""
    sep = "\t" if path.suffix.lower() in (".tsv", ".txt") else ","
    table = pd.read_csv(path, sep=sep)
    if id_column not in table.columns:
        raise bad_column("dataset.id_column", id_column, table.columns, path.name)
    table[id_column] = table[id_column].astype(str)
    return table.set_index(id_column)


def preprocessing(spacing: list[float], shape: list[int]):  # noqa: ANN201 (MONAI Compose)
    """MONAI transforms from a NIfTI path to a normalised (1, *shape) volume."""
    from monai.transforms import (
        Compose,
        LoadImage,
        NormalizeIntensity,
        Orientation,
        ResizeWithPadOrCrop,
        Spacing,
    )

    return Compose(
        [
            LoadImage(image_only=True, ensure_channel_first=True),
            Orientation(axcodes="RAS", labels=(("L", "R"), ("P", "A"), ("I", "S"))),
            Spacing(pixdim=spacing, mode="bilinear"),
            NormalizeIntensity(nonzero=True),
            ResizeWithPadOrCrop(spatial_size=shape),
        ]
    )


def load_volume(path: Path, transform) -> np.ndarray:  # noqa: ANN001
    """Run ``transform`` on one file; a file that fails to load is named in a ConfigError."""
    try:
        volume = transform(str(path))
    except Exception as exc:  # noqa: BLE001 - any reader failure becomes one clear line
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"cannot load NIfTI file {path}: {reason}") from exc
    return np.asarray(volume[0], dtype=np.float16)
