"""Learning and transfer behaviour on the synthetic cohort (CPU, tiny3d)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from tlsweep.errors import ConfigError
from tlsweep.methods.pretrain_freeze import PretrainFreeze
from tlsweep.run import run


@pytest.mark.slow
def test_scratch_beats_the_mean_predictor(make_cfg, tmp_path: Path) -> None:
    cfg = make_cfg(
        "method=scratch",
        "encoder=tiny3d",
        "dataset.n_subjects=360",
        "sample_size=n100",
        "split.val_pool=25",
        "train.epochs=25",
        "train.patience=0",
        "train.lr=3e-3",
        "dataset.resolution_mm=4.0",
        "train.device=cpu",
    )
    val_mae = run(cfg)
    predictions = pd.read_csv(tmp_path / "run" / "predictions.csv")
    val = predictions[predictions.split == "val"]
    mean_mae = np.abs(val.y_true - val.y_true.mean()).mean()
    assert val_mae < 0.8 * mean_mae, (val_mae, mean_mae)


def test_pretrain_freeze_keeps_frozen_stages_identical(make_cfg, monkeypatch) -> None:
    import tlsweep.methods.assemble as assemble

    captured: dict[str, dict[str, torch.Tensor]] = {}
    original = assemble.pretrained_encoder

    def spy(method: PretrainFreeze, ctx):  # noqa: ANN001, ANN202 - cache hit or miss alike
        pretrained = original(method, ctx)
        captured["pretrained"] = {k: v.clone() for k, v in pretrained.state.items()}
        return pretrained

    monkeypatch.setattr(assemble, "pretrained_encoder", spy)
    cfg = make_cfg(
        "method=pretrain_freeze",
        "method.freeze_stages=2",
        "debug=smoke",
        "tracking.log_checkpoint=true",
        "tracking.enabled=true",
    )
    run(cfg)
    final = torch.load(Path(cfg.output_dir) / "model.pt", weights_only=True)
    frozen = [k for k in captured["pretrained"] if k.startswith(("stages.0.", "stages.1."))]
    trained = [k for k in captured["pretrained"] if k.startswith("stages.3.") and "weight" in k]
    assert frozen and trained
    for key in frozen:
        assert torch.equal(final[f"encoder.{key}"], captured["pretrained"][key]), key
    assert any(not torch.equal(final[f"encoder.{k}"], captured["pretrained"][k]) for k in trained)


def test_run_writes_splits_predictions_and_returns_val_objective(make_cfg) -> None:
    cfg = make_cfg("method=scratch", "debug=smoke")
    value = run(cfg)
    out = Path(cfg.output_dir)
    splits = pd.read_csv(out / "splits.csv")
    predictions = pd.read_csv(out / "predictions.csv")
    assert set(predictions.split) == {"val", "test"}
    test_ids = set(splits.participant_id[splits.role == "test"])
    assert test_ids == set(predictions.participant_id[predictions.split == "test"])
    val = predictions[predictions.split == "val"]
    assert math.isfinite(value), value  # approx(inf) == inf: an all-inf run would pass below
    assert value == pytest.approx(np.abs(val.y_true - val.y_pred).mean(), rel=1e-4)
    assert not (out / "last.pt").exists(), "a finished run leaves nothing to resume"


def test_same_seed_same_result_on_cpu(make_cfg) -> None:
    first = run(make_cfg("method=scratch", "debug=smoke"))
    second = run(make_cfg("method=scratch", "debug=smoke"))
    assert math.isfinite(first) and first == second, (first, second)  # inf == inf, too


def _preempting(monkeypatch, at_epoch: int):  # noqa: ANN001, ANN202
    """Make the next runs stop once ``at_epoch``'s metrics are logged (before its checkpoint).

    The pruning hook is where a kill lands as far as the loop is concerned: after the epoch's
    metrics went to the tracker, before its checkpoint. Returns a function that undoes it.
    """
    from tlsweep.hpo.pruning import TrialReporter

    class Preempt:
        def report(self, step: int, value: float) -> None:
            if step == at_epoch:
                raise Preempted

    monkeypatch.setattr(TrialReporter, "from_job", staticmethod(lambda job: Preempt()))
    return monkeypatch.undo


class Preempted(Exception):
    pass


def test_preempted_run_resumes_in_the_same_mlflow_run(make_cfg, monkeypatch) -> None:
    from mlflow.tracking import MlflowClient

    cfg = make_cfg("method=scratch", "debug=smoke", "train.epochs=3", tracking=True)
    restore = _preempting(monkeypatch, at_epoch=1)
    with pytest.raises(Preempted):
        run(cfg)
    assert (Path(cfg.output_dir) / "last.pt").exists()
    restore()
    run(cfg)
    client = MlflowClient(tracking_uri=cfg.tracking.uri)
    experiment = client.get_experiment_by_name(cfg.tracking.experiment)
    (mlrun,) = client.search_runs([experiment.experiment_id])
    assert mlrun.info.status == "FINISHED"
    history = client.get_metric_history(mlrun.info.run_id, "val/mae")
    # epoch 1 was logged, then killed before its checkpoint: rerun identically on resume;
    # then epoch 2 and the selected model's score at step 3
    assert sorted(m.step for m in history) == [0, 1, 1, 2, 3]
    first, again = (m.value for m in history if m.step == 1)
    assert first == again
    assert "test/mae" in mlrun.data.metrics


def test_an_attempt_that_died_before_its_first_checkpoint_is_marked_killed(
    make_cfg, monkeypatch
) -> None:
    from mlflow.tracking import MlflowClient

    cfg = make_cfg("method=scratch", "debug=smoke", "train.epochs=2", tracking=True)
    restore = _preempting(monkeypatch, at_epoch=0)
    with pytest.raises(Preempted):
        run(cfg)
    assert not (Path(cfg.output_dir) / "last.pt").exists()
    client = MlflowClient(tracking_uri=cfg.tracking.uri)
    dead = (Path(cfg.output_dir) / "mlflow_run_id").read_text()
    client.update_run(dead, status="RUNNING")  # as a SIGKILL leaves it: nobody ended it
    restore()
    run(cfg)  # the same folder: a fresh run, and the dead attempt's run does not stay RUNNING
    experiment = client.get_experiment_by_name(cfg.tracking.experiment)
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time"])
    assert [r.info.status for r in runs] == ["KILLED", "FINISHED"]


def _interrupted(make_cfg, monkeypatch, *overrides: str) -> tuple[Path, bytes]:  # noqa: ANN001
    """A smoke run stopped after epoch 0's checkpoint: its last.pt and that file's bytes."""
    cfg = make_cfg("method=scratch", "debug=smoke", "train.epochs=3", *overrides)
    restore = _preempting(monkeypatch, at_epoch=1)
    with pytest.raises(Preempted):
        run(cfg)
    restore()
    last = Path(cfg.output_dir) / "last.pt"
    return last, last.read_bytes()


CHANGES = {  # a changed training key → what the refusal names
    "train.lr=0.5": "train.lr 0.001 -> 0.5",
    "encoder=sfcn": "encoder._target_",
    "train.patience=1": "train.patience 0 -> 1",
}


def test_a_rerun_with_another_config_is_refused_and_the_same_config_resumes(
    make_cfg, monkeypatch, caplog, tmp_path: Path, cache_dir: Path
) -> None:
    last, saved = _interrupted(make_cfg, monkeypatch)
    for change, named in CHANGES.items():
        with pytest.raises(ConfigError) as refused:
            run(make_cfg("method=scratch", "debug=smoke", "train.epochs=3", change))
        message = str(refused.value)
        assert named in message and "\n" not in message, message
        assert f"delete {last} or use a new hydra.run.dir" in message
        assert last.read_bytes() == saved, "a refused run leaves the checkpoint as it was"
    cli = _cli(tmp_path, cache_dir, "train.lr=0.5", f"hydra.run.dir={last.parent}")
    assert cli.returncode != 0 and "Traceback" not in cli.stderr
    errors = [line for line in cli.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and CHANGES["train.lr=0.5"] in errors[0], cli.stderr[-2000:]
    assert last.read_bytes() == saved
    # machine settings are not part of what a run computes: they may differ on a requeue
    again = make_cfg("method=scratch", "debug=smoke", "train.epochs=3", "train.threads=1")
    with caplog.at_level("INFO", logger="tlsweep.train.loop"):
        run(again)
    assert f"resumed from {last} at epoch 1" in caplog.text
    assert not last.exists() and (last.parent / "metrics.json").exists()


def _cli(cwd: Path, cache_dir: Path, *overrides: str):  # noqa: ANN202
    """``tlsweep method=scratch debug=smoke train.epochs=3 OVERRIDES`` in a subprocess."""
    import subprocess
    import sys

    from tests.conftest import cli_env

    base = ["method=scratch", "debug=smoke", "train.epochs=3", "tracking.enabled=false"]
    return subprocess.run(
        [sys.executable, "-m", "tlsweep.cli", *base, *overrides],
        cwd=cwd,
        env=cli_env(cache_dir),
        capture_output=True,
        text=True,
        timeout=300,
    )
