"""The compact per-cell summary: best validation value, test mean ± sd and trial counts.

Printed by ``tlsweep report PATH --summary`` (and meant for the end of a multirun) with rich,
which falls back to plain text when the output is not a terminal; the HTML page shows the same
rows.
"""

from __future__ import annotations

import math
from typing import IO, Any

from tlsweep.report.collect import Benchmark
from tlsweep.report.stats import cell_stats


def default_metric(bench: Benchmark) -> str:
    """The test counterpart of the benchmark's objective (``val/mae`` → ``test/mae``)."""
    objective = str(bench.spec.get("objective") or "val/mae")
    return "test/" + objective.split("/", 1)[-1]


def summary_rows(bench: Benchmark, metric: str | None = None) -> list[dict[str, Any]]:
    """One dict per cell: cell, best val, test mean ± sd, final seeds ok, trials c/p/f."""
    metric = metric or default_metric(bench)
    frame = bench.frame
    if frame.empty:
        return []
    stats = cell_stats(frame, [metric] if metric in frame else []).set_index("cell")
    rows = []
    for cell, group in frame.groupby("cell", sort=False):
        first, s = group.iloc[0], stats.loc[cell]
        mean, sd = s.get(f"{metric}_mean", math.nan), s.get(f"{metric}_sd", math.nan)
        rows.append(
            {
                "cell": cell,
                f"best {bench.spec.get('objective', 'val')}": _fmt(first["best_value"]),
                f"{metric} mean ± sd": _pm(mean, sd),
                "seeds ok": f"{int((group['status'] == 'ok').sum())}/{len(group)}",
                "trials c/p/f": f"{first['trials_complete']}/{first['trials_pruned']}/"
                f"{first['trials_failed']}",
            }
        )
    return rows


def print_summary(
    bench: Benchmark, metric: str | None = None, file: IO[str] | None = None
) -> None:
    """Print the summary table (and the warnings) with rich."""
    from rich.console import Console
    from rich.table import Table

    console = Console(file=file, highlight=False)
    if not console.is_terminal:  # a log file or a pipe: never squeeze the table to 80 columns
        console.width = max(console.width, 200)
    rows = summary_rows(bench, metric)
    table = Table(title=f"benchmark {bench.path.name}", title_justify="left")
    for i, header in enumerate(rows[0] if rows else ["cell"]):
        table.add_column(header, justify="left" if i == 0 else "right", no_wrap=i == 0)
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    console.print(table)
    for line in bench.warnings:
        console.print(f"warning: {line}", style="yellow", markup=False)


def _pm(mean: float, sd: float) -> str:
    """``mean ± sd`` with two significant digits of the sd (``10.10 ± 0.75``)."""
    if not math.isfinite(mean):
        return "–"
    if not math.isfinite(sd) or sd <= 0:
        return f"{mean:.4g}"
    digits = min(4, max(0, 1 - math.floor(math.log10(sd))))
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


def _fmt(value: Any) -> str:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return "–"
    return "–" if not math.isfinite(x) else f"{x:.4g}"
