"""Figures: every one written in three formats, and cells without enough trials said so."""

from __future__ import annotations

from pathlib import Path

from tests.report.benchgen import cell_name, make_benchmark
from tlsweep.report.collect import load_benchmark
from tlsweep.report.plots import all_plots

MAGIC = {"png": b"\x89PNG", "pdf": b"%PDF", "svg": b"<?xml"}


def test_all_figures_in_three_formats(report_dir: Path) -> None:
    for name in ("learning_curve", "convergence", "importance", "cost", "tuned_vs_untuned"):
        for fmt, magic in MAGIC.items():
            path = report_dir / f"lc-{name}.{fmt}"
            data = path.read_bytes()
            assert len(data) > 5000 and data.startswith(magic), path
    assert b"<svg" in (report_dir / "lc-learning_curve.svg").read_bytes()
    # untuned cells have no study and need no excuse; nothing else was left out
    assert "## Left out" not in (report_dir / "lc.md").read_text()


def test_too_few_trials_skip_importance_and_say_so(tmp_path: Path) -> None:
    bench_dir = make_benchmark(tmp_path / "b", methods=("scratch",), sizes=("n25",), n_trials=1)
    plots, notes = all_plots(load_benchmark(bench_dir), "test/mae", tmp_path / "out", "x")
    assert [p.name for p in plots] == ["learning_curve", "convergence", "cost"]
    assert notes == [
        f"parameter importance: {cell_name('scratch', 'n25')} skipped (1 complete trials, "
        "2 parameters; needs ≥ 2 of each)",
        "tuned vs untuned: no untuned cell with a tuned twin",
    ]
