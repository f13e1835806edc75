"""The budget curve: the estimator against brute force, the rankings, the table and the figure."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.report.benchgen import cell_name, make_benchmark
from tlsweep.report.budget_curve import (
    budget_plot,
    budget_table,
    cell_curves,
    expected_best,
    rankings,
)
from tlsweep.report.collect import load_benchmark

VALUES = [3.0, 1.0, 4.0, 1.5, 5.0, 9.0, 2.6, 4.0]  # a tie among them


@pytest.mark.parametrize("higher", [True, False])
def test_without_replacement_is_the_mean_best_of_every_subset(higher: bool) -> None:
    best = max if higher else min
    got = expected_best(VALUES, higher)
    for k in range(1, len(VALUES) + 1):
        subsets = [best(s) for s in itertools.combinations(VALUES, k)]
        assert got[k - 1] == pytest.approx(np.mean(subsets), rel=1e-12), k
    assert got[0] == pytest.approx(np.mean(VALUES)) and got[-1] == best(VALUES)


@pytest.mark.parametrize("higher", [True, False])
def test_with_replacement_is_the_mean_best_of_every_draw(higher: bool) -> None:
    best = max if higher else min
    got = expected_best(VALUES[:6], higher, replace=True)
    for k in range(1, 6):
        draws = [best(s) for s in itertools.product(VALUES[:6], repeat=k)]
        assert got[k - 1] == pytest.approx(np.mean(draws), rel=1e-12), k
    short = got[-1] < best(VALUES[:6]) if higher else got[-1] > best(VALUES[:6])
    assert short  # it falls short of the observed best at k = n


def test_the_estimator_is_stable_for_many_trials() -> None:
    values = np.random.default_rng(0).normal(size=400)
    curve = expected_best(values, higher=True)
    assert np.isfinite(curve).all() and (np.diff(curve) >= -1e-9).all()
    assert curve[-1] == pytest.approx(values.max()) and expected_best([np.nan], True).size == 0


def test_cell_curves_from_the_trials_run(bench_template: Path) -> None:
    bench = load_benchmark(bench_template)
    curves = cell_curves(bench, ["method", "tuning"], ["sample_size"])
    name = cell_name("simclr", "n25")
    trials = pd.read_csv(bench_template / name / "trials.csv")
    values = trials.loc[trials["state"] == "COMPLETE", "value"].tolist()
    mine = curves[curves["cell"] == name]
    assert mine["k"].tolist() == list(range(1, 11)) and (mine["n"] == 10).all()
    for k in (1, 3, 10):
        subsets = [min(s) for s in itertools.combinations(values, k)]
        assert mine.set_index("k").at[k, "expected_best"] == pytest.approx(np.mean(subsets))
    assert not curves["cell"].str.contains("untuned").any()  # no study, no curve


def _curves(lines: dict[str, list[float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"method": m, "sample_size": "n25", "k": k, "expected_best": v}
         for m, values in lines.items() for k, v in enumerate(values, start=1)]
    )  # fmt: skip


def test_rankings_say_where_the_winner_changes() -> None:
    crossing = _curves({"a": [5.0, 4.0, 3.0, 2.0], "b": [4.5, 4.2, 3.5, 2.5, 2.4]})
    [line] = rankings(crossing, ["method"], ["sample_size"], higher=False)
    assert line == (
        "n25: ranking (best first) at k=1: b, a; at k=4: a, b; the ranking changes at k = 2."
    )
    parallel = _curves({"a": [5.0, 4.0, 3.0], "b": [6.0, 5.0, 4.0]})
    [line] = rankings(parallel, ["method"], ["sample_size"], higher=False)
    assert line.endswith("at k=3: a, b; the same at every budget k = 1..3.")
    assert rankings(_curves({"a": [1.0]}), ["method"], ["sample_size"], higher=False) == []
    [line] = rankings(parallel, ["method"], ["sample_size"], higher=True)  # larger is better
    assert "at k=1: b, a" in line


def test_the_budget_table(bench_template: Path) -> None:
    bench = load_benchmark(bench_template)
    table = budget_table(bench, ["method"], ["sample_size"])
    assert table is not None
    assert table.col_keys == [(s, f"k={k}") for s in ("n25", "n100") for k in (1, 2, 5, 10)]
    assert ("scratch", "untuned") not in table.row_keys and len(table.row_keys) == 3
    curves = cell_curves(bench, ["method", "tuning"], ["sample_size"])
    row = curves[(curves["method"] == "simclr") & (curves["sample_size"] == "n100")]
    text, _, _ = table.entry(("simclr", "tpe"), ("n100", "k=5"))
    assert text == f"{row.set_index('k').at[5, 'expected_best']:.1f}"
    assert sum(n.startswith(("n25: ranking", "n100: ranking")) for n in table.notes) == 2
    for c in table.col_keys:
        assert sum((r, c) in table.bold for r in table.row_keys) == 1


def test_no_trials_no_curve_and_a_note(tmp_path: Path) -> None:
    bench = load_benchmark(make_benchmark(tmp_path / "b", sizes=("n25",), n_trials=0))
    notes: list[str] = []
    assert budget_table(bench, ["method"], ["sample_size"]) is None
    assert budget_plot(bench, ["method"], ["sample_size"], tmp_path, "x", notes) is None
    assert notes == ["budget curve: no cell has complete tuning trials"]
