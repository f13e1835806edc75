"""In-memory tensors for one role of a split, and the mini-batches the training loop draws.

Volumes are held as float16 on the CPU (half the memory of float32) and cast on the training
device, so a batch costs one index, one copy and one cast.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from tlsweep.data.nifti import Cohort
from tlsweep.data.tasks import Task


@dataclass
class Subset:
    """Images (N, D, H, W) float16, optional targets (N,), and the participant ids."""

    images: torch.Tensor
    targets: torch.Tensor | None
    ids: list[str]

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def from_cohort(cls, cohort: Cohort, ids: list[str], task: Task | None = None) -> Subset:
        """Copy the rows of ``ids`` out of the (memory-mapped) cohort."""
        images = torch.from_numpy(np.asarray(cohort.images[cohort.rows(ids)]))
        targets = None
        if task is not None:
            targets = torch.from_numpy(task.encode(cohort.table.loc[ids, task.column]))
        return cls(images=images, targets=targets, ids=list(ids))


@dataclass
class Batch:
    """One training step's tensors on the device: x (B, 1, D, H, W), y, optional x_u."""

    x: torch.Tensor
    y: torch.Tensor
    x_u: torch.Tensor | None = None


def to_device(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    """float16 (B, D, H, W) on CPU → float32 (B, 1, D, H, W) on ``device``."""
    return images.to(device, non_blocking=True).float().unsqueeze(1)


def batches(
    data: Subset,
    batch_size: int,
    generator: torch.Generator,
    device: torch.device,
    unlabelled: Subset | None = None,
) -> Iterator[Batch]:
    """One epoch of shuffled mini-batches (the last, smaller one dropped if it has 1 sample).

    With ``unlabelled``, each batch also carries as many unlabelled images drawn at random.
    """
    order = torch.randperm(len(data), generator=generator)
    for start in range(0, len(data), batch_size):
        idx = order[start : start + batch_size]
        if len(idx) < 2 and len(data) > 1:  # batch norm cannot train on a single sample
            continue
        x_u = None
        if unlabelled is not None:
            pick = torch.randint(len(unlabelled), (len(idx),), generator=generator)
            x_u = to_device(unlabelled.images[pick], device)
        yield Batch(to_device(data.images[idx], device), data.targets[idx].to(device), x_u)
