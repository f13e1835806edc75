"""``hpo.budget=shared`` end to end: what ``plan`` says and what the sweep ran agree, and equal.

A target_only and a source_then_target cell of the same method, both with ``hpo.budget=shared``
and ``n_trials=2``, through the real CLI on the smoke cohort: ``tlsweep plan`` states 2 trials
for each (1 + 1 for the two-stage cell), the studies' journals hold 2 done trials per cell, the
spec records the budget, the start-up and the declared label use, every MLflow run carries its
label tags, and the report's budget table reads the same totals back.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from tests.conftest import cell_folder, readable, run_cli
from tests.sweeper.conftest import journal_study
from tlsweep.report.budget import cell_budgets, compute_table
from tlsweep.report.collect import load_benchmark
from tlsweep.report.labels import methods_table
from tlsweep.train.brain_age import MIN_SLOPE

pytestmark = pytest.mark.slow
SHARED = (
    "hpo=tpe",
    "debug=smoke",
    "method=pretrain_freeze",
    "hpo.budget=shared",
    "hydra.sweeper.n_trials=2",
    "final.seeds=1",
    "hydra.sweep.dir=bench",
)
STAGES = ("hpo.stage=target_only", "hpo.stage=source_then_target")
ROW = re.compile(r"^(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s", re.M)


def _planned(stage: str, cwd: Path, cache_dir: Path) -> tuple[int, int, int]:
    """(stage-2 trials, stage-1 trials, total) of the one cell ``tlsweep plan`` lists."""
    result = run_cli("plan", "--no-calibrate", *SHARED, stage, cwd=cwd, cache_dir=cache_dir)
    assert result.returncode == 0, result.stderr[-2000:]
    ((_, trials, stage1, total, _, _),) = ROW.findall(result.stdout)
    assert "budget: hpo.budget=shared" in result.stdout or stage == STAGES[0]
    return int(trials), int(stage1), int(total)


def test_a_shared_budget_gives_both_stages_the_same_total(tmp_path: Path, cache_dir: Path) -> None:
    planned = {stage: _planned(stage, tmp_path, cache_dir) for stage in STAGES}
    assert planned == {STAGES[0]: (2, 0, 2), STAGES[1]: (1, 1, 2)}
    for stage in STAGES:
        result = run_cli("-m", *SHARED, stage, cwd=tmp_path, cache_dir=cache_dir)
        assert result.returncode == 0, result.stderr[-3000:]
    bench = tmp_path / "bench"
    base = "pretrain_freeze-tiny3d-synthetic_brain-smoke-s0-tpe"
    one, two = cell_folder(bench, base), cell_folder(bench, f"{base}-source_then_target")
    done = [t for t in journal_study(one).trials if t.state.name in ("COMPLETE", "PRUNED")]
    stage1 = [t for t in journal_study(two / "stage1").trials if t.state.name == "COMPLETE"]
    stage2 = [t for t in journal_study(two).trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(done) == len(stage1) + len(stage2) == 2 and len(stage1) == 1  # what ran

    spec = {
        readable(c["name"]): c
        for c in yaml.safe_load((bench / "benchmark.yaml").read_text())["cells"]
    }
    entry = spec[f"{base}-source_then_target"]
    assert entry["budget"] == "shared" and (entry["stage1_trials"], entry["n_trials"]) == (1, 1)
    assert entry["startup_trials"] == entry["stage1_startup_trials"] == 2  # fitted: random search
    assert entry["label_use"]["stage1_labels"] == ["source_task"]
    assert entry["label_use"]["labels"] == ["source_task", "target_task"]

    report = load_benchmark(bench)
    totals = {readable(b.name): b.total_trials for b in cell_budgets(report)}
    assert totals == {base: 2, f"{base}-source_then_target": 2}
    assert all(b.device == "CPU" and b.seconds["final seeds"] > 0 for b in cell_budgets(report))
    assert any(b.seconds["pretraining"] > 0 for b in cell_budgets(report))  # a cache miss
    assert ("pretrain_freeze",) in methods_table(report).row_keys
    assert len(compute_table(report).row_keys) == 2
    # brain-age outputs: in every final seed's row, in no tuning trial (which scores no test)
    rows = report.frame
    assert rows[["test/gap_r", "test/gap_mean", "bias/slope"]].notna().all().all()
    usable = rows["bias/slope"] >= MIN_SLOPE  # a 2-epoch model predicts nearly a constant
    assert (rows["test/mae_corrected"].notna() == usable).all()
    trials = [json.loads(p.read_text())["metrics"] for p in one.glob("[0-9]*/metrics.json")]
    assert trials and not any(k.startswith("bias/") or "gap" in k for t in trials for k in t)

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("tlsweep").experiment_id])
    by_role = {}
    for run in runs:
        if "tlsweep.labels" in run.data.tags:
            by_role.setdefault(run.data.tags["tlsweep.role"], set()).add(
                run.data.tags["tlsweep.labels"]
            )
    assert by_role["source"] == {"source_task"}  # stage 1 never reads a target label
    assert by_role["trial"] == by_role["final"] == {"source_task,target_task"}
