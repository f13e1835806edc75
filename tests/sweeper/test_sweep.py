"""End-to-end sweeps of the objective app through the real CLI (basic launcher)."""

from __future__ import annotations

import csv
import itertools
import shlex
import subprocess
import sys
from collections import Counter

import pytest
import yaml

from hydra_plugins.tlsweep_sweeper._outcome import RETRY_OF_ATTR

X0 = "x0=interval(-2,2)"
X1 = "x1=interval(-2,2)"


def test_n_trials_in_batches_of_n_jobs_and_outputs(sweep) -> None:
    s = sweep()
    proc = s.ok("hpo=tpe", X0, X1, "hydra.sweeper.n_trials=8", "hydra.sweeper.n_jobs=3")
    study = s.study()
    assert _states(study) == ["COMPLETE"] * 8
    assert Counter(t.user_attrs["tlsweep:step"] for t in study.trials) == {1: 3, 2: 3, 3: 2}
    assert proc.stdout.count("Launching 3 jobs locally") == 2
    assert proc.stdout.count("Launching 2 jobs locally") == 1
    # trial info reaches the jobs through their environment, not their config or overrides
    job_overrides = yaml.safe_load((s.dir / "5" / ".hydra" / "overrides.yaml").read_text())
    assert not [o for o in job_overrides if "trial" in o]
    hydra_cfg = yaml.safe_load((s.dir / "5" / ".hydra" / "hydra.yaml").read_text())["hydra"]
    env = hydra_cfg["job"]["env_set"]
    assert env["TLSWEEP_JOB_TRIAL"] == "5" and env["TLSWEEP_JOB_STUDY"] == study.study_name
    assert env["TLSWEEP_JOB_ROLE"] == "trial"
    assert "trial" not in yaml.safe_load((s.dir / "5" / ".hydra" / "config.yaml").read_text())

    results = yaml.safe_load((s.dir / "optimization_results.yaml").read_text())
    assert results["best_value"] == pytest.approx(study.best_value)
    assert results["best_params"] == study.best_params
    rows = list(csv.DictReader((s.dir / "trials.csv").open()))
    assert [int(r["number"]) for r in rows] == list(range(8))
    assert {r["state"] for r in rows} == {"COMPLETE"}
    assert all(float(r["duration_s"]) > 0 for r in rows)

    # the best command reproduces the best value as a single run
    program, script, *overrides = shlex.split(results["best_command"])
    assert (program, script) == ("python", str(s.app)) and "hpo=tpe" in overrides
    run_dir = s.dir.parent / "best"
    subprocess.run(
        [sys.executable, script, *overrides, f"hydra.run.dir={run_dir}"],
        check=True,
        capture_output=True,
    )
    assert f"value={study.best_value!r}" in (run_dir / "objective.log").read_text()


def test_grid_covers_every_point_exactly_once(sweep) -> None:
    s = sweep()
    s.ok(
        "hpo=grid",
        "x0=range(0,3)",
        "x1=interval(0,1)",
        "cat=a,b",
        "hydra.sweeper.grid_points=3",
        "hydra.sweeper.n_jobs=4",
    )
    study = s.study()
    seen = [(t.params["x0"], t.params["x1"], t.params["cat"]) for t in study.trials]
    expected = set(itertools.product([0, 1, 2], [0.0, 0.5, 1.0], ["a", "b"]))
    assert len(seen) == len(expected) == 18  # n_trials=10000 is capped at the grid size
    assert set(seen) == expected
    assert _states(study) == ["COMPLETE"] * 18


def test_grid_retries_a_failed_point(sweep) -> None:
    s = sweep()
    s.ok("hpo=grid", "x0=range(0,4)", "fail_on=[1]", "hydra.sweeper.max_failure_rate=0.5")
    study = s.study()
    complete = sorted(t.params["x0"] for t in study.trials if t.state.name == "COMPLETE")
    assert complete == [0, 1, 2, 3]
    assert study.trials[1].state.name == "FAIL"


def test_method_search_space_is_the_default_and_command_line_replaces_it(sweep) -> None:
    s = sweep()
    s.ok("hpo=random", "method=toy", "x1=interval(10,11)", "hydra.sweeper.n_trials=5")
    trials = s.study().trials
    assert len(trials) == 5
    assert all(5 <= t.params["x0"] <= 6 for t in trials)
    assert all(10 <= t.params["x1"] <= 11 for t in trials)


@pytest.mark.parametrize("preset", ["random", "tpe", "gp", "qmc"])
def test_preset_finds_a_good_point(sweep, preset: str) -> None:
    s = sweep()
    s.ok(f"hpo={preset}", X0, X1, "hydra.sweeper.n_trials=14")
    study = s.study()
    assert _states(study) == ["COMPLETE"] * 14
    assert study.best_value < 1.5  # the quadratic averages 3.76 over the box


def test_failures_below_max_failure_rate_are_tolerated(sweep) -> None:
    s = sweep()
    s.ok(
        "hpo=random",
        X0,
        "fail_on=[1]",
        "nan_on=[3]",
        "hydra.sweeper.n_trials=6",
        "hydra.sweeper.max_failure_rate=0.34",
        "hydra.sweeper.retry_failed=0",
    )
    study = s.study()
    assert Counter(_states(study)) == {"COMPLETE": 6, "FAIL": 2}
    assert "RuntimeError: trial 1 was told to fail" in study.trials[1].user_attrs["tlsweep:error"]
    assert "nan" in study.trials[3].user_attrs["tlsweep:error"]


def test_failures_above_max_failure_rate_stop_with_a_message(sweep) -> None:
    s = sweep()
    proc = s.run(
        "hpo=random",
        X0,
        "fail_on=[0,1,2]",
        "hydra.sweeper.n_trials=6",
        "hydra.sweeper.max_failure_rate=0.25",
        "hydra.sweeper.retry_failed=0",
    )
    assert proc.returncode == 1
    assert "Sweep stopped: 2 failed trials exceed max_failure_rate=0.25" in proc.stderr
    assert f"{s.dir}/0/objective.log" in proc.stderr and "#1 " in proc.stderr
    assert "Traceback" not in proc.stderr
    assert _states(s.study()) == ["FAIL", "FAIL"]
    assert (s.dir / "trials.csv").exists()


def test_max_failure_rate_one_tolerates_every_failure(sweep) -> None:
    """hydra-optuna-sweeper's meaning: 1.0 never stops the sweep, even when every trial fails."""
    s = sweep()
    proc = s.run(
        "hpo=random",
        X0,
        f"fail_on=[{','.join(map(str, range(20)))}]",
        "hydra.sweeper.n_trials=3",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.max_failure_rate=1.0",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Sweep stopped" not in proc.stderr
    study = s.study()
    # 3 configurations, each failed and then failed its one retry: 3 failures, not 6
    assert _states(study) == ["FAIL"] * 6
    roots = Counter(t.user_attrs.get(RETRY_OF_ATTR, t.number) for t in study.trials)
    assert roots == {0: 2, 1: 2, 4: 2}
    assert "3 configurations failed, n_trials=3: no more asked" in proc.stdout


def test_a_failure_its_retry_repairs_is_no_failure(sweep) -> None:
    s = sweep()
    s.ok(
        "hpo=random",
        X0,
        "fail_on=[0]",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.max_failure_rate=0",
    )
    assert _states(s.study()) == ["FAIL", "COMPLETE", "COMPLETE"]
    first, retry, _ = s.study().trials
    assert retry.params == first.params and retry.user_attrs[RETRY_OF_ATTR] == 0


def test_a_swept_key_typo_is_one_line_with_a_suggestion(sweep) -> None:
    """Outside tlsweep no cell is validated: the first trial's composition says it."""
    proc = sweep().run("hpo=random", "sleepp=interval(0,1)")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    (line,) = [ln for ln in proc.stderr.splitlines() if "does not compose" in ln]
    assert line.startswith("trial 0 does not compose: sleepp: no such config key; did you mean ")
    assert "'sleep'? keys here: " in line


def test_failed_trial_is_retried_with_its_params(sweep) -> None:
    s = sweep()
    s.ok(
        "hpo=tpe",
        X0,
        "fail_on=[0]",
        "hydra.sweeper.n_trials=3",
        "hydra.sweeper.max_failure_rate=0.5",
    )
    first, retry = s.study().trials[:2]
    assert (first.state.name, retry.state.name) == ("FAIL", "COMPLETE")
    assert retry.params == first.params
    assert retry.user_attrs["tlsweep:retry_of"] == 0


def test_resume_after_sigkill_completes_exactly_n_trials(sweep) -> None:
    s = sweep()
    args = (
        "hpo=random",
        X0,
        X1,
        "hydra.sweeper.n_trials=6",
        "kill_sweeper_after=3",
        f"marker_dir={s.dir.parent / 'ran'}",
    )
    killed = s.run(*args)
    assert killed.returncode == -9
    assert _states(s.study()) == ["COMPLETE"] * 3 + ["RUNNING"]

    s.ok(*args)  # the same command resumes
    study = s.study()
    assert Counter(_states(study)) == {"COMPLETE": 6, "FAIL": 1}
    interrupted = study.trials[3]
    assert interrupted.user_attrs["tlsweep:interrupted"] is True
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert interrupted.params in [t.params for t in complete]  # retried
    assert len({tuple(sorted(t.params.items())) for t in complete}) == 6  # none duplicated


def test_multi_objective_writes_the_pareto_front(sweep) -> None:
    s = sweep()
    proc = s.ok(
        "hpo=tpe",
        X0,
        X1,
        "n_objectives=2",
        "direction=[minimize,maximize]",
        "hydra.sweeper.n_trials=6",
    )
    results = yaml.safe_load((s.dir / "optimization_results.yaml").read_text())
    assert results["directions"] == ["minimize", "maximize"]
    front = {sol["trial"] for sol in results["solutions"]}
    assert front == {t.number for t in s.study().best_trials}
    assert all(len(sol["values"]) == 2 for sol in results["solutions"])
    # the progress line counts the front; it never calls it a best value
    progress = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "6/6 done" in ln]
    assert progress and "Pareto front: " in progress[-1] and "best" not in progress[-1]


def test_rdb_storage_url(sweep, tmp_path) -> None:
    s = sweep()
    url = f"sqlite:///{tmp_path / 'study.db'}"
    s.ok(
        "hpo=random",
        X0,
        f"hydra.sweeper.storage='{url}'",
        "hydra.sweeper.study_name=s1",
        "hydra.sweeper.n_trials=3",
    )
    import optuna

    assert len(optuna.load_study(study_name="s1", storage=url).trials) == 3


def _states(study) -> list[str]:  # noqa: ANN001
    return [t.state.name for t in study.trials]
