"""The report's budget and methods tables, from a benchmark folder in the sweeper's layout.

The folder is written by hand here (two cells of one shared budget, and one cell recorded before
budgets and label use were); ``tests/test_budget_e2e.py`` reads a real sweep's folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tlsweep.benchmark.layout import CELL_FILE, JOB_LOG, METRICS_FILE, SPEC_FILE, TRIALS_FILE
from tlsweep.report.budget import (
    budget_header,
    cell_budgets,
    compute_table,
    header_notes,
    seeds_note,
    validation_warnings,
)
from tlsweep.report.collect import load_benchmark
from tlsweep.report.labels import methods_table
from tlsweep.report.tables import to_markdown

PRETRAINING_USE = {
    "labels": ["source_task", "target_task"],
    "roles": ["source", "source_val", "train"],
    "stage1_labels": ["source_task"],
    "stage1_roles": ["source", "source_val"],
}
SCRATCH_USE = {
    "labels": ["target_task"],
    "roles": ["train"],
    "stage1_labels": [],
    "stage1_roles": [],
}


def _cell(folder: Path, name: str, n_val: int, trials: dict[str, list[str]]) -> None:
    """A cell folder: ``cell.yaml``, ``trials.csv`` per study, one final seed, job logs."""
    identity = {"train.epochs": 30, "pretrain.epochs": 15, "sample_size.n_val": n_val}
    (folder / name).mkdir(parents=True)
    (folder / name / CELL_FILE).write_text(yaml.safe_dump({"name": name, "identity": identity}))
    for study, states in trials.items():
        path = folder / name / study / TRIALS_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = [f"{i},{s},1.0,1800.0,2026-01-01" for i, s in enumerate(states)]
        path.write_text("\n".join(["number,state,value,duration_s,datetime_start", *rows]) + "\n")
    final = folder / name / "final" / "seed1000"
    final.mkdir(parents=True)
    record = {"cell": name, "metrics": {}, "wall_s": 3600.0, "placement": {"device": "cuda:0"}}
    (final / METRICS_FILE).write_text(json.dumps(record))


def _benchmark(tmp_path: Path) -> Path:
    folder = tmp_path / "bench"
    common = {"tuning": "tpe", "encoder": "tiny3d", "dataset": "d", "seed": 0, "variant": ""}
    cells = [
        {"name": "scratch-c", "method": "scratch", "stage": "target_only", "budget": "shared",
         "n_trials": 4, "stage1_trials": 0, "startup_trials": 2, "label_use": SCRATCH_USE},
        {"name": "pf-c", "method": "pretrain_freeze", "stage": "source_then_target",
         "budget": "shared", "n_trials": 2, "stage1_trials": 2, "startup_trials": 2,
         "stage1_startup_trials": 2, "label_use": PRETRAINING_USE},
        {"name": "old-c", "method": "simclr", "stage": "target_only", "n_trials": 1,
         "stage1_trials": 0},
    ]  # fmt: skip
    spec = {"final": {"seeds": 1, "first_seed": 1000}, "objective": "val/mae"}
    spec["cells"] = [{**common, "dir": c["name"], **c} for c in cells]
    folder.mkdir()
    (folder / SPEC_FILE).write_text(yaml.safe_dump(spec))
    _cell(folder, "scratch-c", 25, {".": ["COMPLETE", "COMPLETE", "PRUNED", "COMPLETE", "FAIL"]})
    _cell(folder, "pf-c", 10, {"stage1": ["COMPLETE", "COMPLETE"], ".": ["COMPLETE", "PRUNED"]})
    _cell(folder, "old-c", 25, {".": ["COMPLETE"]})
    job = folder / "pf-c" / "stage1" / "0"
    job.mkdir(parents=True)
    line = "[2026-01-01 00:00:00,000][tlsweep.methods.assemble][INFO] - pretrained encoder"
    (job / JOB_LOG).write_text(
        f"{line} abc: cache miss, 1800.000 s pretraining\n{line} abc: cache hit\n"
    )
    return folder


def test_each_cell_states_its_trials_per_stage_and_equal_totals(tmp_path: Path) -> None:
    bench = load_benchmark(_benchmark(tmp_path))
    budgets = {b.name: b for b in cell_budgets(bench)}
    scratch, two_stage = budgets["scratch-c"], budgets["pf-c"]
    assert scratch.trials == {2: {"COMPLETE": 3, "PRUNED": 1, "FAIL": 1}}
    assert two_stage.trials[1] == {"COMPLETE": 2, "PRUNED": 0, "FAIL": 0}
    assert scratch.total_trials == two_stage.total_trials == 4  # hpo.budget=shared
    assert two_stage.seconds == {
        "pretraining": 1800.0,
        "tuning": 4 * 1800.0,
        "final seeds": 3600.0,
    }
    assert two_stage.device == "GPU" and scratch.pretrain_epochs is None
    assert two_stage.pretrain_epochs == 15 and two_stage.epochs == 30

    table = compute_table(bench)
    text = {(r[0], c[0]): v for (r, c), v in table.text.items()}
    assert (
        text[("pf-c", "stage 1 trials")] == "2/0/0" and text[("pf-c", "stage 2 trials")] == "1/1/0"
    )
    assert text[("scratch-c", "stage 1 trials")] == "–"
    assert text[("pf-c", "random start-up")] == "2 of 2 (random search); 2 of 2 (random search)"
    assert text[("scratch-c", "random start-up")] == "2 of 4"
    assert text[("pf-c", "pretraining h")] == "0.5" and text[("pf-c", "tuning h")] == "2"
    assert text[("old-c", "random start-up")] == "–"
    assert "hpo.budget=shared" in to_markdown(table)


def test_the_header_states_each_budget_in_use_and_the_default(tmp_path: Path) -> None:
    header = budget_header(load_benchmark(_benchmark(tmp_path)))
    assert "hpo.budget=additional (the default): " in header  # the cell recorded before it
    assert "hpo.budget=shared: hydra.sweeper.n_trials is each cell's total" in header
    assert "count in no budget" in header and "\n" not in header


def test_the_methods_table_shows_what_each_method_declares(tmp_path: Path) -> None:
    table = methods_table(load_benchmark(_benchmark(tmp_path)))
    text = {(r[0], c[0]): v for (r, c), v in table.text.items()}
    assert text[("scratch", "labels")] == "target task"
    assert text[("scratch", "subject roles")] == "target training"
    assert text[("pretrain_freeze", "labels")] == "source task, target task"
    assert text[("pretrain_freeze", "subject roles")] == "source, target training"
    assert text[("pretrain_freeze", "stage 1 of source_then_target")] == "source task (source)"
    assert text[("simclr", "labels")] == "not recorded"


def test_small_validation_sets_are_named(tmp_path: Path) -> None:
    (warning,) = validation_warnings(load_benchmark(_benchmark(tmp_path)))
    assert warning.startswith("1 of 3 cells: sample_size.n_val=10 < 20")


def test_the_header_says_which_studies_were_random_search(tmp_path: Path) -> None:
    notes = header_notes(load_benchmark(_benchmark(tmp_path)))
    assert len(notes) == 2 and notes[0].startswith("1 of 3 cells: sample_size.n_val=10")
    assert notes[1].startswith("1 of 3 cells: the sampler's random start-up")  # pf-c: 2 of 2


def test_the_main_table_says_what_its_spread_covers(tmp_path: Path) -> None:
    folder = _benchmark(tmp_path)
    spec = yaml.safe_load((folder / SPEC_FILE).read_text())
    assert "initialisation only" in seeds_note(load_benchmark(folder))
    spec["final"] |= {"seeds": 5, "resample": True}
    (folder / SPEC_FILE).write_text(yaml.safe_dump(spec))
    note = seeds_note(load_benchmark(folder))
    assert note.startswith("5 final seeds (1000–1004), each drawing new training and validation")
    spec["final"]["seeds"] = 0
    (folder / SPEC_FILE).write_text(yaml.safe_dump(spec))
    assert seeds_note(load_benchmark(folder)) is None


def test_a_method_without_pretraining_says_so_in_the_stage_one_column(tmp_path: Path) -> None:
    table = methods_table(load_benchmark(_benchmark(tmp_path)))
    text = {(r[0], c[0]): v for (r, c), v in table.text.items()}
    assert text[("scratch", "stage 1 of source_then_target")] == "– (no pretraining)"
