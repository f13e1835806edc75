"""Figures: every one written in three formats, and what was left out said so, once."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tests.report.benchgen import cell_name, make_benchmark
from tlsweep.report.collect import load_benchmark
from tlsweep.report.plots import MIN_IMPORTANCE_TRIALS, all_plots

MAGIC = {"png": b"\x89PNG", "pdf": b"%PDF", "svg": b"<?xml"}
FIGURES = ("learning_curve", "convergence", "importance", "cost", "tuned_vs_untuned")


def test_all_figures_in_three_formats(report_dir: Path) -> None:
    for name in (*FIGURES, "budget_curve"):
        for fmt, magic in MAGIC.items():
            path = report_dir / f"lc-{name}.{fmt}"
            data = path.read_bytes()
            assert len(data) > 5000 and data.startswith(magic), path
    assert b"<svg" in (report_dir / "lc-learning_curve.svg").read_bytes()
    # untuned cells have no study and need no excuse; nothing else was left out
    assert "## Left out" not in (report_dir / "lc.md").read_text()


def test_too_few_trials_leave_importance_out_and_say_so(tmp_path: Path) -> None:
    bench_dir = make_benchmark(tmp_path / "b", methods=("scratch",), sizes=("n25",), n_trials=6)
    plots, notes = all_plots(load_benchmark(bench_dir), "test/mae", tmp_path / "out", "x")
    assert [p.name for p in plots] == [
        "learning_curve",
        "convergence",
        "cost",
        "budget_curve",
        "brain_age",
    ]
    assert notes == [
        f"parameter importance: left out ({cell_name('scratch', 'n25')} has 4 complete trials; "
        f"needs ≥ {MIN_IMPORTANCE_TRIALS} in every tuned cell, below that the importances are "
        "noise)",
        "tuned vs untuned: no untuned cell with a tuned twin",
    ]
    assert not list((tmp_path / "out").glob("x-importance.*"))


def test_importance_needs_the_minimum_in_every_cell(bench_dir: Path, tmp_path: Path) -> None:
    path = bench_dir / cell_name("simclr", "n100") / "trials.csv"
    trials = pd.read_csv(path)
    trials.drop(index=trials.index[trials["state"] == "COMPLETE"][-2:]).to_csv(path, index=False)
    plots, notes = all_plots(load_benchmark(bench_dir), "test/mae", tmp_path / "out", "x")
    assert "importance" not in [p.name for p in plots]
    assert [n for n in notes if n.startswith("parameter importance")] == [
        f"parameter importance: left out ({cell_name('simclr', 'n100')} has 8 complete trials; "
        f"needs ≥ {MIN_IMPORTANCE_TRIALS} in every tuned cell, below that the importances are "
        "noise)"
    ]
