"""The aggregate across columns: IQM, mean rank and the stratified bootstrap against naive loops,
and the table's numbers recomputed by hand from the generated benchmark."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from tests.report.benchgen import SIZES, baseline_mae, final_mae
from tlsweep.report.aggregate import (
    REPS,
    Scores,
    aggregate_table,
    bootstrap,
    draws,
    iqm,
    mean_ranks,
)
from tlsweep.report.collect import load_benchmark


@pytest.fixture(scope="module")
def frame(bench_template: Path) -> pd.DataFrame:
    return load_benchmark(bench_template).frame


def _naive_iqm(row: np.ndarray) -> float:
    finite = row[np.isfinite(row)]
    return float(sps.trim_mean(finite, 0.25)) if finite.size else math.nan


def _naive_ranks(means: list[np.ndarray], higher: bool) -> list[float]:
    """Mean rank by hand: per column rank the finite rows (ties share), average per row."""
    per_row: list[list[float]] = [[] for _ in means[0]]
    for column in means:
        present = [i for i, m in enumerate(column) if math.isfinite(m)]
        ranks = sps.rankdata([-column[i] if higher else column[i] for i in present])
        for i, rank in zip(present, ranks):
            per_row[i].append(float(rank))
    return [float(np.mean(r)) if r else math.nan for r in per_row]


def test_iqm_is_the_25_percent_trimmed_mean_ignoring_nan() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(7, 13))
    x[rng.random(x.shape) < 0.2] = np.nan
    x[3] = np.nan
    got = iqm(x)
    for row, value in zip(x, got):
        assert value == pytest.approx(_naive_iqm(row), nan_ok=True)
    assert iqm(np.array([1.0, 2.0, 3.0, 100.0])) == pytest.approx(2.5)  # cuts one each side


def test_mean_ranks_match_a_naive_loop() -> None:
    means = [np.array([1.0, 3.0, 2.0]), np.array([2.0, 2.0, np.nan]), np.array([5.0, 4.0, 3.0])]
    for higher in (True, False):
        assert mean_ranks(means, higher).tolist() == pytest.approx(_naive_ranks(means, higher))
    assert mean_ranks(means, False).tolist() == pytest.approx(
        [(1 + 1.5 + 3) / 3, (3 + 1.5 + 2) / 3, 1.5]
    )


def test_the_vectorised_bootstrap_matches_a_naive_loop() -> None:
    rng = np.random.default_rng(2)
    tasks = [Scores(rng.normal(size=(3, n)), rng.normal(size=(3, n))) for n in (3, 5)]
    tasks[1].values[2, 1] = tasks[1].normalised[2, 1] = np.nan  # one missing seed
    indices = draws([3, 5], reps=40, seed=7)
    ranks, iqms = bootstrap(tasks, indices, higher=False)
    for b in range(40):
        picked = [(t.values[:, idx[b]], t.normalised[:, idx[b]]) for t, idx in zip(tasks, indices)]
        means = [np.array([np.nanmean(r) if np.isfinite(r).any() else np.nan for r in v])
                 for v, _ in picked]  # fmt: skip
        assert ranks[b].tolist() == pytest.approx(_naive_ranks(means, False), nan_ok=True)
        pooled = np.concatenate([n for _, n in picked], axis=1)
        assert iqms[b].tolist() == pytest.approx([_naive_iqm(r) for r in pooled])


def test_draws_are_stratified_and_reproducible() -> None:
    first, again = draws([3, 5], reps=100), draws([3, 5], reps=100)
    assert [d.shape for d in first] == [(100, 3), (100, 5)]
    assert first[0].max() == 2 and first[1].max() == 4  # each column from its own seeds
    assert all((a == b).all() for a, b in zip(first, again))


def test_the_table_by_hand(frame: pd.DataFrame) -> None:
    table, why = aggregate_table(frame, "test/mae", ["method"], ["sample_size"])
    assert why is None and table is not None
    assert table.row_keys[-1] == ("simclr", "tpe") and len(table.row_keys) == 4
    simclr = next(r for r in table.records if r["method"] == "simclr")
    assert simclr["mean_rank"] == 1.0 and simclr["columns"] == 2  # best at both sizes
    skills = []
    for n in SIZES.values():
        base = np.mean([baseline_mae(n, k) for k in range(3)])
        skills += [1 - final_mae("simclr", n, k) / base for k in range(3)]
    assert simclr["iqm"] == pytest.approx(sps.trim_mean(skills, 0.25))
    assert simclr["iqm_low"] <= simclr["iqm"] <= simclr["iqm_high"]
    assert simclr["mean_rank_low"] >= 1.0 and simclr["mean_rank_high"] <= 4.0
    assert table.entry(("simclr", "tpe"), ("mean rank",))[1]  # bold: the best mean rank
    assert (
        "skill over the trivial predictor" in table.notes[0]
        and f"{REPS} resamples" in (table.notes[0])
    )
    again, _ = aggregate_table(frame, "test/mae", ["method"], ["sample_size"])
    assert again is not None and again.records == table.records  # a fixed RNG seed


def test_without_baselines_min_max_normalisation(frame: pd.DataFrame) -> None:
    plain = frame.drop(columns=[c for c in frame if c.startswith("baseline/")])
    table, _ = aggregate_table(plain, "test/r2", ["method"], ["sample_size"])
    assert table is not None and "min-max across the rows" in table.notes[0]
    simclr = next(r for r in table.records if r["method"] == "simclr")
    scaled = []
    for n in SIZES.values():  # 0 = the worst row's mean (untuned scratch), 1 = the best (simclr)
        r2 = {"simclr": [1 - final_mae("simclr", n, k) / 20 for k in range(3)]}
        r2["untuned"] = [1 - final_mae("scratch", n, k, True) / 20 for k in range(3)]
        worst, best = np.mean(r2["untuned"]), np.mean(r2["simclr"])
        scaled += [(v - worst) / (best - worst) for v in r2["simclr"]]
    assert simclr["iqm"] == pytest.approx(sps.trim_mean(scaled, 0.25))
    assert simclr["mean_rank"] == 1.0  # higher R² is better


def test_left_out_with_one_column(frame: pd.DataFrame) -> None:
    table, why = aggregate_table(frame[frame["sample_size"] == "n25"], "test/mae", ["method"],
                                 ["sample_size"])  # fmt: skip
    assert table is None and why is not None and why.startswith("aggregate across cells: left")
