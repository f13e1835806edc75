"""Fit a network on labelled subsets: the glue between split roles and :func:`fit`."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tlsweep.data.tasks import Task
from tlsweep.train.data import Batch, Subset, batches
from tlsweep.train.evaluate import evaluate
from tlsweep.train.loop import EpochCallback, FitResult, fit
from tlsweep.train.metrics import MAXIMIZE


def default_objective(task: Task) -> tuple[str, str]:
    """Model-selection metric and direction for a task: balanced accuracy or MAE."""
    name = "balanced_accuracy" if task.is_classification else "mae"
    return name, "maximize" if name in MAXIMIZE else "minimize"


def fit_subsets(
    model: nn.Module,
    loss: Any,
    train: Subset,
    val: Subset,
    task: Task,
    *,
    settings: Any,
    device: torch.device,
    seed: int,
    objective: str,
    direction: str,
    val_split: str = "val",
    unlabelled: Subset | None = None,
    on_epoch: EpochCallback | None = None,
    checkpoint: Path | None = None,
    desc: str = "train",
) -> FitResult:
    """Train ``model`` on ``train``, select epochs on ``val`` metrics named ``val_split/…``.

    Args:
        loss: ``(model, batch, task, progress) -> loss`` (a method's :meth:`loss`).
        unlabelled: images added to every batch as ``x_u`` for semi-supervised losses.
        Remaining arguments as in :func:`tlsweep.train.loop.fit`.

    Returns:
        :func:`fit`'s result, with ``val_predictions`` (the best epoch's per-subject validation
        predictions, or None when that epoch ran before a resume).
    """

    def step_loss(net: nn.Module, batch: Batch, progress: float) -> torch.Tensor:
        return loss(net, batch, task, progress)

    def epoch(generator: torch.Generator):  # noqa: ANN202 - a generator of Batch
        return batches(train, settings.batch_size, generator, device, unlabelled)

    latest: dict[str, Any] = {}
    predictions: dict[int, Any] = {}  # per-subject validation predictions by epoch

    def validate(net: nn.Module) -> dict[str, float]:
        metrics, latest["frame"] = evaluate(net, val, task, val_split, device)
        return metrics

    def after_epoch(epoch: int, metrics: dict[str, float]) -> None:
        predictions[epoch] = latest["frame"]  # fit calls this right after validate
        if on_epoch is not None:
            on_epoch(epoch, metrics)

    steps = max(1, math.ceil(len(train) / settings.batch_size))
    result = fit(
        model,
        step_loss,
        epoch,
        validate,
        settings=settings,
        objective=objective,
        direction=direction,
        steps_per_epoch=steps,
        seed=seed,
        device=device,
        on_epoch=after_epoch,
        checkpoint=checkpoint,
        desc=desc,
    )
    # the selected epoch's predictions, so the final report need not evaluate val again
    result.val_predictions = predictions.get(result.best_epoch)
    return result
