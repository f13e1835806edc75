"""The real ``tlsweep`` command: smoke run, multirun, user presets, light start-up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import readable
from tests.conftest import run_cli as tlsweep

HEAVY = ("torch", "monai", "mlflow", "optuna", "sklearn", "pandas")


def trial_runs(tracking_db: Path) -> list:
    """The MLflow runs that trained on the target (not pretraining or study parents)."""
    client = MlflowClient(tracking_uri=f"sqlite:///{tracking_db}")
    runs = client.search_runs([client.get_experiment_by_name("tlsweep").experiment_id])
    return [r for r in runs if r.data.tags.get("tlsweep.role") in ("run", "trial", "final")]


def test_help_imports_no_heavy_library(tmp_path: Path) -> None:
    code = (
        "import sys\nsys.argv = ['tlsweep', '--help']\nfrom tlsweep.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print('HEAVY', sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert "method: " in result.stdout and "pretrain_freeze" in result.stdout
    assert "HEAVY []" in result.stdout, result.stdout[-300:]


def test_config_store_copies_are_the_store_and_compositions_stay_independent() -> None:
    """``share_config_store`` (what keeps ``--help`` under a second): Hydra's per-composition
    deep copies share the ConfigStore, and two compositions still do not leak into each other."""
    import copy

    from hydra import compose, initialize_config_module
    from hydra.core.config_store import ConfigStore

    from tlsweep.cli import share_config_store

    share_config_store()
    store = ConfigStore.instance()
    assert copy.deepcopy(store) is store
    with initialize_config_module(version_base="1.3", config_module="tlsweep.conf"):
        first = compose("config", overrides=["method=scratch", "train.epochs=3"])
        second = compose("config", overrides=["method=simclr"])
        hpo = compose("config", overrides=["hpo=tpe"], return_hydra_config=True)
    assert first.train.epochs == 3 and second.train.epochs != 3
    assert "temperature" in second.method and "temperature" not in first.method
    assert hpo.hydra.sweeper.sampler._target_.endswith("TPESampler")


def test_smoke_run_logs_val_and_test_metrics(tmp_path: Path, cache_dir: Path) -> None:
    result = tlsweep("debug=smoke", cwd=tmp_path, cache_dir=cache_dir)
    assert result.returncode == 0, result.stderr[-2000:]
    (run,) = trial_runs(tmp_path / "mlflow.db")
    assert {"val/mae", "test/mae", "val/r2", "test/pearson_r"} <= set(run.data.metrics)
    assert list(tmp_path.glob("outputs/*/*/.hydra/config.yaml"))


@pytest.mark.slow  # starts processes: the slow tier
def test_multirun_over_methods_and_a_user_preset(tmp_path: Path, cache_dir: Path) -> None:
    presets = tmp_path / "my_conf" / "experiment"
    presets.mkdir(parents=True)
    (presets / "quick.yaml").write_text("# @package _global_\ntrain:\n  epochs: 1\nseed: 7\n")
    result = tlsweep(
        "-m",
        "debug=smoke",
        "method=scratch,pretrain_freeze",
        "+experiment=quick",
        cwd=tmp_path,
        cache_dir=cache_dir,
        env={"TLSWEEP_CONF": str(tmp_path / "my_conf")},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    runs = trial_runs(tmp_path / "mlflow.db")
    assert sorted(r.info.run_name for r in runs) == [
        "pretrain_freeze-tiny3d-smoke-s7",
        "scratch-tiny3d-smoke-s7",
    ]
    assert all(r.data.params["train.epochs"] == "1" for r in runs)


@pytest.mark.slow  # starts processes: the slow tier
def test_hpo_study_tunes_runs_reports_epochs_and_nests_mlflow_runs(
    tmp_path: Path, cache_dir: Path
) -> None:
    import optuna
    import yaml

    result = tlsweep(
        "-m",
        "hpo=random",
        "debug=smoke",
        "method=scratch",
        "train.epochs=3",
        "hydra.sweeper.n_trials=3",
        "hydra.sweeper.n_jobs=2",
        "hydra/sweeper/pruner=tlsweep_median",
        "final.seeds=0",
        cwd=tmp_path,
        cache_dir=cache_dir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep,) = [p for p in (tmp_path / "multirun" / "hpo").iterdir() if p.is_dir()]
    assert readable(sweep.name) == "scratch-tiny3d-synthetic_brain-smoke-s0-random"
    results = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert set(results["best_params"]) == {"train.lr", "train.weight_decay", "train.batch_size"}
    assert (sweep / "trials.csv").read_text().count("\n") == 4
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(sweep / "optuna_journal.log"))
    )
    (study,) = optuna.get_all_study_summaries(storage)
    trials = optuna.load_study(study_name=study.study_name, storage=storage).trials
    assert len(trials) == 3 and all(len(t.intermediate_values) >= 1 for t in trials)
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("tlsweep").experiment_id])
    (parent,) = [r for r in runs if r.data.tags.get("tlsweep.role") == "study"]
    assert parent.info.status == "FINISHED"
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == 3 and {r.data.tags["tlsweep.role"] for r in children} == {"trial"}
    best = min(children, key=lambda r: r.data.metrics["val/mae"])
    assert best.data.metrics["val/mae"] == results["best_value"]


@pytest.mark.slow  # starts processes: the slow tier
def test_group_sweep_under_hpo_runs_one_study_per_cell(tmp_path: Path, cache_dir: Path) -> None:
    import csv

    result = tlsweep(
        "-m",
        "hpo=random",
        "debug=smoke",
        "method=scratch,pretrain_freeze",
        "hydra.sweeper.n_trials=2",
        "final.seeds=0",
        "tracking.enabled=false",
        cwd=tmp_path,
        cache_dir=cache_dir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    studies = {p.name: p for p in (tmp_path / "multirun" / "hpo").iterdir() if p.is_dir()}
    studies.pop("report", None)
    assert set(map(readable, studies)) == {
        "scratch-tiny3d-synthetic_brain-smoke-s0-random",
        "pretrain_freeze-tiny3d-synthetic_brain-smoke-s0-random",
    }
    for name, folder in studies.items():
        with (folder / "trials.csv").open() as f:
            trials = list(csv.DictReader(f))
        assert len(trials) == 2 and all(t["state"] == "COMPLETE" for t in trials), name
        tuned = {k.removeprefix("params_") for k in trials[0] if k.startswith("params_")}
        expected = {"train.lr", "train.weight_decay"}  # each method's own search space
        expected |= (
            {"method.freeze_stages"} if name.startswith("pretrain") else {"train.batch_size"}
        )
        assert tuned == expected, name
