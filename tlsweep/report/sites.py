"""The report's site-held-out section: each method's score on the internal test set (subjects of
the sites it trained on) beside the external one (``split.held_out_sites``: whole acquisition
sites no training, source or validation subject came from), and their ratio per final seed.

A model that learnt the scanner rather than the brain looks fine on an internal split; on real
brain-age data the external error runs 1.5–2.5× the internal one, so the ratio says how much of a
method's score would survive a new scanner. Shown only when the final seeds scored an external
test set.
"""

from __future__ import annotations

import math

import pandas as pd

from tlsweep.data.splits import TEST_ROLES
from tlsweep.report.render import Table
from tlsweep.report.stats import Summary, baseline_column, ok_rows, seed_values, summarize
from tlsweep.report.tables import axes_in_use, grid

INTERNAL, EXTERNAL = TEST_ROLES  # "test", "test_external"


def external_metric(metric: str) -> str:
    """``test/mae`` → ``test_external/mae``: the same metric on the held-out sites."""
    return f"{EXTERNAL}/{metric.split('/', 1)[-1]}"


def site_table(frame: pd.DataFrame, metric: str, rows: list[str], cols: list[str]) -> Table | None:
    """Internal and external ``metric`` (mean ± sd over final seeds), their per-seed ratio, and
    the mean predictor's external score, per row × column; None without an external test set."""
    external = external_metric(metric)
    if not metric.startswith(f"{INTERNAL}/") or external not in frame:
        return None
    if ok_rows(frame)[external].isna().all():
        return None
    rows = axes_in_use(frame, rows, cols)
    name = metric.split("/", 1)[-1]
    table = grid(frame, f"Internal vs site-held-out test ({name})", rows, cols)
    quantities = ("internal", "external", "external / internal", "mean predictor, external")
    table.col_axes = [*cols, "quantity"]
    for key, group in ok_rows(frame).groupby([*rows, *cols], sort=False, dropna=False):
        r, c = tuple(key[: len(rows)]), tuple(key[len(rows) :])
        inside, outside = seed_values(group, metric), seed_values(group, external)
        common = inside.index.intersection(outside.index)
        ratio = summarize(outside.loc[common] / inside.loc[common])
        trivial = _summary(group, baseline_column(external))
        entries = (summarize(inside), summarize(outside), ratio, trivial)
        for quantity, summary in zip(quantities, entries, strict=True):
            if summary.n:
                digits = 2 if quantity == "external / internal" else 1
                table.text[(r, (*c, quantity))] = _pm(summary, digits)
        table.records.append(
            {**dict(zip(rows, r)), **dict(zip(cols, c))}
            | {
                metric: entries[0].mean,
                external: entries[1].mean,
                "ratio": ratio.mean,
                "ratio_sd": ratio.sd,
                baseline_column(external): trivial.mean,
                "n_seeds": ratio.n,
            }
        )
    table.col_keys = [(*c, q) for c in table.col_keys for q in quantities]
    table.notes.append(
        f"Mean ± sd over the final seeds. Internal: {metric} on the held-out subjects of the "
        f"training sites; external: {external}, the subjects of the sites in "
        "split.held_out_sites, which no training, source or validation subject came from. "
        "Ratio: external / internal per final seed (above 1: worse on a new scanner for an "
        "error; real brain-age data gives 1.5–2.5). Mean predictor: the training mean, scored "
        "on the external subjects."
    )
    return table


def _summary(group: pd.DataFrame, column: str) -> Summary:
    return summarize(seed_values(group, column)) if column in group else summarize([])


def _pm(summary: Summary, digits: int) -> str:
    if not math.isfinite(summary.sd):
        return f"{summary.mean:.{digits}f}"
    return f"{summary.mean:.{digits}f} ± {summary.sd:.{digits}f}"
