"""SimCLR, VAT and warp consistency train end to end under ``debug=smoke``; their loss falls."""

from __future__ import annotations

import math

import pytest
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig

from tlsweep.errors import ConfigError
from tlsweep.run import run


def finite_mae(value: float) -> bool:
    """A val/mae a trained model can have: finite (``> 0`` alone lets ``inf`` through) and > 0."""
    return math.isfinite(value) and value > 0


def loss_history(cfg: DictConfig, metric: str, role: str) -> list[float]:
    """A metric's per-epoch values from the run with tag ``tlsweep.role`` == ``role``."""
    client = MlflowClient(tracking_uri=cfg.tracking.uri)
    experiment = client.get_experiment_by_name(cfg.tracking.experiment).experiment_id
    (found,) = [
        r for r in client.search_runs([experiment]) if r.data.tags.get("tlsweep.role") == role
    ]
    history = client.get_metric_history(found.info.run_id, metric)
    return [m.value for m in sorted(history, key=lambda m: m.step)]


@pytest.mark.slow
def test_simclr_pretraining_loss_decreases(make_cfg, tmp_path) -> None:
    cfg = make_cfg(
        "method=simclr",
        "debug=smoke",
        "pretrain.epochs=4",
        "pretrain.batch_size=8",
        "pretrain.lr=3e-3",
        f"pretrain.cache_dir={tmp_path / 'encoders'}",
        tracking=True,
    )
    assert finite_mae(run(cfg))
    losses = loss_history(cfg, "pretrain/loss", "pretraining")
    assert len(losses) == 4 and losses[-1] < losses[0], losses


@pytest.mark.slow
@pytest.mark.parametrize("method", ["vat", "warp_consistency"])
def test_semi_supervised_training_loss_decreases(make_cfg, method: str) -> None:
    cfg = make_cfg(
        f"method={method}",
        "debug=smoke",
        "train.epochs=5",
        "train.lr=3e-3",
        "method.ramp_up=0",  # a constant weight, so epochs' losses are comparable
        "method.use_target_unlabelled=true",
        tracking=True,
    )
    assert finite_mae(run(cfg))
    losses = loss_history(cfg, "train/loss", "run")  # a plain run, not the sweeper's
    assert len(losses) == 5 and losses[-1] < losses[0], losses


@pytest.mark.slow
def test_yaware_simclr_runs_and_checks_its_meta_column(make_cfg, tmp_path) -> None:
    common = ("method=simclr", "debug=smoke", "method.sigma=5", f"pretrain.cache_dir={tmp_path}")
    assert finite_mae(run(make_cfg(*common)))
    with pytest.raises(ConfigError, match="meta_column=agee.*did you mean 'age'"):
        run(make_cfg(*common, "method.meta_column=agee"))
