"""Reruns through the real CLI: the same command resumes, a changed setting never reuses a result.

The issue this answers: a rerun with another fixed setting used to resume the first command's
studies and final seeds and print their numbers under the second command's header.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import readable
from tests.conftest import run_cli as tlsweep
from tests.sweeper.conftest import journal_study
from tlsweep.benchmark import layout

pytestmark = pytest.mark.slow
CELL = "scratch-tiny3d-synthetic_brain-smoke-s0-random"
COMMAND = (
    "-m",
    "hpo=random",
    "debug=smoke",
    "method=scratch",
    "hydra.sweeper.n_trials=2",
    "final.seeds=2",
    "tracking.enabled=false",
    "hydra.sweep.dir=bench",
)


def _cells(bench: Path) -> list[Path]:
    return sorted(p for p in bench.iterdir() if p.is_dir() and readable(p.name) == CELL)


def _finals(cell: Path) -> dict[int, dict]:
    return {
        s: json.loads((layout.final_dir(cell, s) / layout.METRICS_FILE).read_text())
        for s in (1000, 1001)
    }


def test_same_command_resumes_and_a_changed_setting_makes_new_cells(
    tmp_path: Path, cache_dir: Path
) -> None:
    def sweep(*extra: str) -> None:
        result = tlsweep(*COMMAND, *extra, cwd=tmp_path, cache_dir=cache_dir)
        assert result.returncode == 0, result.stderr[-3000:]

    bench = tmp_path / "bench"
    sweep("train.epochs=1")
    (cell,) = _cells(bench)
    finals = _finals(cell)
    best = journal_study(cell).best_trial.number
    assert {f["trial"] for f in finals.values()} == {best}  # each final records what it reran

    # the same command again: no trial, no final seed is added or rerun
    sweep("train.epochs=1")
    assert len(journal_study(cell).trials) == 2 and _finals(cell) == finals

    # a final seed of an earlier selection is set aside and rerun for the current one
    path = layout.final_dir(cell, 1001) / layout.METRICS_FILE
    path.write_text(json.dumps({**finals[1001], "trial": best + 7}))
    sweep("train.epochs=1")
    assert len(journal_study(cell).trials) == 2
    assert _finals(cell)[1001]["trial"] == best and _finals(cell)[1000] == finals[1000]
    (kept,) = (cell / layout.FINAL_DIR / layout.SUPERSEDED_DIR).iterdir()
    assert kept.name == f"seed1001-trial{best + 7}"

    # one fixed setting changed: a new cell with its own study and final seeds, never the old
    sweep("train.epochs=2")
    old, new = sorted(_cells(bench), key=lambda p: p != cell)
    assert old == cell and new.name != cell.name
    assert len(journal_study(new).trials) == 2 and len(journal_study(cell).trials) == 2
    assert {f["provenance"]["config_hash"] for f in _finals(new).values()}.isdisjoint(
        {f["provenance"]["config_hash"] for f in _finals(cell).values()}
    )
    table = pd.read_csv(bench / layout.CSV_FILE)
    assert len(table) == 4 and table["cell_hash"].nunique() == 2
    assert set(table["variant"]) == {"debug=smoke train.epochs=1", "debug=smoke train.epochs=2"}
    for column in ("git_commit", "version_torch", "device", "cohort_digest", "split_test"):
        assert table[column].notna().all(), column
    spec = yaml.safe_load((bench / layout.SPEC_FILE).read_text())
    commands = [c for c in spec["commands"] if "train.epochs" in c]
    assert len(commands) == 2
    report = (bench / "report" / "report.md").read_text()
    assert all(c in report for c in commands), "the report shows both commands"


def test_a_folder_recorded_under_another_configuration_is_refused(
    tmp_path: Path, cache_dir: Path
) -> None:
    first = tlsweep(*COMMAND, "final.seeds=0", cwd=tmp_path, cache_dir=cache_dir)
    assert first.returncode == 0, first.stderr[-3000:]
    (cell,) = _cells(tmp_path / "bench")
    record = yaml.safe_load((cell / layout.CELL_FILE).read_text())
    record["config_hash"] = "0" * 64  # as if an edited preset produced the same short hash
    record["identity"]["train.lr"] = 0.5
    (cell / layout.CELL_FILE).write_text(yaml.safe_dump(record))
    again = tlsweep(*COMMAND, "final.seeds=0", cwd=tmp_path, cache_dir=cache_dir)
    assert again.returncode == 2
    (line,) = [x for x in again.stderr.splitlines() if x.startswith("tlsweep: error:")]
    assert f"holds cell {cell.name} of another configuration (train.lr 0.5 -> " in line
    assert len(journal_study(cell).trials) == 2  # nothing queued


def test_rerun_reproduces_a_final_seed_bit_identically(tmp_path: Path, cache_dir: Path) -> None:
    bench = tmp_path / "bench"
    first = tlsweep(
        "-m", "hpo=random", "debug=smoke", "method=pretrain_freeze", "hydra.sweeper.n_trials=1",
        "final.seeds=1", "tracking.enabled=false", "hydra.sweep.dir=bench",
        cwd=tmp_path, cache_dir=cache_dir,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr[-3000:]
    (cell,) = [p for p in bench.iterdir() if (p / layout.CELL_FILE).is_file()]

    unknown = tlsweep("rerun", str(bench), "--cell", "scratch", cwd=tmp_path, cache_dir=cache_dir)
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == (
        f"tlsweep: error: --cell scratch: no such cell; cells: {cell.name}"
    )
    missing = tlsweep("rerun", str(bench), "--seed", "7", cwd=tmp_path, cache_dir=cache_dir)
    assert missing.returncode == 2 and "seeds: [1000]" in missing.stderr

    again = tlsweep(
        "rerun", str(bench), "--cell", cell.name, "--seed", "1000", cwd=tmp_path,
        cache_dir=cache_dir,
    )  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr[-3000:]
    assert "bit-identical" in again.stdout and "provenance:" not in again.stdout
    recorded = json.loads((layout.final_dir(cell, 1000) / layout.METRICS_FILE).read_text())
    rerun = json.loads(
        (bench / "reruns" / cell.name / "seed1000" / layout.METRICS_FILE).read_text()
    )
    assert rerun["metrics"] == recorded["metrics"] and rerun["metrics"]["test/mae"] > 0
    for key in ("config_hash", "cohort_digest", "split_train", "split_test", "git_commit"):
        assert rerun["provenance"][key] == recorded["provenance"][key]
