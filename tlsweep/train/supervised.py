"""Fit a network on labelled subsets: the glue between split roles and
:func:`~tlsweep.train.loop.fit`."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pandas as pd
import torch
from torch import nn

from tlsweep.data.tasks import Task
from tlsweep.train.data import Batch, Subset
from tlsweep.train.evaluate import evaluate
from tlsweep.train.loop import FitResult, Hooks, Objective, TrainSettings, fit
from tlsweep.train.metrics import MAXIMIZE


def default_objective(task: Task, split: str) -> Objective:
    """Model selection on ``split`` for a task: balanced accuracy or MAE."""
    name = "balanced_accuracy" if task.is_classification else "mae"
    return Objective(f"{split}/{name}", "maximize" if name in MAXIMIZE else "minimize")


def fit_subsets(
    model: nn.Module,
    loss: Any,
    train: Subset,
    val: Subset,
    task: Task,
    settings: TrainSettings,
    objective: Objective,
    *,
    unlabelled: Subset | None = None,
    hooks: Hooks | None = None,
    desc: str = "train",
) -> FitResult:
    """Train ``model`` on ``train`` and select epochs on its metrics on ``val``.

    The validation metrics are named after the objective's split: ``val/…`` for
    ``objective.metric == "val/mae"``, ``source_val/…`` for ``source_val/balanced_accuracy``.

    Arguments not listed here are those of :func:`~tlsweep.train.loop.fit`.

    Args:
        loss: ``(model, batch, task, progress) -> loss`` (a method's
            :meth:`~tlsweep.methods.base.Method.loss`).
        unlabelled: images added to every batch as ``x_u`` for semi-supervised losses.

    Returns:
        :func:`~tlsweep.train.loop.fit`'s result, with ``val_predictions`` (the best epoch's
        per-subject validation predictions, or None when that epoch ran before a resume).
    """
    split = objective.metric.split("/", 1)[0]
    hooks = hooks or Hooks()
    latest: dict[str, pd.DataFrame] = {}
    predictions: dict[int, pd.DataFrame] = {}  # per-subject validation predictions by epoch

    def step_loss(net: nn.Module, batch: Batch, progress: float) -> torch.Tensor:
        return loss(net, batch, task, progress)

    def validate(net: nn.Module) -> dict[str, float]:
        metrics, latest["frame"] = evaluate(net, val, task, split, settings.device)
        return metrics

    def keep_predictions(epoch: int, metrics: dict[str, float]) -> None:
        predictions[epoch] = latest["frame"]  # fit calls this right after validate
        if hooks.on_epoch is not None:
            hooks.on_epoch(epoch, metrics)

    result = fit(
        model,
        step_loss,
        train,
        validate,
        settings,
        objective,
        unlabelled=unlabelled,
        hooks=replace(hooks, on_epoch=keep_predictions),
        desc=desc,
    )
    # the selected epoch's predictions, so the final report need not evaluate val again
    result.val_predictions = predictions.get(result.best_epoch)
    return result
