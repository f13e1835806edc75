"""Reading a benchmark folder: rows, columns, trial counts, and warnings about what is off."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import optuna
import pandas as pd
import pytest
from optuna.storages.journal import JournalFileBackend

from tests.report.benchgen import FIRST_SEED, cell_name, provenance
from tlsweep.errors import ConfigError
from tlsweep.report.collect import LEADING, TRAILING, load_benchmark, write_csv

BASELINES = ["baseline/test/mae", "baseline/test/r2", "baseline/val/mae", "baseline/val/r2"]
TESTS = ["test/gap_r", "test/gap_r_corrected", "test/mae", "test/mae_band_20", "test/mae_band_30"]
TESTS += ["test/mae_corrected", "test/r2"]  # sorted: the brain-age metrics beside the rest
CONTRACT = [*LEADING, "val/mae", "val/r2", *TESTS, *BASELINES, *TRAILING]
CONTRACT += ["bias/slope", "bias/intercept"]  # other metrics, as recorded
CONTRACT += list(provenance("n25", 0))


def test_one_row_per_cell_and_final_seed(bench_template: Path) -> None:
    bench = load_benchmark(bench_template)
    assert list(bench.frame.columns) == CONTRACT
    assert len(bench.frame) == 8 * 3 and bench.warnings == []
    assert (bench.frame["status"] == "ok").all()
    written = pd.read_csv(write_csv(bench, bench_template.parent / "copy.csv"))
    assert list(written.columns) == CONTRACT
    pd.testing.assert_series_equal(written["test/mae"], bench.frame["test/mae"])


def test_trial_counts_and_best_value_match_the_study(bench_template: Path) -> None:
    bench = load_benchmark(bench_template)
    name = cell_name("simclr", "n25")
    storage = optuna.storages.JournalStorage(
        JournalFileBackend(str(bench_template / name / "optuna_journal.log"))
    )
    study = optuna.load_study(study_name=name, storage=storage)
    row = bench.frame[bench.frame["cell"] == name].iloc[0]
    states = [t.state.name for t in study.trials]
    assert row["trials_complete"] == states.count("COMPLETE") == 10
    assert (row["trials_pruned"], row["trials_failed"]) == (1, 1)
    assert row["best_value"] == pytest.approx(study.best_value)
    assert row["best_trial"] == study.best_trial.number
    assert json.loads(row["best_params"]) == pytest.approx(study.best_params)
    untuned = bench.frame[bench.frame["tuning"] == "untuned"]
    assert (untuned["trials_complete"] == 0).all() and untuned["best_value"].isna().all()


def test_missing_and_extra_cells_and_seeds_are_reported(bench_dir: Path) -> None:
    simclr, scratch = (
        bench_dir / cell_name("simclr", "n25"),
        bench_dir / cell_name("scratch", "n25"),
    )
    shutil.rmtree(simclr / "final" / f"seed{FIRST_SEED + 1}")
    shutil.copytree(scratch / "final" / f"seed{FIRST_SEED}", scratch / "final" / "seed1007")
    shutil.copytree(scratch, bench_dir / "leftover-from-an-earlier-run")
    shutil.rmtree(bench_dir / cell_name("pretrain_freeze", "n100"))
    bench = load_benchmark(bench_dir)
    text = "\n".join(bench.warnings)
    assert f"final seed {FIRST_SEED + 1} missing" in text
    assert "seed1007 ignored" in text
    assert "leftover-from-an-earlier-run/ is not in benchmark.yaml" in text
    assert f"{cell_name('pretrain_freeze', 'n100')}: folder" in text
    frame = bench.frame
    missing = frame[frame["status"] == "missing"]
    assert len(missing) == 1 + 3  # one seed, and the three of the lost cell
    assert 1007 not in set(frame["final_seed"])
    assert "leftover-from-an-earlier-run" not in set(frame["cell"])


def test_failed_final_seed(bench_dir: Path) -> None:
    path = bench_dir / cell_name("simclr", "n25") / "final" / f"seed{FIRST_SEED}" / "metrics.json"
    record = json.loads(path.read_text()) | {"status": "failed"}
    path.write_text(json.dumps(record))
    bench = load_benchmark(bench_dir)
    assert (bench.frame["status"] == "failed").sum() == 1
    assert any("failed" in w for w in bench.warnings)


@pytest.mark.parametrize("case", ["absent", "empty", "no_spec"])
def test_not_a_benchmark_folder(tmp_path: Path, case: str) -> None:
    path = tmp_path / "bench"
    if case != "absent":
        path.mkdir()
    if case == "no_spec":
        (path / "cell").mkdir()
    with pytest.raises(ConfigError, match="no such folder" if case == "absent" else "benchmark"):
        load_benchmark(path)
