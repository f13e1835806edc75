"""The final-evaluation statistics: per-cell mean, sd and Student-t CI; selection gap; paired
differences between methods on the same final seeds.

Pure functions of the ``benchmark.csv`` table (numpy, scipy, pandas), so a test can recompute
every number by hand. Only rows with ``status == "ok"`` count.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from tlsweep.data.splits import TEST_ROLES
from tlsweep.train.metrics import MAXIMIZE

PAIR_AXES = ("dataset", "encoder", "sample_size", "seed_cell", "tuning", "stage", "variant")
TEST_DIGEST = "split_test"  # a final seed's test-set digest (tlsweep.benchmark.provenance)
CELL_AXES = ("method", *PAIR_AXES)
BASELINE_PREFIX = "baseline/"  # a final seed's trivial-predictor metrics: baseline/test/mae


@dataclass(frozen=True)
class Summary:
    """Mean, sample sd (ddof=1) and the two-sided Student-t CI of the mean of ``n`` values."""

    n: int
    mean: float
    sd: float
    ci_low: float
    ci_high: float

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies in the CI (False when the CI is undefined)."""
        return self.ci_low <= value <= self.ci_high


def summarize(values: object, confidence: float = 0.95) -> Summary:
    """Summarise finite ``values``; sd and CI are NaN with fewer than two of them."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        return Summary(0, math.nan, math.nan, math.nan, math.nan)
    mean = float(x.mean())
    if n < 2:
        return Summary(n, mean, math.nan, math.nan, math.nan)
    sd = float(x.std(ddof=1))
    half = float(sps.t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
    return Summary(n, mean, sd, mean - half, mean + half)


def maximize(metric: str) -> bool:
    """Whether larger is better for ``metric`` (``test/r2`` → True, ``test/mae`` → False)."""
    return metric.rsplit("/", 1)[-1] in MAXIMIZE


def ok_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of final seeds that ran to the end."""
    return frame[frame["status"] == "ok"]


def metric_columns(frame: pd.DataFrame, split: str = "test") -> list[str]:
    """The ``<split>/<metric>`` columns of ``frame`` that hold any value."""
    cols = [c for c in frame if str(c).startswith(f"{split}/")]
    return [c for c in cols if pd.to_numeric(frame[c], errors="coerce").notna().any()]


def test_metric_columns(frame: pd.DataFrame) -> list[str]:
    """The test metrics of ``frame``: ``test/…`` and, with held-out sites, ``test_external/…``."""
    return [c for split in TEST_ROLES for c in metric_columns(frame, split)]


def cell_stats(frame: pd.DataFrame, metrics: list[str] | None = None) -> pd.DataFrame:
    """One row per cell: its axes, ``best_value``, ``selection_gap`` and, per metric (by
    default every test metric and its trivial-predictor baseline),
    ``<metric>_{n,mean,sd,ci_low,ci_high}`` over the cell's final seeds.

    The selection gap is the best trial's validation value minus the mean validation objective
    of the cell's final reruns: how optimistic the tuned score was (negative when minimising and
    the winner was lucky).
    """
    if metrics is None:
        tests = test_metric_columns(frame)
        metrics = tests + [baseline_column(m) for m in tests if baseline_column(m) in frame]
    rows = []
    for cell, group in frame.groupby("cell", sort=False):
        first = group.iloc[0]
        good = ok_rows(group)
        row = {"cell": cell, **{a: first.get(a) for a in (*CELL_AXES, "n_train")}}
        row["best_value"] = float(first.get("best_value", math.nan))
        row["selection_gap"] = selection_gap(group)
        for metric in metrics:
            summary = summarize(good[metric]) if metric in good else summarize([])
            row |= {f"{metric}_{k}": v for k, v in asdict(summary).items()}
        rows.append(row)
    return pd.DataFrame(rows)


def selection_gap(cell: pd.DataFrame) -> float:
    """One cell's best trial's validation value minus the mean validation objective of its
    final reruns (ok rows); NaN for an untuned cell or without reruns."""
    first = cell.iloc[0]
    objective = first.get("objective")
    good = ok_rows(cell)
    reruns = summarize(good[objective]) if objective in good else summarize([])
    return float(first.get("best_value", math.nan)) - reruns.mean


def baseline_column(metric: str) -> str:
    """The column of the trivial predictor's ``metric`` (``test/mae`` → ``baseline/test/mae``)."""
    return BASELINE_PREFIX + metric


def seed_values(group: pd.DataFrame, metric: str) -> pd.Series:
    """``metric`` per final seed of one cell (ok rows only), indexed by ``final_seed``."""
    good = ok_rows(group)
    values = pd.to_numeric(good[metric], errors="coerce")
    return pd.Series(values.to_numpy(), index=good["final_seed"].to_numpy()).dropna()


def paired_summary(a: pd.Series, b: pd.Series) -> Summary:
    """Summary of ``a - b`` over the final seeds both have (Series indexed by final seed)."""
    return summarize(paired_values(a, b))


def paired_values(a: pd.Series, b: pd.Series) -> np.ndarray:
    """``a - b`` on the final seeds both have (Series indexed by final seed)."""
    common = a.index.intersection(b.index)
    return a.loc[common].to_numpy() - b.loc[common].to_numpy()


def paired_test(differences: np.ndarray, higher_is_better: bool) -> dict[str, float]:
    """The paired t-test of ``differences`` (method − baseline) against 0, and the probability of
    improvement: the share of paired seeds on which the method is better (ties count half),
    P(A > B) of Agarwal et al. (2021) for paired runs.

    Returns:
        ``p`` (two-sided; NaN with fewer than two differences or none that vary) and
        ``p_better`` (NaN without differences).
    """
    d = np.asarray(differences, dtype=float)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return {"p": math.nan, "p_better": math.nan}
    better = (d > 0) if higher_is_better else (d < 0)
    p_better = float(np.mean(better + 0.5 * (d == 0)))
    if d.size < 2 or float(d.std(ddof=1)) == 0.0:
        return {"p": math.nan, "p_better": p_better}
    return {"p": float(sps.ttest_1samp(d, 0.0).pvalue), "p_better": p_better}


def holm(p_values: object) -> np.ndarray:
    """Holm's step-down adjustment of ``p_values`` for their number of comparisons (NaN kept,
    and not counted): the family-wise error rate stays at the level used."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full(p.shape, math.nan)
    finite = np.flatnonzero(np.isfinite(p))
    order = finite[np.argsort(p[finite], kind="stable")]
    m, running = len(order), 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return adjusted


def same_test_sets(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Whether two cells' final seeds were judged on the same test subjects, seed by seed.

    Rows without a recorded test digest (an older tlsweep) are taken as paired, as before.
    """
    if TEST_DIGEST not in a or TEST_DIGEST not in b:
        return True
    left = ok_rows(a).set_index("final_seed")[TEST_DIGEST].dropna()
    right = ok_rows(b).set_index("final_seed")[TEST_DIGEST].dropna()
    common = left.index.intersection(right.index)
    return bool((left.loc[common] == right.loc[common]).all())


def paired_differences(
    frame: pd.DataFrame,
    metric: str,
    baseline: str = "scratch",
    axis: str = "method",
    match: tuple[str, ...] = PAIR_AXES,
) -> pd.DataFrame:
    """Each ``axis`` value's difference to ``baseline`` on ``metric``, paired by final seed.

    Rows are matched on the ``match`` columns (the other cell axes) and on ``final_seed``, and
    only where both were judged on the same test set (:func:`same_test_sets`); otherwise the
    row says ``paired=False`` and holds no difference.

    Returns:
        One row per (value, match key), with the ``match`` columns, ``axis``, ``baseline``,
        ``paired``, the :class:`Summary` fields of the paired difference (``value - baseline``),
        its :func:`paired_test` (``p``, ``p_better``) and ``p_holm``, ``p`` adjusted by
        :func:`holm` over every comparison returned.
    """
    match = tuple(m for m in match if m in frame and m != axis)
    rows = []
    for key, group in frame.groupby(list(match), sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        base = group[group[axis] == baseline]
        if base.empty:
            continue
        base_values = seed_values(base, metric)
        for value, other in group[group[axis] != baseline].groupby(axis, sort=False):
            row = {**dict(zip(match, key)), axis: value, "baseline": baseline}
            if not same_test_sets(other, base):
                rows.append(row | {"paired": False})
                continue
            differences = paired_values(seed_values(other, metric), base_values)
            test = paired_test(differences, maximize(metric))
            rows.append(row | {"paired": True} | asdict(summarize(differences)) | test)
    columns = [*match, axis, "baseline", "paired", "n", "mean", "sd", "ci_low", "ci_high"]
    frame = pd.DataFrame(rows, columns=[*columns, "p", "p_better"])
    frame["p_holm"] = holm(frame["p"]) if len(frame) else []
    return frame
