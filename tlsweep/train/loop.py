"""The one training loop, shared by pretraining and target training.

Read :func:`fit` top to bottom. Each epoch is :func:`train_epoch` (AdamW, a cosine or constant
schedule with optional linear warm-up, bf16 autocast on CUDA) followed by validation; then the
:class:`Hooks` run, each with one job: the tracker logs the epoch's metrics, a tuning trial's
pruner may stop it, and the checkpoint saves the whole :class:`LoopState`, so a preempted run
resumes bit-identically. Early stopping ends training after ``patience`` epochs without a better
validation objective, and the best epoch's weights are restored at the end.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from tlsweep.progress import progress_bar
from tlsweep.tracking.protocol import NullTracker, RunTracker
from tlsweep.train.accel import prepare_batch, prepare_model
from tlsweep.train.checkpoint import Checkpoint
from tlsweep.train.data import Batch, Subset, batches
from tlsweep.train.settings import Objective, TrainSettings

log = logging.getLogger(__name__)
__all__ = [
    "FitResult",
    "Hooks",
    "LoopState",
    "Objective",
    "Pruner",
    "TrainSettings",
    "fit",
    "train_epoch",
]

# A loss function returns the loss, or (loss, parts) where parts are logged as ``<desc>/<name>``.
LossFn = Callable[[nn.Module, Batch, float], torch.Tensor | tuple[torch.Tensor, dict]]
Validate = Callable[[nn.Module], dict[str, float]]
EpochCallback = Callable[[int, dict[str, float]], None]
State = dict[str, torch.Tensor]


class Pruner(Protocol):
    """A tuning trial's pruning hook (:class:`tlsweep.hpo.pruning.TrialReporter`)."""

    def report(self, step: int, value: float) -> None:
        """Record the objective at ``step`` (an epoch); raise (``optuna.TrialPruned``) to stop."""


@dataclass
class Hooks:
    """What runs after each epoch besides training, in this order.

    Attributes:
        tracker: logs the epoch's metrics at step = epoch.
        on_epoch: any other observer of ``(epoch, metrics)``.
        pruner: reports the objective; may raise to stop the run.
        checkpoint: saves the loop's state, last: a kill before it re-runs the epoch identically
            on resume, whereas the other order would lose the epoch's metrics for good.
    """

    tracker: RunTracker = field(default_factory=NullTracker)
    on_epoch: EpochCallback | None = None
    pruner: Pruner | None = None
    checkpoint: Checkpoint | None = None


@dataclass
class FitResult:
    """What :func:`fit` returns; the model itself holds the best epoch's weights."""

    best_epoch: int
    best_value: float
    history: list[dict[str, float]] = field(default_factory=list)
    val_predictions: Any = None  # filled by fit_subsets: the best epoch's validation predictions


@dataclass
class LoopState:
    """Everything the loop changes: what a checkpoint holds to resume exactly."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: LambdaLR
    generator: torch.Generator
    epoch: int = 0  # epochs finished
    best_epoch: int = -1
    best_value: float = math.nan
    best_model: State | None = None
    bad_epochs: int = 0  # epochs since the best one
    history: list[dict[str, float]] = field(default_factory=list)

    @classmethod
    def start(cls, model: nn.Module, settings: TrainSettings, steps_per_epoch: int) -> LoopState:
        """A fresh state: AdamW on the trainable parameters, the schedule, the batch generator."""
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lr_factor(settings, steps_per_epoch)
        )
        return cls(model, optimizer, schedule, torch.Generator().manual_seed(settings.seed))

    def end_epoch(self, metrics: dict[str, float], objective: Objective) -> None:
        """Record the finished epoch's metrics, and its weights if it is the best so far."""
        self.history.append({"epoch": self.epoch, **metrics})
        if objective.is_better(metrics[objective.metric], self.best_value):
            self.best_epoch, self.best_value = self.epoch, metrics[objective.metric]
            self.best_model, self.bad_epochs = copy.deepcopy(self.model.state_dict()), 0
        else:
            self.bad_epochs += 1
        self.epoch += 1

    def state_dict(self) -> dict[str, Any]:
        """The state as tensors and plain values, for :meth:`Checkpoint.save`."""
        return {
            "epoch": self.epoch,
            "best_epoch": self.best_epoch,
            "best_value": self.best_value,
            "best_model": self.best_model,
            "bad_epochs": self.bad_epochs,
            "history": self.history,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, payload: dict[str, Any]) -> None:
        """Continue from a saved :meth:`state_dict`."""
        self.model.load_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.scheduler.load_state_dict(payload["scheduler"])
        self.generator.set_state(payload["generator"])
        self.epoch, self.best_epoch = payload["epoch"], payload["best_epoch"]
        self.best_value, self.best_model = payload["best_value"], payload["best_model"]
        self.bad_epochs, self.history = payload["bad_epochs"], payload["history"]


def fit(
    model: nn.Module,
    loss_fn: LossFn,
    train: Subset,
    validate: Validate,
    settings: TrainSettings,
    objective: Objective,
    *,
    unlabelled: Subset | None = None,
    hooks: Hooks | None = None,
    desc: str = "train",
) -> FitResult:
    """Train ``model`` in place and restore its best epoch.

    Args:
        model: the network, already on the device; parameters with ``requires_grad=False`` are
            left out of the optimiser.
        loss_fn: ``(model, batch, progress) -> loss``, progress in [0, 1] over the whole run.
        train: the training images (and targets: ``batch.y``), shuffled every epoch.
        validate: validation metrics of the model, including ``objective.metric``.
        settings: the schedule, device and seed.
        objective: what selects the best epoch and drives early stopping.
        unlabelled: images added to every batch as ``x_u``, as many as labelled ones.
        hooks: what runs after each epoch (nothing by default).
        desc: names the progress bar and the training metrics (``<desc>/loss``).
    """
    hooks = hooks or Hooks()
    steps_per_epoch = max(1, math.ceil(len(train) / settings.batch_size))
    model = prepare_model(model, settings, settings.device)  # speed switches, before the optimiser
    state = LoopState.start(model, settings, steps_per_epoch)
    saved = hooks.checkpoint.load() if hooks.checkpoint is not None else None
    if saved is not None:
        state.load_state_dict(saved)
        log.info("resumed from %s at epoch %d", hooks.checkpoint.path, state.epoch)

    while state.epoch < settings.epochs:
        epoch = state.epoch
        shuffled = batches(
            train, settings.batch_size, state.generator, settings.device, unlabelled
        )
        metrics = train_epoch(state, loss_fn, shuffled, settings, steps_per_epoch, desc)
        metrics.update(validate(model))
        state.end_epoch(metrics, objective)
        log.info("%s epoch %d/%d %s", desc, epoch + 1, settings.epochs, _format(metrics))

        hooks.tracker.log_metrics(metrics, step=epoch)
        if hooks.on_epoch is not None:
            hooks.on_epoch(epoch, metrics)
        if hooks.pruner is not None:
            hooks.pruner.report(epoch, metrics[objective.metric])
        if hooks.checkpoint is not None:
            hooks.checkpoint.save(state.state_dict())
        if settings.patience and state.bad_epochs >= settings.patience:  # early stopping
            log.info(
                "%s: early stop after epoch %d (best %d)", desc, epoch + 1, state.best_epoch + 1
            )
            break

    if state.best_model is not None:
        model.load_state_dict(state.best_model)
    return FitResult(state.best_epoch, state.best_value, state.history)


def train_epoch(
    state: LoopState,
    loss_fn: LossFn,
    shuffled: Iterable[Batch],
    settings: TrainSettings,
    steps_per_epoch: int,
    desc: str,
) -> dict[str, float]:
    """One pass over ``shuffled``: a step per batch.

    Returns:
        The epoch's mean loss as ``<desc>/loss`` and the mean of each named loss part as
        ``<desc>/<part>``.
    """
    model, optimizer, scheduler = state.model, state.optimizer, state.scheduler
    model.train()
    device = settings.device
    autocast = device.type == "cuda" and settings.amp
    total_steps = max(1, settings.epochs * steps_per_epoch)
    label = f"{desc} {state.epoch + 1}/{settings.epochs}"
    losses: list[torch.Tensor] = []
    parts: dict[str, list[torch.Tensor]] = {}
    for batch in progress_bar(
        shuffled, enabled=settings.progress, total=steps_per_epoch, leave=False, desc=label
    ):
        batch = prepare_batch(batch, settings)
        progress = (state.epoch * steps_per_epoch + len(losses)) / total_steps
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            loss = loss_fn(model, batch, progress)
        if isinstance(loss, tuple):
            loss, named = loss
            for name, value in named.items():
                parts.setdefault(name, []).append(value.detach().float())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.detach())
    metrics = {f"{desc}/loss": torch.stack(losses).mean().item() if losses else math.nan}
    metrics.update({f"{desc}/{k}": torch.stack(v).mean().item() for k, v in parts.items()})
    return metrics


def lr_factor(settings: TrainSettings, steps_per_epoch: int) -> Callable[[int], float]:
    """The learning-rate multiplier per step: linear warm-up, then cosine decay or constant."""
    warmup = settings.warmup_epochs * steps_per_epoch
    total = max(1, settings.epochs * steps_per_epoch)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if settings.scheduler == "constant":
            return 1.0
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))

    return factor


def _format(metrics: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.4g}" for k, v in metrics.items())
