"""Supervised losses as pure functions of (output, target, task)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tlsweep.data.tasks import Task

REGRESSION_LOSSES = {"mse": F.mse_loss, "l1": F.l1_loss, "huber": F.smooth_l1_loss}


def supervised_loss(output: torch.Tensor, target: torch.Tensor, task: Task) -> torch.Tensor:
    """Cross-entropy for classification; for regression (standardised targets) the task's loss.

    Args:
        output: raw head output (B, out_features).
        target: class indices (B,) or standardised values (B,).
        task: decides the loss; ``loss: auto`` means cross-entropy or MSE.
    """
    if task.is_classification:
        return F.cross_entropy(output.float(), target)
    name = "mse" if task.loss == "auto" else task.loss
    return REGRESSION_LOSSES[name](output.float()[:, 0], target)
