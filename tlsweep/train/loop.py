"""The one training loop, shared by pretraining and target training.

AdamW with a cosine (or constant) schedule and optional linear warm-up, bf16 autocast on CUDA,
early stopping on a validation objective with the best epoch restored at the end. The loop's
whole state (model, optimiser, schedule, best epoch, history, RNG) is written to a checkpoint
after every epoch when one is given, and a loop started on an existing checkpoint resumes from it,
so a preempted trial loses at most one epoch.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from tlsweep.train.data import Batch

log = logging.getLogger(__name__)

# A loss function returns the loss, or (loss, parts) where parts are logged as ``<desc>/<name>``.
LossFn = Callable[[nn.Module, Batch, float], torch.Tensor | tuple[torch.Tensor, dict]]
EpochCallback = Callable[[int, dict[str, float]], None]


@dataclass
class FitResult:
    """What :func:`fit` returns; the model itself holds the best epoch's weights."""

    best_epoch: int
    best_value: float
    history: list[dict[str, float]] = field(default_factory=list)
    val_predictions: Any = None  # filled by fit_subsets: the best epoch's validation predictions


def _is_better(value: float, best: float, direction: str) -> bool:
    if math.isnan(value):
        return False
    return math.isnan(best) or (value < best if direction == "minimize" else value > best)


def _schedule(settings: Any, steps_per_epoch: int) -> Callable[[int], float]:
    warmup = settings.warmup_epochs * steps_per_epoch
    total = max(1, settings.epochs * steps_per_epoch)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if settings.scheduler == "constant":
            return 1.0
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))

    return factor


def fit(
    model: nn.Module,
    loss_fn: LossFn,
    batches: Callable[[torch.Generator], Iterable[Batch]],
    evaluate: Callable[[nn.Module], dict[str, float]],
    *,
    settings: Any,
    objective: str,
    direction: str,
    steps_per_epoch: int,
    seed: int,
    device: torch.device,
    on_epoch: EpochCallback | None = None,
    checkpoint: Path | None = None,
    desc: str = "train",
) -> FitResult:
    """Train ``model`` in place and restore its best epoch.

    Args:
        model: the network, already on ``device``; parameters with ``requires_grad=False`` are
            left out of the optimiser.
        loss_fn: ``(model, batch, progress) -> loss``, progress in [0, 1] over the whole run.
        batches: one epoch of batches, given the loop's seeded generator.
        evaluate: validation metrics of the model, including ``objective``.
        settings: epochs, lr, weight_decay, scheduler, warmup_epochs, patience, amp, progress.
        objective: metric to select the best epoch on, e.g. ``val/mae``.
        direction: ``minimize`` or ``maximize``.
        steps_per_epoch: batches per epoch, for the schedule and the progress fraction.
        seed: seeds the shuffling generator.
        device: the training device.
        on_epoch: called with (epoch, metrics) after every epoch; may raise to stop (pruning).
        checkpoint: ``last.pt`` path to save after every epoch and resume from.
        desc: progress-bar label.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(settings, steps_per_epoch))
    generator = torch.Generator().manual_seed(seed)
    autocast = device.type == "cuda" and settings.amp
    state = {
        "epoch": 0,
        "best_epoch": -1,
        "best_value": math.nan,
        "best_model": None,
        "history": [],
        "bad_epochs": 0,
    }
    if checkpoint is not None and checkpoint.exists():
        state = _resume(checkpoint, model, optimizer, scheduler, generator)
    total_steps = max(1, settings.epochs * steps_per_epoch)

    for epoch in range(state["epoch"], settings.epochs):
        model.train()
        losses, parts = [], {}
        bar = tqdm(
            batches(generator),
            total=steps_per_epoch,
            leave=False,
            desc=f"{desc} {epoch + 1}/{settings.epochs}",
            disable=not settings.progress,
        )
        for batch in bar:
            progress = (epoch * steps_per_epoch + len(losses)) / total_steps
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
        metrics.update(evaluate(model))
        state["history"].append({"epoch": epoch, **metrics})
        if _is_better(metrics[objective], state["best_value"], direction):
            state.update(
                best_epoch=epoch,
                best_value=metrics[objective],
                bad_epochs=0,
                best_model=copy.deepcopy(model.state_dict()),
            )
        else:
            state["bad_epochs"] += 1
        state["epoch"] = epoch + 1
        log.info(
            "%s epoch %d/%d %s",
            desc,
            epoch + 1,
            settings.epochs,
            " ".join(f"{k}={v:.4g}" for k, v in metrics.items()),
        )
        # metrics first: a kill between the two re-runs this epoch identically on resume,
        # whereas the other order would lose its metrics for good
        if on_epoch is not None:
            on_epoch(epoch, metrics)
        if checkpoint is not None:
            _save(checkpoint, state, model, optimizer, scheduler, generator)
        if settings.patience and state["bad_epochs"] >= settings.patience:
            log.info(
                "%s: early stop after epoch %d (best %d)", desc, epoch + 1, state["best_epoch"] + 1
            )
            break

    if state["best_model"] is not None:
        model.load_state_dict(state["best_model"])
    return FitResult(state["best_epoch"], state["best_value"], state["history"])


def _save(
    path: Path,
    state: dict,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    generator: torch.Generator,
) -> None:
    payload = {
        **state,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "generator": generator.get_state(),
    }
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)  # atomic: a kill mid-write leaves the previous epoch's checkpoint


def _resume(
    path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    generator: torch.Generator,
) -> dict:
    payload = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(payload.pop("model"))
    optimizer.load_state_dict(payload.pop("optimizer"))
    scheduler.load_state_dict(payload.pop("scheduler"))
    generator.set_state(payload.pop("generator"))
    log.info("resumed from %s at epoch %d", path, payload["epoch"])
    return payload
