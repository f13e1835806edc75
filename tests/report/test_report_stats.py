"""The final-evaluation statistics against numbers worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from tests.report.benchgen import FIRST_SEED, SIZES, final_mae
from tlsweep.report.stats import (
    cell_stats,
    holm,
    maximize,
    paired_differences,
    paired_test,
    summarize,
)


def test_summarize_matches_hand_computation() -> None:
    s = summarize([10.2, 11.0, 12.1])
    # mean 11.1; sd = sqrt((0.81 + 0.01 + 1.00) / 2) = sqrt(0.91); t(0.975, df=2) = 4.302653
    assert s.n == 3
    assert s.mean == pytest.approx(11.1)
    assert s.sd == pytest.approx(math.sqrt(0.91))
    half = 4.302653 * math.sqrt(0.91) / math.sqrt(3)
    assert sps.t.ppf(0.975, 2) == pytest.approx(4.302653, abs=1e-6)
    assert (s.ci_low, s.ci_high) == pytest.approx((11.1 - half, 11.1 + half), abs=1e-5)
    assert s.contains(11.1) and not s.contains(8.7)


def test_summarize_small_samples_and_nan() -> None:
    one = summarize([3.0, math.nan])
    assert (one.n, one.mean) == (1, 3.0) and math.isnan(one.sd) and math.isnan(one.ci_low)
    assert not one.contains(3.0)  # no CI, no claim of a tie
    assert summarize([]).n == 0


def test_direction_of_metrics() -> None:
    assert maximize("test/r2") and maximize("val/auroc")
    assert not maximize("test/mae") and not maximize("val/rmse")


def _row(method: str, seed: int, mae: float, **extra: object) -> dict:
    return {"cell": f"{method}-n25", "method": method, "dataset": "d", "encoder": "e",
            "sample_size": "n25", "n_train": 25, "seed_cell": 0, "tuning": "tpe",
            "stage": "target_only", "final_seed": seed, "status": "ok", "objective": "val/mae",
            "best_value": 9.0, "test/mae": mae, "val/mae": mae - 1, **extra}  # fmt: skip


def test_paired_differences_match_on_final_seed() -> None:
    frame = pd.DataFrame(
        [_row("scratch", 1, 12.0), _row("scratch", 2, 13.0), _row("scratch", 3, 11.5)]
        + [_row("simclr", 2, 11.0), _row("simclr", 1, 10.5), _row("simclr", 4, 1.0)]
        + [_row("simclr", 3, 99.0, status="failed")]
    )
    diffs = paired_differences(frame, "test/mae", "scratch")
    assert len(diffs) == 1
    d = diffs.iloc[0]
    # pairs on seeds 1 and 2 only (seed 3 failed for simclr, seed 4 has no scratch partner):
    # 10.5 - 12.0 = -1.5, 11.0 - 13.0 = -2.0 → mean -1.75, sd sqrt(0.125)
    assert (d["method"], d["baseline"], d["n"]) == ("simclr", "scratch", 2)
    assert d["mean"] == pytest.approx(-1.75)
    assert d["sd"] == pytest.approx(math.sqrt(0.125))
    half = sps.t.ppf(0.975, 1) * math.sqrt(0.125) / math.sqrt(2)
    assert d["ci_low"] == pytest.approx(-1.75 - half) and d["ci_high"] == pytest.approx(
        -1.75 + half
    )


def test_paired_differences_need_the_same_other_axes() -> None:
    other = [_row("simclr", s, 10.0) | {"sample_size": "n100"} for s in (1, 2)]
    frame = pd.DataFrame([_row("scratch", 1, 12.0), _row("scratch", 2, 13.0), *other])
    assert paired_differences(frame, "test/mae", "scratch").empty


def test_selection_gap() -> None:
    frame = pd.DataFrame([_row("simclr", 1, 10.5), _row("simclr", 2, 11.5)])
    row = cell_stats(frame, ["test/mae"]).iloc[0]
    # best trial's val 9.0 minus mean rerun val/mae (9.5 + 10.5) / 2 = 10.0
    assert row["selection_gap"] == pytest.approx(-1.0)
    assert row["test/mae_mean"] == pytest.approx(11.0) and row["test/mae_n"] == 2


def test_cell_stats_recomputed_from_benchmark_csv(bench_template) -> None:  # noqa: ANN001
    from tlsweep.report.collect import load_benchmark, write_csv

    frame = pd.read_csv(write_csv(load_benchmark(bench_template)))
    stats = cell_stats(frame, ["test/mae"]).set_index("cell")
    for cell, row in stats.iterrows():
        values = [
            final_mae(row["method"], SIZES[row["sample_size"]], k, row["tuning"] == "untuned")
            for k in range(3)
        ]
        assert row["test/mae_mean"] == pytest.approx(np.mean(values)), cell
        assert row["test/mae_sd"] == pytest.approx(np.std(values, ddof=1)), cell
        half = sps.t.ppf(0.975, 2) * np.std(values, ddof=1) / math.sqrt(3)
        assert row["test/mae_ci_high"] == pytest.approx(np.mean(values) + half), cell
        reruns = frame[frame["cell"] == cell]["val/mae"].mean()
        assert row["selection_gap"] == pytest.approx(row["best_value"] - reruns, nan_ok=True)
    assert set(frame["final_seed"]) == {FIRST_SEED, FIRST_SEED + 1, FIRST_SEED + 2}


def test_holm_adjusts_step_down_and_keeps_nan() -> None:
    # sorted 0.01, 0.02, 0.04 of m = 3: 3*0.01, max(0.03, 2*0.02), max(0.04, 1*0.04)
    adjusted = holm([0.04, math.nan, 0.01, 0.02])
    assert adjusted[2] == pytest.approx(0.03) and adjusted[3] == pytest.approx(0.04)
    assert adjusted[0] == pytest.approx(0.04) and math.isnan(adjusted[1])
    assert holm([0.6, 0.5]).tolist() == [1.0, 1.0]  # capped at 1


def test_paired_test_and_the_probability_of_improvement() -> None:
    lower_better = paired_test(np.array([-1.5, -2.0, 0.0, 0.5]), higher_is_better=False)
    assert lower_better["p_better"] == pytest.approx((2 + 0.5) / 4)  # a tie counts half
    expected = sps.ttest_1samp([-1.5, -2.0, 0.0, 0.5], 0.0).pvalue
    assert lower_better["p"] == pytest.approx(expected)
    assert paired_test(np.array([0.2, 0.3]), higher_is_better=True)["p_better"] == 1.0
    assert math.isnan(paired_test(np.array([1.0]), higher_is_better=True)["p"])


def test_paired_differences_carry_adjusted_p_values() -> None:
    frame = pd.DataFrame(
        [_row("scratch", s, 12.0 + s) for s in (1, 2, 3)]
        + [_row("simclr", s, 10.0 + s + 0.1 * s * s) for s in (1, 2, 3)]
        + [_row("vat", s, 12.5 + s + 0.1 * s) for s in (1, 2, 3)]
    )
    diffs = paired_differences(frame, "test/mae", "scratch").set_index("method")
    assert diffs["p_holm"].tolist() == pytest.approx(holm(diffs["p"]).tolist())
    assert diffs.loc["simclr", "p_better"] == 1.0 and diffs.loc["vat", "p_better"] == 0.0


def test_selection_gap_of_one_cell_and_of_an_untuned_one() -> None:
    from tlsweep.report.stats import selection_gap

    cell = pd.DataFrame([_row("simclr", 1, 10.5), _row("simclr", 2, 11.5, status="failed")])
    assert selection_gap(cell) == pytest.approx(9.0 - 9.5)  # the failed rerun does not count
    untuned = pd.DataFrame([_row("scratch", 1, 12.0, best_value=math.nan)])
    assert math.isnan(selection_gap(untuned))


def test_cell_stats_summarise_the_baseline_too(bench_template) -> None:  # noqa: ANN001
    from tests.report.benchgen import baseline_mae
    from tlsweep.report.collect import load_benchmark

    stats = cell_stats(load_benchmark(bench_template).frame).set_index("cell")
    row = stats.iloc[0]
    expected = np.mean([baseline_mae(SIZES[row["sample_size"]], k) for k in range(3)])
    assert row["baseline/test/mae_mean"] == pytest.approx(expected)
