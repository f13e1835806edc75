"""The training loop: resume from a checkpoint is exact, early stopping restores the best epoch."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from tlsweep.data.tasks import Task
from tlsweep.methods.base import Method
from tlsweep.models.base import Head, Network
from tlsweep.models.tiny3d import Tiny3D
from tlsweep.train.data import Subset
from tlsweep.train.evaluate import evaluate
from tlsweep.train.supervised import fit_subsets


class Preempted(Exception):
    """Stands in for SLURM killing the job after an epoch."""


def data(n: int, seed: int) -> Subset:
    g = torch.Generator().manual_seed(seed)
    images = torch.randn(n, 16, 16, 16, generator=g)
    targets = images[:, 4:12, 4:12, 4:12].mean((1, 2, 3)) * 10  # learnable
    return Subset(images.half(), targets.float(), [f"s{i}" for i in range(n)])


def settings(**kw: object) -> SimpleNamespace:
    base = dict(
        epochs=4,
        batch_size=8,
        lr=3e-3,
        weight_decay=0.0,
        scheduler="cosine",
        warmup_epochs=1,
        patience=0,
        amp=False,
        progress=False,
    )
    return SimpleNamespace(**{**base, **kw})


def train(checkpoint: Path | None = None, stop_after: int | None = None, **kw: object):  # noqa: ANN201
    torch.manual_seed(0)
    model = Network(Tiny3D(channels=[4, 8]), Head(8, 1))
    task = Task("target_task", "y", "regression")

    def on_epoch(epoch: int, metrics: dict) -> None:
        if stop_after is not None and epoch == stop_after:
            raise Preempted

    result = fit_subsets(
        model,
        Method().loss,
        data(32, 1),
        data(16, 2),
        task,
        settings=settings(**kw),
        device=torch.device("cpu"),
        seed=0,
        objective="val/mae",
        direction="minimize",
        on_epoch=on_epoch,
        checkpoint=checkpoint,
    )
    return model, result


def test_resume_after_preemption_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    reference, ref_result = train()
    with pytest.raises(Preempted):
        train(tmp_path / "last.pt", stop_after=1)
    assert (tmp_path / "last.pt").exists()
    resumed, result = train(tmp_path / "last.pt")
    assert [h["epoch"] for h in result.history] == [0, 1, 2, 3]
    assert result.best_value == ref_result.best_value
    for (name, a), b in zip(reference.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_best_epoch_is_restored_and_patience_stops_early() -> None:
    model, result = train(epochs=12, lr=0.3, patience=2)  # a too-high lr: val/mae soon worsens
    epochs_run = len(result.history)
    best = min(h["val/mae"] for h in result.history)
    assert result.best_value == best
    assert epochs_run == result.best_epoch + 3 or epochs_run == 12
    assert result.history[result.best_epoch]["val/mae"] == best
    task = Task("target_task", "y", "regression")
    metrics, _ = evaluate(model, data(16, 2), task, "val", torch.device("cpu"))
    assert metrics["val/mae"] == pytest.approx(best, rel=1e-6), "the model holds the best epoch"
    assert result.best_epoch < epochs_run - 1, "the case where best and last epochs differ"
    frame = result.val_predictions  # kept from the best epoch, not the last
    assert (frame.y_true - frame.y_pred).abs().mean() == pytest.approx(best, rel=1e-6)
