"""The benchmark end to end through the real CLI: cells, equal budgets, finals, isolation, resume.

Each test runs real multiruns of ``tlsweep`` on the smoke cohort (8 mm, 24³, 1-2 epochs) with a
fresh sqlite MLflow store and reads back what a researcher would: the cells' folders and studies,
``benchmark.csv``, the runs in MLflow.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import cell_folder
from tests.nifti_folder import write_nifti_folder
from tests.sweeper.conftest import journal_study
from tests.test_cli import tlsweep

pytestmark = pytest.mark.slow
KEPT = ("number", "state", "value")
READABLE = (
    "scratch-tiny3d-synthetic_brain-smoke-s0-random",
    "pretrain_freeze-tiny3d-synthetic_brain-smoke-s0-random",
)
COMMAND = (
    "-m",
    "hpo=random",
    "debug=smoke",
    "method=scratch,pretrain_freeze",
    "hydra.sweeper.n_trials=2",
    "hydra.sweeper.n_jobs=2",
    "final.seeds=2",
    "hydra.sweep.dir=bench",
)


def _runs(db: Path) -> list:
    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    return client.search_runs([client.get_experiment_by_name("tlsweep").experiment_id])


def test_benchmark_tunes_each_cell_equally_then_judges_finals_on_test_and_resumes(
    tmp_path: Path, cache_dir: Path
) -> None:
    result = tlsweep(*COMMAND, cwd=tmp_path, cache_dir=cache_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    bench = tmp_path / "bench"
    cells = [cell_folder(bench, r).name for r in READABLE]
    for cell in cells:
        study = journal_study(bench / cell)
        assert study.study_name == cell  # readable, derived from the cell
        assert [t.state.name for t in study.trials] == ["COMPLETE"] * 2  # equal budgets
        assert study.metric_names == ["val/mae"]
        for number in (0, 1):  # trials never see test
            trial = json.loads((bench / cell / str(number) / "metrics.json").read_text())
            assert trial["role"] == "trial" and trial["metrics"]
            assert not [k for k in trial["metrics"] if k.startswith("test/")]
            splits = pd.read_csv(bench / cell / str(number) / "splits.csv")
            assert "test" not in set(splits.role)
        for seed in (1000, 1001):
            final = json.loads(
                (bench / cell / "final" / f"seed{seed}" / "metrics.json").read_text()
            )
            assert final["role"] == "final" and final["seed"] == seed
            assert "test/mae" in final["metrics"]

    # benchmark.csv: one row per cell x final seed, its numbers those of the final runs
    table = pd.read_csv(bench / "benchmark.csv")
    assert sorted(zip(table.cell, table.final_seed)) == sorted(
        (c, s) for c in cells for s in (1000, 1001)
    )
    for _, row in table.iterrows():
        final = bench / row.cell / "final" / f"seed{row.final_seed}" / "metrics.json"
        assert row["test/mae"] == pytest.approx(
            json.loads(final.read_text())["metrics"]["test/mae"]
        )
    assert "scratch-tiny3d" in result.stdout + result.stderr  # the terminal summary

    # MLflow: trials and finals are children of their cell's parent; no trial logged test/*
    runs = _runs(tmp_path / "mlflow.db")
    parents = {
        r.data.tags["tlsweep.study"]: r for r in runs if r.data.tags.get("tlsweep.role") == "study"
    }
    assert set(parents) >= set(cells)
    for cell in cells:
        children = [
            r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[cell].info.run_id
        ]
        roles = sorted(r.data.tags["tlsweep.role"] for r in children)
        assert roles == ["final", "final", "trial", "trial"]
        for r in children:
            tested = [k for k in r.data.metrics if k.startswith("test/")]
            assert bool(tested) == (r.data.tags["tlsweep.role"] == "final"), r.info.run_name
        selected = [r for r in children if r.data.tags.get("tlsweep.selected") == "true"]
        assert len(selected) == 1 and selected[0].data.tags["tlsweep.role"] == "trial"
        assert "output_dir" not in children[0].data.params  # no path noise in the params

    pretrainings = [r for r in runs if r.data.tags.get("tlsweep.role") == "pretraining"]
    assert pretrainings and {r.data.tags["method"] for r in pretrainings} == {"pretrain_freeze"}
    assert any(f"tlsweep.used_by.{cells[1]}" in r.data.tags for r in pretrainings)

    # resume a half-finished benchmark: one final seed lost, everything else kept
    lost = bench / cells[0] / "final" / "seed1001" / "metrics.json"
    lost.unlink()
    before = {c: len(journal_study(bench / c).trials) for c in cells}
    again = tlsweep(*COMMAND, cwd=tmp_path, cache_dir=cache_dir)
    assert again.returncode == 0, again.stderr[-3000:]
    assert {c: len(journal_study(bench / c).trials) for c in cells} == before  # no new trials
    assert lost.exists()
    finals = [
        r for r in _runs(tmp_path / "mlflow.db") if r.data.tags.get("tlsweep.role") == "final"
    ]
    assert len(finals) == 5  # 4 + the one rerun


def _poison_test_labels(root: Path, test_ids: set[str]) -> None:
    """Swap ages among test subjects of the same age quartile: the split's strata are unchanged."""
    table = pd.read_csv(root / "participants.tsv", sep="\t")
    quartile = pd.qcut(table.age.rank(method="first"), 4, labels=False)
    for q in range(4):
        rows = table.index[(quartile == q) & table.participant_id.isin(test_ids)]
        table.loc[rows, "age"] = table.loc[rows[::-1], "age"].to_numpy()
    table.to_csv(root / "participants.tsv", sep="\t", index=False)


def test_poisoned_test_labels_change_no_trial(tmp_path: Path, cache_dir: Path) -> None:
    root = write_nifti_folder(tmp_path / "data", n=60, shape=(24, 24, 24))
    command = (
        "-m",
        "hpo=random",
        "method=scratch",
        "dataset=nifti",
        f"dataset.root={root}",
        "dataset.spacing=[8,8,8]",
        "dataset.shape=[24,24,24]",
        "sample_size=n25",
        "split.val_pool=8",
        "sample_size.n_val=8",
        "sample_size.n_train=16",
        "train.epochs=2",
        "train.device=cpu",
        "tracking.enabled=false",
        "hydra.sweeper.n_trials=3",
        "final.seeds=0",
    )

    def sweep(run: str) -> Path:
        result = tlsweep(*command, f"hydra.sweep.dir={run}", cwd=tmp_path, cache_dir=cache_dir)
        assert result.returncode == 0, result.stderr[-3000:]
        (cell,) = [p for p in (tmp_path / run).iterdir() if p.is_dir()]
        return cell

    def outcomes(cell: Path) -> list[dict]:
        with (cell / "trials.csv").open() as f:
            return [
                {k: v for k, v in r.items() if k in KEPT or "params_" in k}
                for r in csv.DictReader(f)
            ]

    clean = sweep("clean")
    splits = pd.read_csv(clean / "0" / "splits.csv")
    assert "test" not in set(splits.role)
    everyone = set(pd.read_csv(root / "participants.tsv", sep="\t").participant_id)
    test_ids = everyone - set(splits.participant_id)
    _poison_test_labels(root, test_ids)
    poisoned = sweep("poisoned")
    assert outcomes(poisoned) == outcomes(clean)  # same values and params, so the same best
    assert len(outcomes(clean)) == 3


def _overrides(job_dir: Path) -> dict[str, str]:
    import yaml

    lines = yaml.safe_load((job_dir / ".hydra" / "overrides.yaml").read_text())
    return dict(line.split("=", 1) for line in lines)


def test_two_stage_tuning_fixes_stage_one_best_pretraining_for_stage_two(
    tmp_path: Path, cache_dir: Path
) -> None:
    import yaml

    result = tlsweep(
        "-m",
        "hpo=random",
        "debug=smoke",
        "method=pretrain_freeze",
        "hpo.stage=source_then_target",
        "hpo.source_trials=2",
        "hydra.sweeper.n_trials=2",
        "final.seeds=1",
        "tracking.enabled=false",
        "hydra.sweep.dir=bench",
        cwd=tmp_path,
        cache_dir=cache_dir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    cell = cell_folder(
        tmp_path / "bench",
        "pretrain_freeze-tiny3d-synthetic_brain-smoke-s0-random-source_then_target",
    )
    stage1, stage2 = journal_study(cell / "stage1"), journal_study(cell)
    assert stage1.metric_names == ["source_val/loss"]
    assert [t.state.name for t in stage1.trials] == ["COMPLETE"] * 2
    assert set(stage1.best_params) == {"pretrain.lr", "pretrain.weight_decay"}
    assert set(stage2.best_params) == {"train.lr", "train.weight_decay", "method.freeze_stages"}
    best1 = {k: str(v) for k, v in stage1.best_params.items()}
    for job in [cell / "0", cell / "1", cell / "final" / "seed1000"]:
        chosen = _overrides(job)
        assert {k: float(chosen[k]) for k in best1} == {k: float(v) for k, v in best1.items()}
    source = json.loads((cell / "stage1" / "0" / "metrics.json").read_text())
    assert source["role"] == "source" and "source_val/loss" in source["metrics"]
    spec = yaml.safe_load((tmp_path / "bench" / "benchmark.yaml").read_text())
    (entry,) = spec["cells"]
    assert entry["stage1_trials"] == 2 and entry["n_trials"] == 2

    joint = tlsweep(
        "-m",
        "hpo=random",
        "debug=smoke",
        "method=pretrain_freeze",
        "hpo.stage=joint",
        "hydra.sweeper.n_trials=1",
        "final.seeds=0",
        "tracking.enabled=false",
        "hydra.sweep.dir=bench",
        cwd=tmp_path,
        cache_dir=cache_dir,
    )
    assert joint.returncode == 0, joint.stderr[-3000:]
    both = journal_study(
        cell_folder(
            tmp_path / "bench", "pretrain_freeze-tiny3d-synthetic_brain-smoke-s0-random-joint"
        )
    )
    assert set(both.trials[0].params) == {
        "pretrain.lr",
        "pretrain.weight_decay",
        "train.lr",
        "train.weight_decay",
        "method.freeze_stages",
    }
