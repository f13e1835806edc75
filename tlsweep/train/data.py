"""The images of one role of a split, where they are held, and the mini-batches the loop draws.

A cohort is one float16 array per preprocessing, memory-mapped from the cache (its pages stay in
the OS page cache, which every trial and study on the node shares). A :class:`Subset` takes its
rows from it in one of three places:

- **host memory** (the default when the rows take at most ``HOST_FRACTION`` of the available
  memory): one gather out of the memory map. Held copies are reused by later subsets of the same
  rows in this process (the trials of a study run by the basic launcher), up to the same budget;
- **memory-mapped** (bigger than that, or ``in_memory=False``): :class:`MappedRows` gathers each
  batch's rows straight from the map;
- **device memory**: :func:`batches` moves a held subset to a CUDA device the first time it draws
  from it there, when it takes at most ``DEVICE_FRACTION`` of the free device memory.

Either way a batch costs one vectorised index (no per-sample Python work), one copy to the device
and one cast from float16 on the device.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from tlsweep.data.nifti import Cohort
from tlsweep.data.tasks import Task

log = logging.getLogger(__name__)

HOST_FRACTION = 0.5  # of MemAvailable: hold rows in host memory below this (and cache them)
DEVICE_FRACTION = 0.25  # of free CUDA memory: hold a subset on the device below this
_held: OrderedDict[str, torch.Tensor] = OrderedDict()  # rows held in this process, oldest first


class MappedRows:
    """Rows of a memory-mapped cohort array, read on indexing; indexes like a tensor's first axis.

    Args:
        array: the cohort's (N, D, H, W) float16 array (a memory map).
        rows: the subset's row numbers in ``array``.
    """

    def __init__(self, array: np.ndarray, rows: np.ndarray) -> None:
        self.array = array
        self.rows = np.asarray(rows, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.rows), *self.array.shape[1:])

    def __getitem__(self, index: torch.Tensor | slice | int) -> torch.Tensor:
        """The rows at ``index`` (positions in this subset) as one new CPU tensor."""
        if isinstance(index, torch.Tensor):
            index = index.numpy()
        return torch.from_numpy(np.ascontiguousarray(self.array[self.rows[index]]))


@dataclass
class Subset:
    """Images (N, D, H, W) float16, optional targets (N,), and the participant ids."""

    images: torch.Tensor | MappedRows
    targets: torch.Tensor | None
    ids: list[str]

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def from_cohort(
        cls,
        cohort: Cohort,
        ids: list[str],
        task: Task | None = None,
        in_memory: bool | None = None,
    ) -> Subset:
        """The rows of ``ids``, held in host memory or read from the memory map.

        Args:
            cohort: images and participants table.
            ids: participant ids, in the subset's order.
            task: gives the targets; None for unlabelled images.
            in_memory: True holds the rows in host memory, False reads them from the map on
                every batch, None decides by size (``HOST_FRACTION`` of the available memory).
        """
        rows = cohort.rows(ids)
        nbytes = len(rows) * int(np.prod(cohort.images.shape[1:])) * cohort.images.itemsize
        if in_memory is None:
            in_memory = nbytes <= HOST_FRACTION * available_memory()
        images = _hold(cohort.images, rows) if in_memory else MappedRows(cohort.images, rows)
        targets = None
        if task is not None:
            targets = torch.from_numpy(task.encode(cohort.table.loc[ids, task.column]))
        return cls(images=images, targets=targets, ids=list(ids))


def _hold(array: np.ndarray, rows: np.ndarray) -> torch.Tensor:
    """``array[rows]`` in host memory; the same rows of the same file come from the cache."""
    filename = getattr(array, "filename", None)
    if filename is None:  # not a memory map: nothing to key a reuse on
        return torch.from_numpy(np.ascontiguousarray(array[rows]))
    digest = hashlib.sha1(np.asarray(rows, dtype=np.int64).tobytes()).hexdigest()
    key = f"{filename}:{getattr(array, 'offset', 0)}:{array.shape}:{digest}"
    if key in _held:
        _held.move_to_end(key)
        return _held[key]
    images = torch.from_numpy(np.ascontiguousarray(array[rows]))
    _held[key] = images
    budget = HOST_FRACTION * available_memory()
    while len(_held) > 1 and sum(t.nbytes for t in _held.values()) > budget:
        _held.popitem(last=False)
    return images


def available_memory() -> int:
    """Bytes of host memory available to new allocations (Linux ``MemAvailable``)."""
    try:
        with open("/proc/meminfo") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


@dataclass
class Batch:
    """One training step's tensors on the device: x (B, 1, D, H, W), y, optional x_u."""

    x: torch.Tensor
    y: torch.Tensor
    x_u: torch.Tensor | None = None


def to_device(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    """float16 (B, D, H, W) on CPU or ``device`` → float32 (B, 1, D, H, W) on ``device``."""
    return images.to(device, non_blocking=True).float().unsqueeze(1)


def hold_on_device(data: Subset, device: torch.device) -> None:
    """Move held images to a CUDA ``device`` when they take ≤ ``DEVICE_FRACTION`` of its memory."""
    images = data.images
    if device.type != "cuda" or not isinstance(images, torch.Tensor) or images.device == device:
        return
    free, _ = torch.cuda.mem_get_info(device)
    if images.nbytes <= DEVICE_FRACTION * free:
        data.images = images.to(device)
        if data.targets is not None:
            data.targets = data.targets.to(device)


def batches(
    data: Subset,
    batch_size: int,
    generator: torch.Generator,
    device: torch.device,
    unlabelled: Subset | None = None,
) -> Iterator[Batch]:
    """One epoch of shuffled mini-batches (the last, smaller one dropped if it has 1 sample).

    With ``unlabelled``, each batch also carries as many unlabelled images drawn at random. On a
    CUDA device the subsets are first moved there when they fit (:func:`hold_on_device`).
    """
    for subset in (data, unlabelled):
        if subset is not None:
            hold_on_device(subset, device)
    order = _on(torch.randperm(len(data), generator=generator), data)  # one copy per epoch
    for start in range(0, len(data), batch_size):
        idx = order[start : start + batch_size]
        if len(idx) < 2 and len(data) > 1:  # batch norm cannot train on a single sample
            continue
        x_u = None
        if unlabelled is not None:
            pick = torch.randint(len(unlabelled), (len(idx),), generator=generator)
            x_u = to_device(unlabelled.images[_on(pick, unlabelled)], device)
        yield Batch(to_device(data.images[idx], device), data.targets[idx].to(device), x_u)


def _on(index: torch.Tensor, data: Subset) -> torch.Tensor:
    """``index`` on the device that holds ``data``'s images (CPU for a memory map)."""
    images = data.images
    return index.to(images.device) if isinstance(images, torch.Tensor) else index
