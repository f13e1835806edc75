"""Load: 16 trial processes log to one MLflow store at the same moment, and nothing is lost.

Each worker is a real Python process that goes through a trial's own tracking path, as
:func:`tlsweep.run.run` uses it (:func:`~tlsweep.tracking.run_tracking.open_tracker`, per-epoch
``log_metrics``, :class:`~tlsweep.hpo.pruning.TrialReporter`), as trial ``i`` of one real Optuna
journal study: it finds or creates the study's parent run, logs the flattened config and
``config.yaml``, reports ``EPOCHS`` epochs of four metrics to MLflow and the objective to
Optuna, then logs final metrics and three more artifacts. Only the training is left out, so the
store sees a whole sweep's traffic in seconds. All workers import everything first and then
wait behind a file barrier, so that they open the store and create their runs in one instant.

Afterwards every run must exist, FINISHED, under one parent, with every metric point, param and
artifact, and every Optuna trial must hold its curve and its run id. Once against a real MLflow
server, once against a fresh sqlite file that no process has opened before.
``TLSWEEP_TEST_NO_LOCK=1`` turns tlsweep's file locks off inside the workers (store creation,
study parent run) to show what the test catches without them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from hydra_plugins.tlsweep_sweeper.storage import open_storage
from tests.barrier import run_together
from tlsweep.tracking.mlflow_tracker import flatten
from tlsweep.tracking.run_tracking import NOISE
from tlsweep.tracking.store import open_client

N_WORKERS = 16
EPOCHS = 25
CELL = "scratch-tiny3d-synthetic_brain-smoke-s0-tpe"
CURVES = ("train/loss", "val/mae", "val/r2", "lr")
FINALS = ("val/mae_best", "val/r2_best", "epochs_run")
ARTIFACTS = {"config.yaml", "splits.csv", "predictions.csv", "plots/curve.txt"}

WORKER = r"""
import os, sys, time
from pathlib import Path

uri, folder, index, epochs = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
import mlflow.store.tracking.sqlalchemy_store  # the slow imports, before the barrier
import optuna
import filelock
from omegaconf import OmegaConf
from tlsweep.benchmark.jobs import JobInfo
from tlsweep.hpo.pruning import TrialReporter, link_trial
from tlsweep.tracking.run_tracking import open_tracker

if os.environ.get("TLSWEEP_TEST_NO_LOCK"):  # shows what the locks prevent
    class NoLock:
        def __init__(self, *args, **kwargs): pass
        def __enter__(self): return self
        def __exit__(self, *exc): return None
    filelock.FileLock = NoLock
cfg = OmegaConf.load(folder / "config.yaml")
out = folder / f"trial-{index}"
out.mkdir()
cfg.output_dir = str(out)
job = JobInfo(role="trial", cell=sys.argv[5], study=sys.argv[5],
              storage=str(folder / "optuna_journal.log"), trial=index)
choices = {"method": "scratch", "dataset": "synthetic_brain", "encoder": "tiny3d",
           "sample_size": "smoke"}
(folder / f"ready-{index}").touch()
while not (folder / "go").exists():
    time.sleep(0.001)
with open_tracker(cfg, choices, job) as tracker:
    link_trial(job, tracker.run_id, out)
    reporter = TrialReporter.from_job(job)
    for epoch in range(epochs):  # what run()'s per-epoch hook does
        metrics = {"train/loss": index + 1.0 / (epoch + 1), "val/mae": index + epoch,
                   "val/r2": -epoch / 100, "lr": 1e-3 * (index + 1)}
        tracker.log_metrics(metrics, step=epoch)
        reporter.report(epoch, metrics[cfg.objective])
    tracker.log_metrics({"val/mae_best": float(index), "val/r2_best": 0.0,
                         "epochs_run": float(epochs)}, step=epochs)
    for name in ("splits.csv", "predictions.csv"):
        (out / name).write_text(f"id,value\n{index},{name}\n")
        tracker.log_artifact(out / name)
    (out / "curve.txt").write_text(f"trial {index}\n")
    tracker.log_artifact(out / "curve.txt", folder="plots")
"""


def _config(make_cfg, uri: str, experiment: str, folder: Path) -> dict:  # noqa: ANN001
    """The smoke trial's resolved config, written where the workers read it; its params."""
    cfg = make_cfg(
        "method=scratch",
        "debug=smoke",
        f"tracking.uri='{uri}'",
        f"tracking.experiment={experiment}",
        tracking=True,
    )
    container = OmegaConf.to_container(cfg, resolve=True)
    OmegaConf.save(OmegaConf.create(container), folder / "config.yaml")
    return flatten(container, skip=NOISE + ("tracking",))


def _new_study(folder: Path) -> None:
    """A journal study with N_WORKERS trials RUNNING, as the sweeper leaves them for its jobs."""
    import optuna

    study = optuna.create_study(
        study_name=CELL, storage=open_storage(str(folder / "optuna_journal.log"))
    )
    for _ in range(N_WORKERS):
        study.ask()


def _run_together(uri: str, folder: Path) -> None:
    """Start N_WORKERS workers, release them at once, and require that all of them succeed."""
    args = [[uri, str(folder), str(i), str(EPOCHS), CELL] for i in range(N_WORKERS)]
    results = run_together(WORKER, args, folder, timeout=300)
    failed = [f"worker {i}:\n{r.stdout[-1500:]}" for i, r in enumerate(results) if r.returncode]
    assert not failed, "\n---\n".join(failed)
    outputs = [r.stdout for r in results]
    assert len(list(folder.glob("ready-*"))) == N_WORKERS, "\n".join(outputs)


def _artifacts(client, run_id: str, path: str | None = None) -> set[str]:  # noqa: ANN001
    found: set[str] = set()
    for item in client.list_artifacts(run_id, path):
        found |= _artifacts(client, run_id, item.path) if item.is_dir else {item.path}
    return found


def _check_store(uri: str, experiment: str, params: dict, folder: Path) -> None:
    """Every run, its parent, params, metric points and artifacts; every Optuna curve."""
    client = open_client(uri)
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    parents = [r for r in runs if r.data.tags.get("tlsweep.role") == "study"]
    assert len(parents) == 1, f"{len(parents)} study parent runs, expected 1"
    trials = {int(r.data.tags["tlsweep.trial"]): r for r in runs if r is not parents[0]}
    assert sorted(trials) == list(range(N_WORKERS)) and len(runs) == N_WORKERS + 1

    points = artifacts = 0
    for index, mlrun in trials.items():
        run_id = mlrun.info.run_id
        assert mlrun.info.status == "FINISHED", (index, mlrun.info.status)
        assert mlrun.info.run_name == f"{CELL}-t{index}"
        assert mlrun.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
        assert set(mlrun.data.params) == set(params), set(params) ^ set(mlrun.data.params)
        for key in CURVES:
            history = sorted(client.get_metric_history(run_id, key), key=lambda m: m.step)
            assert [m.step for m in history] == list(range(EPOCHS)), (index, key)
            if key == "val/mae":  # each point is this worker's, at its own epoch
                assert [m.value for m in history] == [index + e for e in range(EPOCHS)]
            points += len(history)
        for key in FINALS:
            (final,) = client.get_metric_history(run_id, key)
            assert final.step == EPOCHS
            points += 1
        found = _artifacts(client, run_id)
        assert found == ARTIFACTS, (index, found)
        artifacts += len(found)
        curve = client.download_artifacts(run_id, "plots/curve.txt", str(folder / f"back-{index}"))
        assert Path(curve).read_text() == f"trial {index}\n"
    assert points == N_WORKERS * (len(CURVES) * EPOCHS + len(FINALS))
    assert artifacts == N_WORKERS * len(ARTIFACTS)

    import optuna

    study = optuna.load_study(
        study_name=CELL, storage=open_storage(str(folder / "optuna_journal.log"))
    )
    for trial in study.trials:
        assert sorted(trial.intermediate_values) == list(range(EPOCHS)), trial.number
        assert trial.user_attrs["mlflow_run_id"] == trials[trial.number].info.run_id


@pytest.mark.slow
def test_sixteen_trials_log_to_one_server(
    make_cfg,  # noqa: ANN001
    mlflow_server: str,
    tmp_path: Path,
) -> None:
    experiment = f"load-{tmp_path.name}"  # a reused server may hold other tests' runs
    params = _config(make_cfg, mlflow_server, experiment, tmp_path)
    _new_study(tmp_path)
    _run_together(mlflow_server, tmp_path)
    _check_store(mlflow_server, experiment, params, tmp_path)


@pytest.mark.slow
def test_sixteen_trials_log_to_one_fresh_sqlite_store(
    make_cfg,  # noqa: ANN001
    tmp_path: Path,
) -> None:
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"  # neither file nor folder exists yet
    params = _config(make_cfg, uri, "load", tmp_path)
    _new_study(tmp_path)
    _run_together(uri, tmp_path)
    _check_store(uri, "load", params, tmp_path)
