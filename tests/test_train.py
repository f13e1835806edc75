"""The training loop: resume from a checkpoint is exact, early stopping restores the best epoch."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tlsweep.data.tasks import Task
from tlsweep.errors import ConfigError
from tlsweep.methods.base import Method
from tlsweep.models.base import Head, Network
from tlsweep.models.tiny3d import Tiny3D
from tlsweep.train.checkpoint import Checkpoint, config_hash, training_config
from tlsweep.train.data import Subset
from tlsweep.train.evaluate import evaluate
from tlsweep.train.loop import Hooks, Objective, TrainSettings
from tlsweep.train.supervised import fit_subsets


class Preempted(Exception):
    """Stands in for SLURM killing the job after an epoch."""


def data(n: int, seed: int) -> Subset:
    g = torch.Generator().manual_seed(seed)
    images = torch.randn(n, 16, 16, 16, generator=g)
    targets = images[:, 4:12, 4:12, 4:12].mean((1, 2, 3)) * 10  # learnable
    return Subset(images.half(), targets.float(), [f"s{i}" for i in range(n)])


def settings(**kw: object) -> TrainSettings:
    base = dict(epochs=4, batch_size=8, lr=3e-3, weight_decay=0.0, warmup_epochs=1, amp=False)
    return TrainSettings(**{**base, **kw})


class Preempt:
    """A pruning hook that stops the run after epoch ``at`` (its checkpoint not yet written)."""

    def __init__(self, at: int) -> None:
        self.at = at

    def report(self, step: int, value: float) -> None:
        if step == self.at:
            raise Preempted


def train(  # noqa: ANN201
    checkpoint: Path | None = None,
    stop_after: int | None = None,
    config: dict | None = None,
    **kw: object,
):
    torch.manual_seed(0)
    model = Network(Tiny3D(channels=[4, 8]), Head(8, 1))
    task = Task("target_task", "y", "regression")

    hooks = Hooks(
        pruner=Preempt(stop_after) if stop_after is not None else None,
        checkpoint=Checkpoint(checkpoint, config or {}) if checkpoint is not None else None,
    )
    result = fit_subsets(
        model,
        Method().loss,
        data(32, 1),
        data(16, 2),
        task,
        settings(**kw),
        Objective("val/mae", "minimize"),
        hooks=hooks,
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


def test_a_checkpoint_of_another_config_is_refused_and_kept(tmp_path: Path) -> None:
    last = tmp_path / "last.pt"
    with pytest.raises(Preempted):
        train(last, stop_after=1, config={"train.lr": 0.003, "seed": 0})
    saved = last.read_bytes()
    with pytest.raises(ConfigError, match=r"\(train\.lr 0\.003 -> 0\.5\)") as refused:
        train(last, config={"train.lr": 0.5, "seed": 0}, lr=0.5)
    assert f"delete {last} or use a new hydra.run.dir" in str(refused.value)
    assert last.read_bytes() == saved
    _, resumed = train(last, config={"train.lr": 0.003, "seed": 0})
    assert [h["epoch"] for h in resumed.history] == [0, 1, 2, 3]


def test_training_config_leaves_out_only_where_and_how_fast(make_cfg) -> None:
    base = training_config(make_cfg("debug=smoke"))
    machine = (
        "train.progress=true",
        "train.threads=1",
        "train.device=auto",
        "train.checkpoint_every_epoch=false",
        "pretrain.cache=false",
        "tracking.enabled=true",
        "cache_dir=/elsewhere",
        "hpo.stage=joint",
    )
    assert training_config(make_cfg("debug=smoke", *machine)) == base
    for change in (
        "train.lr=0.5",
        "train.amp=false",
        "encoder=sfcn",
        "method=simclr",
        "method.freeze_stages=1",
        "seed=1",
        "pretrain.epochs=3",
        "sample_size.n_train=12",
        "split.seed=2",
        "target_task.loss=l1",
        "dataset.n_subjects=80",
        "objective=val/rmse",
    ):
        changed = training_config(make_cfg("debug=smoke", change))
        assert changed != base and config_hash(changed) != config_hash(base), change
