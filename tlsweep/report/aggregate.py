"""Which row wins overall: mean rank and IQM of normalised scores across columns, with CIs.

The main table answers "which method wins in this cell"; this one answers "across the cells".
Each column of the main table (a sample size, say) is a *task* in the sense of Agarwal et al.
(2021, "Deep RL at the edge of the statistical precipice"): per row (method) it holds the test
metric of each final seed. Two aggregates per row:

- mean rank: the row's rank of its seed mean within each column (1 = best, ties share the mean
  rank), averaged over the columns;
- IQM: the interquartile mean (25 % trimmed on each side, as ``scipy.stats.trim_mean``) of the
  row's per-seed *normalised* scores, pooled over the columns. Normalised as a skill score
  against the trivial predictor when every column has its ``baseline/<metric>``:
  ``(score − baseline) / (ideal − baseline)`` (ideal 0 for errors, 1 for scores: 0 = no better
  than the mean predictor, 1 = perfect); otherwise min-max across the rows' seed means per column
  (0 = the worst row, 1 = the best). Higher is better either way.

Both get percentile 95 % intervals from a stratified bootstrap: the final seeds are resampled
with replacement within each column, the same draw for every row (the rows share their final
seeds, so ranks stay paired), :data:`REPS` times from a fixed RNG seed so a report rebuilds
bit-identically. rliable is the reference implementation; it is not used because it pulls in
arch, statsmodels and seaborn for these few lines.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from tlsweep.report.render import Key, Table
from tlsweep.report.stats import baseline_column, maximize, ok_rows, seed_values
from tlsweep.report.tables import axes_in_use, axis_order

REPS = 2000
RNG_SEED = 0
MIN_COLUMNS = 2


@dataclass
class Scores:
    """The per-seed values of one column (task): ``values[row, seed]``, NaN where missing."""

    values: np.ndarray
    normalised: np.ndarray


def iqm(values: np.ndarray) -> np.ndarray:
    """The interquartile mean along the last axis, ignoring NaN: per row, the mean of the sorted
    finite values with ``floor(n / 4)`` cut from each end (``scipy.stats.trim_mean(x, 0.25)``).

    Vectorised over the leading axes (one value per bootstrap resample); NaN where a row has no
    finite value.
    """
    x = np.sort(np.asarray(values, dtype=float), axis=-1)  # NaN sorts last
    n = np.isfinite(x).sum(axis=-1)
    cut = n // 4
    csum = np.concatenate([np.zeros((*x.shape[:-1], 1)), np.nancumsum(x, axis=-1)], axis=-1)
    high = np.take_along_axis(csum, (n - cut)[..., None], axis=-1)[..., 0]
    low = np.take_along_axis(csum, cut[..., None], axis=-1)[..., 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (high - low) / (n - 2 * cut), np.nan)


def mean_ranks(means: list[np.ndarray], higher: bool) -> np.ndarray:
    """Mean rank over columns of ``means[column][row, ...]`` (1 = best; NaN rows left out of
    a column's ranking and of their own average)."""
    ranks = []
    for m in means:
        ranked = sps.rankdata(-m if higher else m, axis=0, nan_policy="omit")
        ranks.append(np.where(np.isfinite(m), ranked, np.nan))
    stacked = np.stack(ranks)
    with np.errstate(invalid="ignore"):
        return np.nansum(stacked, axis=0) / np.isfinite(stacked).sum(axis=0)


def draws(sizes: list[int], reps: int = REPS, seed: int = RNG_SEED) -> list[np.ndarray]:
    """Stratified bootstrap indices: per column, ``(reps, size)`` seed indices drawn with
    replacement from that column's own seeds."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, size, (reps, size)) for size in sizes]


def bootstrap(
    tasks: list[Scores], indices: list[np.ndarray], higher: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Mean rank and IQM of every row for each resample: two ``(reps, rows)`` arrays."""
    means, pooled = [], []
    for task, idx in zip(tasks, indices):
        means.append(_nanmean(task.values[:, idx], axis=-1))  # (rows, reps)
        pooled.append(task.normalised[:, idx])  # (rows, reps, seeds)
    ranks = mean_ranks(means, higher).T
    return ranks, iqm(np.concatenate(pooled, axis=-1)).T


def column_scores(frame: pd.DataFrame, metric: str, rows: list[str], cols: list[str]):  # noqa: ANN201
    """Per column key: (row keys present, their per-seed values aligned on final seed)."""
    out: dict[Key, dict[Key, pd.Series]] = {}
    for key, group in ok_rows(frame).groupby([*rows, *cols], sort=False, dropna=False):
        r, c = tuple(key[: len(rows)]), tuple(key[len(rows) :])
        values = seed_values(group, metric)
        if len(values):
            out.setdefault(c, {})[r] = values
    return out


def normalise(
    frame: pd.DataFrame, metric: str, cols: list[str], per_col: dict[Key, np.ndarray]
) -> tuple[dict[Key, np.ndarray], str]:
    """Per column, the values as skill over the baseline, else min-max across rows (module
    docstring); and the sentence that says which."""
    higher, column = maximize(metric), baseline_column(metric)
    ideal = 1.0 if higher else 0.0
    base: dict[Key, float] = {}
    if column in frame:
        for key, group in ok_rows(frame).groupby(cols, sort=False, dropna=False):
            seeds = pd.to_numeric(group[column], errors="coerce").groupby(group["final_seed"])
            base[tuple(key)] = float(seeds.mean().mean())
    if all(math.isfinite(base.get(c, math.nan)) and base[c] != ideal for c in per_col):
        scaled = {c: (v - base[c]) / (ideal - base[c]) for c, v in per_col.items()}
        return scaled, (
            f"normalised as skill over the trivial predictor, ({metric} − baseline) / "
            f"({ideal:g} − baseline): 0 = no better than it, 1 = perfect"
        )
    scaled = {}
    for c, v in per_col.items():
        means = _nanmean(v, axis=1)
        best, worst = (np.nanmax(means), np.nanmin(means)) if higher else (
            np.nanmin(means), np.nanmax(means))  # fmt: skip
        scaled[c] = (v - worst) / (best - worst) if best != worst else np.full_like(v, np.nan)
    return (
        scaled,
        "normalised min-max across the rows' seed means per column (0 = worst, 1 = best)",
    )


def aggregate_table(
    frame: pd.DataFrame, metric: str, rows: list[str], cols: list[str], confidence: float = 0.95
) -> tuple[Table | None, str | None]:
    """The aggregate table over the main table's columns (module docstring).

    Returns:
        The table and None, or None and the reason it was left out (a row with fewer than
        :data:`MIN_COLUMNS` columns, or fewer than two rows).
    """
    rows = axes_in_use(frame, rows, cols)
    by_col = column_scores(frame, metric, rows, cols)
    count = Counter(r for col in by_col.values() for r in col)
    keep = [r for r, n in count.items() if n >= MIN_COLUMNS]
    if len(keep) < 2:
        return None, (
            f"aggregate across cells: left out (needs ≥ 2 rows with ≥ {MIN_COLUMNS} "
            f"columns of {metric} each; the table has {len(by_col)} column(s))"
        )
    title = f"{metric} across columns: mean rank and IQM [{confidence:.0%} CI]"
    table = Table(title, rows, ["statistic"], sorted(keep, key=axis_order(frame)), [])
    return _fill(table, frame, metric, cols, by_col, confidence), None


def _fill(table: Table, frame: pd.DataFrame, metric: str, cols: list[str],
          by_col: dict[Key, dict[Key, pd.Series]], confidence: float) -> Table:  # fmt: skip
    keys, higher = table.row_keys, maximize(metric)
    values = {c: _matrix(keys, col) for c, col in by_col.items()}
    scaled, how = normalise(frame, metric, cols, values)
    tasks = [Scores(values[c], scaled[c]) for c in values]
    rank = mean_ranks([_nanmean(t.values, axis=1) for t in tasks], higher)
    centre = iqm(np.concatenate([t.normalised for t in tasks], axis=1))
    ranks, iqms = bootstrap(tasks, draws([t.values.shape[1] for t in tasks]), higher)
    tail = 50 * (1 - confidence)
    bounds = [np.nanpercentile(x, [tail, 100 - tail], axis=0) for x in (ranks, iqms)]
    n_cols = {r: sum(r in col for col in by_col.values()) for r in keys}
    table.col_keys = [("columns",), ("mean rank",), ("IQM normalised",)]
    for i, r in enumerate(keys):
        (rl, rh), (il, ih) = bounds[0][:, i], bounds[1][:, i]
        table.text[(r, ("columns",))] = str(n_cols[r])
        table.text[(r, ("mean rank",))] = f"{rank[i]:.2f} [{rl:.2f}, {rh:.2f}]"
        table.text[(r, ("IQM normalised",))] = f"{centre[i]:.2f} [{il:.2f}, {ih:.2f}]"
        table.records.append(
            {
                **dict(zip(table.row_axes, r)),
                "metric": metric,
                "columns": n_cols[r],
                "mean_rank": rank[i],
                "mean_rank_low": rl,
                "mean_rank_high": rh,
                "iqm": centre[i],
                "iqm_low": il,
                "iqm_high": ih,
            }  # fmt: skip
        )
    table.bold |= {(keys[int(np.nanargmin(rank))], ("mean rank",))}
    table.bold |= {(keys[int(np.nanargmax(centre))], ("IQM normalised",))}
    table.notes.append(
        f"Across the {len(by_col)} columns ({' / '.join(cols)}) of the table above. Mean rank: "
        f"the row's rank of its seed mean of {metric} in each column (1 = best), averaged. "
        f"IQM: interquartile mean of the per-seed scores pooled over the columns, {how}. "
        f"[CI]: percentile interval of a stratified bootstrap ({REPS} resamples of the final "
        f"seeds within each column, the same draw for every row; RNG seed {RNG_SEED}), as in "
        "Agarwal et al. (2021)."
    )
    return table


def _matrix(keys: list[Key], col: dict[Key, pd.Series]) -> np.ndarray:
    """``values[row, seed]`` on the union of the column's final seeds (NaN where missing)."""
    seeds = sorted({s for r in keys if r in col for s in col[r].index})
    out = np.full((len(keys), len(seeds)), np.nan)
    for i, r in enumerate(keys):
        if r in col:
            out[i] = col[r].reindex(seeds).to_numpy(dtype=float)
    return out


def _nanmean(x: np.ndarray, axis: int) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.nansum(x, axis=axis) / np.isfinite(x).sum(axis=axis)
