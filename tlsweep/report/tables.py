"""The thesis tables: test metric mean ± sd per method × sample size, and paired differences.

Tables are built once from ``benchmark.csv`` rows and drawn by :mod:`tlsweep.report.render`
(Markdown, LaTeX, HTML, CSV records; re-exported here). In the metric table the best mean of
each column is bold (lower is better for errors, higher for scores), an entry whose paired
difference to that best one has a 95 % CI containing 0 gets a dagger (a tie within the noise),
each tuned entry carries its selection gap, and the trivial predictor's scores (the final seeds'
``baseline/<metric>`` columns, when recorded) make a reference row below the grid.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd

from tlsweep.errors import ConfigError, bad_option
from tlsweep.report.render import (
    SIGNIFICANT,
    TIE,
    Key,
    Table,
    axis_order,
    decimals,
    label,
    to_frame,
    to_html,
    to_latex,
    to_markdown,
)
from tlsweep.report.stats import (
    CELL_AXES,
    Summary,
    baseline_column,
    maximize,
    ok_rows,
    paired_differences,
    paired_summary,
    seed_values,
    selection_gap,
    summarize,
)
from tlsweep.train.metrics import REGRESSION_METRICS

__all__ = [
    "SIGNIFICANT", "TIE", "Key", "Table", "axes_in_use", "axis_order", "decimals", "grid", "label",
    "metric_table", "paired_table", "to_frame", "to_html", "to_latex", "to_markdown",
    "tuning_table",
]  # fmt: skip


def axes_in_use(frame: pd.DataFrame, rows: list[str], cols: list[str]) -> list[str]:
    """``rows`` plus every other cell axis that takes several values (so no cells merge)."""
    if set(rows) & set(cols):
        raise ConfigError(f"report axes: {sorted(set(rows) & set(cols))} both in rows and cols")
    for axis in (*rows, *cols):
        if axis not in frame:
            raise bad_option("report axis", axis, [a for a in CELL_AXES if a in frame])
    varying = [a for a in CELL_AXES if a in frame and frame[a].nunique(dropna=False) > 1]
    return rows + [a for a in varying if a not in rows and a not in cols]


def metric_table(
    frame: pd.DataFrame, metric: str, rows: list[str], cols: list[str], confidence: float = 0.95
) -> Table:
    """``metric`` mean ± sd over final seeds per ``rows`` × ``cols`` (see the module doc)."""
    rows = axes_in_use(frame, rows, cols)
    table = grid(frame, f"{metric} (mean ± sd over final seeds)", rows, cols)
    values: dict[tuple[Key, Key], pd.Series] = {}
    gaps: dict[tuple[Key, Key], float] = {}
    for key, group in ok_rows(frame).groupby([*rows, *cols], sort=False, dropna=False):
        rc = (tuple(key[: len(rows)]), tuple(key[len(rows) :]))
        values[rc] = seed_values(group, metric)
        gaps[rc] = _finite_mean([selection_gap(g) for _, g in group.groupby("cell")])
    summaries = {rc: summarize(v, confidence) for rc, v in values.items()}
    digits = decimals([s.sd for s in summaries.values()])
    for c in table.col_keys:
        _fill_column(table, c, values, summaries, metric, digits)
    better = "higher" if maximize(metric) else "lower"
    table.notes.append(
        f"Bold: best mean per column ({better} is better). {TIE}: the paired difference to the "
        f"column's best has a {confidence:.0%} CI containing 0 (same final seeds)."
    )
    _add_gaps(table, gaps, frame)
    baseline = _baseline_row(frame, metric, cols, digits)
    if baseline is not None:
        name, texts, records, note = baseline
        table.extra_rows.append((name, texts))
        table.records += [{rows[0]: name, **r} for r in records]
        table.notes.append(note)
    return table


def _fill_column(
    table: Table, c: Key, values: dict, summaries: dict[tuple[Key, Key], Summary], metric: str,
    digits: int,
) -> None:  # fmt: skip
    present = [r for r in table.row_keys if math.isfinite(summaries.get((r, c), _NAN).mean)]
    best = _best(present, c, summaries, maximize(metric))
    for r in present:
        s = summaries[(r, c)]
        table.text[(r, c)] = f"{s.mean:.{digits}f} ± {s.sd:.{digits}f}"
        tie = r != best and paired_summary(values[(r, c)], values[(best, c)]).contains(0.0)
        if r == best:
            table.bold.add((r, c))
        if tie:
            table.mark[(r, c)] = TIE
        table.records.append(
            {
                **_named(table.row_axes, r),
                **_named(table.col_axes, c),
                "metric": metric,
                **asdict(s),
                "best": r == best,
                "tie_with_best": tie,
                "baseline": False,
            }
        )


def _add_gaps(table: Table, gaps: dict[tuple[Key, Key], float], frame: pd.DataFrame) -> None:
    """The selection gap beside each tuned entry (and in its record), with a note defining it."""
    shown = {rc: g for rc, g in gaps.items() if math.isfinite(g) and rc in table.text}
    digits = decimals([abs(g) for g in shown.values()])
    for rc, gap in shown.items():
        table.sub[rc] = f"gap {gap:+.{digits}f}"
    for record in table.records:
        rc = (tuple(record[a] for a in table.row_axes), tuple(record[a] for a in table.col_axes))
        record["selection_gap"] = gaps.get(rc, math.nan)
    if not shown:
        return
    objective = (
        str(frame["objective"].dropna().iloc[0]) if frame["objective"].notna().any() else "val"
    )
    optimistic = "above" if maximize(objective) else "below"
    table.notes.append(
        f"gap: the selection gap, the best trial's {objective} minus the mean {objective} of the "
        f"cell's final-seed reruns of that configuration ({objective} units); {optimistic} 0, the "
        "tuning score was optimistic (the winner was partly lucky). Untuned cells have none."
    )


def _baseline_row(
    frame: pd.DataFrame, metric: str, cols: list[str], digits: int
) -> tuple[str, dict[Key, str], list[dict[str, Any]], str] | None:
    """The trivial predictor's ``metric`` per column: mean ± sd over the column's final seeds
    (each seed's value averaged over the column's cells first: they share its training set)."""
    column, good = baseline_column(metric), ok_rows(frame)
    if column not in good or pd.to_numeric(good[column], errors="coerce").isna().all():
        return None
    texts: dict[Key, str] = {}
    records, mixed = [], False
    for key, group in good.groupby(cols, sort=False, dropna=False):
        per_seed = pd.to_numeric(group[column], errors="coerce").groupby(group["final_seed"])
        mixed |= bool((per_seed.max() - per_seed.min() > 1e-9 * per_seed.max().abs()).any())
        s = summarize(per_seed.mean())
        if s.n:
            sd = f" ± {s.sd:.{digits}f}" if math.isfinite(s.sd) else ""
            texts[tuple(key)] = f"{s.mean:.{digits}f}{sd}"
            records.append({**_named(cols, tuple(key)), "metric": metric, **asdict(s),
                            "best": False, "tie_with_best": False, "baseline": True})  # fmt: skip
    regression = metric.rsplit("/", 1)[-1] in REGRESSION_METRICS
    name = "baseline (mean predictor)" if regression else "baseline (majority class)"
    what = (
        "the mean of the seed's training labels predicted for every subject"
        if regression
        else "the seed's most frequent training class, training class frequencies as scores"
    )
    note = (
        f"{name}: {what}, fitted per final seed; mean ± sd over the final seeds of the "
        "column's cells. Read every entry against it."
    )
    if mixed:
        note += (
            " The cells of a column differ in training set (their baselines differ), so the "
            "row shows their average; each cell's own is in the cells CSV."
        )
    return name, texts, records, note


def paired_table(
    frame: pd.DataFrame,
    metric: str,
    baseline: str,
    cols: list[str],
    confidence: float = 0.95,
    axis: str = "method",
) -> Table | None:
    """Each ``axis`` value's paired difference to ``baseline`` on ``metric``: mean [95 % CI],
    Holm-adjusted p and P(better), matched on every other cell axis and the final seed.

    Returns:
        The table, or None when ``baseline`` is not a value of ``axis`` in the benchmark.
    """
    if axis not in frame or baseline not in set(frame[axis]):
        return None
    cols = [c for c in cols if c != axis] or ["sample_size"]
    diffs = paired_differences(frame, metric, baseline, axis=axis, match=CELL_AXES)
    rows = axes_in_use(frame, ["method"], cols)
    rows = rows if axis in rows else [*rows, axis]
    what = "" if axis == "method" else f" ({axis})"
    title = f"{metric}: paired difference to {baseline}{what} (mean [{confidence:.0%} CI])"
    table = grid(frame[frame[axis] != baseline], title, rows, cols)
    digits = decimals(diffs["sd"].tolist())
    for _, d in diffs.iterrows():
        _paired_entry(table, d, rows, cols, digits, metric)
    subject = "Method" if axis == "method" else f"Row ({axis})"
    table.notes.append(
        f"{subject} − {baseline} on the same final seeds; {SIGNIFICANT}: the CI excludes 0. "
        f"p: paired t-test, Holm-adjusted over the {int(diffs['paired'].sum())} comparisons "
        f"shown; %: P(row better than {baseline}), the share of final seeds on which it is."
    )
    unpaired = diffs[~diffs["paired"].astype(bool)] if not diffs.empty else diffs
    if not unpaired.empty:
        table.notes.append(
            f"unpaired: {', '.join(sorted(map(str, set(unpaired[axis]))))} and {baseline} were "
            "judged on different test sets (their recorded test digests differ), so no paired "
            "difference is shown; compare their means in the table above"
        )
    return table


def _paired_entry(
    table: Table, d: pd.Series, rows: list[str], cols: list[str], digits: int, metric: str
) -> None:
    r, c = tuple(d[a] for a in rows), tuple(d[a] for a in cols)
    if not d["paired"]:
        table.text[(r, c)] = "unpaired"
        return
    table.text[(r, c)] = (
        f"{d['mean']:+.{digits}f} [{d['ci_low']:+.{digits}f}, {d['ci_high']:+.{digits}f}]"
        f"; p={_p(d['p_holm'])}; {_share(d['p_better'])}"
    )
    excludes = (d["ci_low"] > 0) or (d["ci_high"] < 0)
    if excludes:
        table.mark[(r, c)] = SIGNIFICANT
    table.records.append({**d.to_dict(), "metric": metric, "ci_excludes_0": bool(excludes)})


def tuning_table(frame: pd.DataFrame, metric: str, cols: list[str]) -> Table | None:
    """Tuned − untuned on ``metric``, paired by final seed between each untuned cell and its
    tuned twin (same method and other axes); None without such a pair."""
    table = paired_table(frame, metric, "untuned", cols, axis="tuning")
    if table is None or not table.text:
        return None
    table.row_keys = [
        r for r in table.row_keys if any((r, c) in table.text for c in table.col_keys)
    ]
    table.title = f"{metric}: tuned − untuned twin, paired by final seed (mean [95% CI])"
    return table


def _finite_mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def _p(value: float) -> str:
    return "–" if not math.isfinite(value) else (f"{value:.2g}" if value >= 0.001 else "<0.001")


def _share(value: float) -> str:
    return "–" if not math.isfinite(value) else f"{value:.0%}"


_NAN = Summary(0, math.nan, math.nan, math.nan, math.nan)


def grid(frame: pd.DataFrame, title: str, rows: list[str], cols: list[str]) -> Table:
    """An empty table of the row and column keys the finished rows of ``frame`` take."""
    good = ok_rows(frame)
    order = axis_order(frame)
    row_keys = sorted({tuple(k) for k in good[rows].itertuples(index=False)}, key=order)
    col_keys = sorted({tuple(k) for k in good[cols].itertuples(index=False)}, key=order)
    return Table(title, rows, cols, row_keys, col_keys)


def _best(rows: list[Key], c: Key, summaries: dict, higher: bool) -> Key | None:
    if not rows:
        return None
    means = [summaries[(r, c)].mean for r in rows]
    return rows[int(np.argmax(means) if higher else np.argmin(means))]


def _named(axes: list[str], key: Key) -> dict[str, Any]:
    return dict(zip(axes, key))
