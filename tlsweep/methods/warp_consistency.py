"""``method=warp_consistency``: predictions on two random warps of an unlabelled image must agree.

The exposé's semi-supervised auxiliary task. No pretraining; each step adds to the supervised loss
the divergence between the network's outputs on two independent random warps
(:class:`~tlsweep.data.augment.RandomWarp`: affine map plus coarse-grid deformation) of each
unlabelled image: squared error for regression, KL for classification, each view the fixed target
of the other (so both get a gradient), weighted by ``alpha`` with a ramp-up.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from tlsweep.data.augment import RandomWarp, from_settings
from tlsweep.data.tasks import Task
from tlsweep.methods.base import SemiSupervised
from tlsweep.methods.losses import consistency, supervised_loss
from tlsweep.train.data import Batch


class WarpConsistency(SemiSupervised):
    """Supervised loss plus ``alpha``-weighted, ramped-up agreement across random warps.

    Args:
        alpha: weight of the consistency term once ramped up.
        ramp_up: fraction of training over which the weight rises.
        use_target_unlabelled: also use the target pool's unlabelled subjects.
        warp: keyword arguments of :class:`~tlsweep.data.augment.RandomWarp`.
    """

    def __init__(
        self,
        alpha: float = 1.0,
        ramp_up: float = 0.3,
        use_target_unlabelled: bool = False,
        warp: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(alpha, ramp_up, use_target_unlabelled)
        self.warp = from_settings(RandomWarp, warp or {}, "method.warp")

    def losses(
        self, model: nn.Module, batch: Batch, task: Task
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Supervised loss on ``x``; symmetric divergence between two warps of ``x_u``."""
        n = len(batch.x)
        out = model(torch.cat([batch.x, self.warp(batch.x_u), self.warp(batch.x_u)]))
        first, second = out[n:].chunk(2)
        agreement = consistency(first, second.detach(), task) + consistency(
            second, first.detach(), task
        )
        return supervised_loss(out[:n], batch.y, task), 0.5 * agreement
