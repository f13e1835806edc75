"""The cohort contract: what every ``dataset`` option's ``load()`` returns.

A dataset option is one yaml in ``conf/dataset/`` whose ``_target_`` builds a :class:`Dataset`;
its ``load()`` returns a :class:`Cohort`. Everything downstream (splits, tasks, the training
subsets, the pretraining cache key) relies only on what is written here, and
``tests/data/test_contract.py`` checks it for every dataset yaml with :func:`check_cohort`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from tlsweep.errors import ConfigError

#: Channels per image. Images are ``(N, D, H, W)``: one channel, added by the data path.
COHORT_CHANNELS = 1


@dataclass
class Cohort:
    """Images and their participants table, row for row.

    The contract (checked by :func:`check_cohort`):

    - ``images`` is a float16 array (an ``np.memmap`` is fine) of shape ``(N, *shape)``, one
      single-channel volume per subject, ``shape`` being the dataset's configured spatial shape
      (``dataset.shape``, 3 axes for brain MRI); every voxel is finite.
    - ``table`` is a DataFrame with exactly ``N`` rows, indexed by the participant ids as unique,
      non-empty strings (``"001"`` stays ``"001"``); row ``i`` of ``table`` describes
      ``images[i]``. Its columns are the labels and metadata the tasks may name (e.g. age, sex).

    Attributes:
        table: participants table, indexed by participant id (str), in image order.
        images: array ``(N, *shape)``, float16.
        images_sha256: the sha256 of the images' file when a verified cache recorded it (the
            provenance digest then needs no pass over the images), else None.
    """

    table: pd.DataFrame
    images: np.ndarray
    images_sha256: str | None = None

    def digest(self) -> str:
        """A short digest of the table and the images (see ``provenance.cohort_digest``)."""
        from tlsweep.benchmark.provenance import cohort_digest

        return cohort_digest(self.table, self.images, self.images_sha256)

    @property
    def channels(self) -> int:
        """Image channels, always :data:`COHORT_CHANNELS` (the array has no channel axis)."""
        return COHORT_CHANNELS

    def rows(self, ids: list[str]) -> np.ndarray:
        """Row numbers of ``ids`` in ``images``."""
        return self.table.index.get_indexer(ids)


@runtime_checkable
class Dataset(Protocol):
    """What a ``dataset`` yaml's ``_target_`` builds.

    Attributes:
        shape: the spatial shape of every loaded volume (the yaml's ``shape`` key, which the
            encoder's input check reads before any data is loaded).
    """

    shape: Sequence[int]

    def load(self, progress: bool = True) -> Cohort:
        """Return the cohort, reading (and caching) it on first use.

        Args:
            progress: show progress bars for slow first-time work (generation, preprocessing).

        Raises:
            ConfigError: for anything wrong in the data the config points to, in one line.
        """
        ...


def check_cohort(cohort: Cohort, shape: Sequence[int]) -> None:
    """Check ``cohort`` against the contract of :class:`Cohort` for spatial ``shape``.

    Raises:
        ConfigError: naming the first broken promise.
    """
    images, table = cohort.images, cohort.table
    expected = (len(table), *(int(s) for s in shape))
    if not isinstance(images, np.ndarray) or images.dtype != np.float16:
        raise ConfigError(f"cohort images must be a float16 array, got {_describe(images)}")
    if tuple(images.shape) != expected:
        raise ConfigError(
            f"cohort images have shape {tuple(images.shape)}, expected {expected} "
            "(one volume per table row, dataset.shape)"
        )
    ids = table.index
    if not all(isinstance(i, str) and i for i in ids):
        raise ConfigError("cohort table index must hold participant ids as non-empty strings")
    if ids.has_duplicates:
        raise ConfigError(f"cohort ids repeat: {sorted(set(ids[ids.duplicated()]))[:5]}")
    for start in range(0, len(images), 64):  # in chunks: a cohort may be larger than memory
        if not np.isfinite(images[start : start + 64]).all():
            raise ConfigError(
                f"cohort images hold NaN or infinite voxels (rows {start}-{start + 63})"
            )


def check_in_channels(encoder: Mapping[str, Any], name: str = "?") -> None:
    """Reject an encoder that expects more channels than a cohort image has.

    Args:
        encoder: the ``encoder`` config node (its ``in_channels``, default 1).
        name: the encoder option, for the message.

    Raises:
        ConfigError: ``encoder.in_channels`` is not :data:`COHORT_CHANNELS`.
    """
    in_channels = encoder.get("in_channels", COHORT_CHANNELS)
    if in_channels != COHORT_CHANNELS:
        raise ConfigError(
            f"encoder.in_channels={in_channels} (encoder={name}) but cohort images have "
            f"{COHORT_CHANNELS} channel; multi-channel input is not supported, "
            f"use encoder.in_channels={COHORT_CHANNELS}"
        )


def _describe(images: object) -> str:
    dtype = getattr(images, "dtype", None)
    return f"{type(images).__name__}" + (f" of {dtype}" if dtype is not None else "")
