"""MLflow against a real tracking server: the run, its metric history and artifacts read back."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tlsweep.run import run


@pytest.fixture
def logged_run(make_cfg, mlflow_server: str):  # noqa: ANN201
    cfg = make_cfg(
        "method=pretrain_freeze",
        "debug=smoke",
        "train.epochs=3",
        f"tracking.uri={mlflow_server}",
        "tracking.experiment=test-tracking",
        "tracking.log_checkpoint=true",
        "seed=3",
        tracking=True,
    )
    value = run(cfg)
    client = MlflowClient(tracking_uri=mlflow_server)
    experiment = client.get_experiment_by_name("test-tracking")
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"])
    trial_runs = [r for r in runs if r.data.tags.get("tlsweep.role") == "run"]  # not pretraining
    return value, trial_runs[0], client


@pytest.mark.slow  # a tracking server: the slow tier, which CI runs with one
def test_run_name_tags_and_params(logged_run) -> None:  # noqa: ANN001
    _, mlrun, _ = logged_run
    assert mlrun.info.run_name == "pretrain_freeze-tiny3d-smoke-s3"
    assert mlrun.info.status == "FINISHED"
    tags = mlrun.data.tags
    assert (tags["method"], tags["encoder"], tags["dataset"], tags["seed"]) == (
        "pretrain_freeze",
        "tiny3d",
        "synthetic_brain",
        "3",
    )
    params = mlrun.data.params
    assert params["train.epochs"] == "3" and params["method.freeze_stages"] == "2"
    assert not any(k.startswith(("hydra.", "method.search_space")) for k in params)


@pytest.mark.slow  # a tracking server: the slow tier, which CI runs with one
def test_the_data_and_the_code_are_the_runs_inputs_and_tags(logged_run, tmp_path) -> None:  # noqa: ANN001
    """What the run recorded in metrics.json is what MLflow shows (both ends of one record)."""
    import json

    _, mlrun, client = logged_run
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())["provenance"]
    inputs = client.get_run(mlrun.info.run_id).inputs.dataset_inputs
    shown = {
        next(t.value for t in i.tags if t.key == "mlflow.data.context"): i.dataset.digest
        for i in inputs
    }  # the UI's Dataset column: name, digest and context per input
    assert shown["cohort"] == record["cohort_digest"]
    assert {k: v for k, v in shown.items() if k != "cohort"} == {
        role: record[f"split_{role}"] for role in ("train", "val", "test", "source", "source_val")
    } | ({"unlabelled": record["split_unlabelled"]} if "unlabelled" in shown else {})
    assert {i.dataset.name for i in inputs} >= {"synthetic_brain", "synthetic_brain/test"}
    tags = mlrun.data.tags
    for key in ("git_commit", "config_hash", "cohort_digest", "version_torch", "device"):
        assert tags[f"tlsweep.provenance.{key}"] == str(record[key]), key


@pytest.mark.slow  # a tracking server: the slow tier, which CI runs with one
def test_metric_history_and_final_metrics(logged_run) -> None:  # noqa: ANN001
    value, mlrun, client = logged_run
    history = client.get_metric_history(mlrun.info.run_id, "val/mae")
    assert sorted(m.step for m in history) == [0, 1, 2, 3]  # 3 epochs, then the selected model
    assert len(client.get_metric_history(mlrun.info.run_id, "train/loss")) >= 3
    metrics = mlrun.data.metrics
    for name in (
        "val/mae",
        "val/rmse",
        "val/r2",
        "val/pearson_r",
        "test/mae",
        "test/rmse",
        "test/r2",
    ):
        assert name in metrics, name
    assert metrics["val/mae"] == pytest.approx(value)


@pytest.mark.slow  # a tracking server: the slow tier, which CI runs with one
def test_artifacts_are_stored_on_the_server(logged_run, tmp_path: Path) -> None:  # noqa: ANN001
    _, mlrun, client = logged_run
    names = {a.path for a in client.list_artifacts(mlrun.info.run_id)}
    assert {"config.yaml", "splits.csv", "predictions.csv", "model.pt"} <= names
    local = client.download_artifacts(mlrun.info.run_id, "predictions.csv", str(tmp_path))
    assert Path(local).read_text().startswith("participant_id,split,y_true,y_pred")


def test_the_mlflow_and_the_null_tracker_keep_one_protocol(tmp_path: Path) -> None:
    import inspect

    from tlsweep.tracking.mlflow_tracker import Tracker
    from tlsweep.tracking.protocol import NullTracker, RunTracker

    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", "protocol", "r", {"method": "m"})
    for implementation in (tracker, NullTracker()):
        assert isinstance(implementation, RunTracker)
        for name in ("log_params", "log_metrics", "log_artifact", "set_tags", "open_sibling"):
            wanted = inspect.signature(getattr(RunTracker, name)).parameters
            assert (
                list(inspect.signature(getattr(implementation, name)).parameters)
                == list(wanted)[1:]
            ), (type(implementation).__name__, name)  # bound: no self
    with tracker.open_sibling("s", {}) as sibling:
        sibling.log_metrics({"a": 1.0, "b": float("nan")}, step=2)  # NaN is skipped, no error
    (logged,) = tracker.client.get_metric_history(sibling.run_id, "a")
    assert (logged.value, logged.step) == (1.0, 2)


def test_tracking_and_training_do_not_import_hpo_or_mlflow_eagerly() -> None:
    import subprocess
    import sys

    code = (
        "import sys\nimport tlsweep.train.loop, tlsweep.train.supervised, "
        "tlsweep.tracking.run_tracking\n"
        "print(sorted(m for m in ('mlflow', 'optuna', 'tlsweep.hpo.pruning') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr[-2000:]
