"""Write the whole report of a benchmark: tables, figures, the HTML page and the statistics.

``<out>/<name>.md|.tex|.csv|.html`` plus ``<name>-paired.csv`` (paired differences),
``<name>-cells.csv`` (per-cell statistics) and ``<name>-<figure>.png|.pdf|.svg``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from tlsweep.errors import bad_column
from tlsweep.report import page, plots, tables
from tlsweep.report.collect import Benchmark
from tlsweep.report.consistency import provenance_summary, rows_footer
from tlsweep.report.stats import cell_stats, metric_columns

log = logging.getLogger(__name__)


@dataclass
class ReportOptions:
    """What to tabulate: ``metric`` per ``rows`` × ``cols``, differences to ``baseline``."""

    metric: str
    rows: list[str] = field(default_factory=lambda: ["method"])
    cols: list[str] = field(default_factory=lambda: ["sample_size"])
    baseline: str = "scratch"
    name: str = "report"


def check_metric(bench: Benchmark, metric: str) -> None:
    """Reject a metric the benchmark's final seeds did not report.

    Raises:
        ConfigError: naming the metric and the ones there are.
    """
    found = metric_columns(bench.frame, "test") + metric_columns(bench.frame, "val")
    if metric not in found:
        raise bad_column("--metric", metric, found, "the final seeds' metrics")


def write_report(bench: Benchmark, out: Path, options: ReportOptions) -> list[Path]:
    """Write every report file into ``out`` and return their paths."""
    check_metric(bench, options.metric)
    out.mkdir(parents=True, exist_ok=True)
    stem, frame = options.name, bench.frame
    main = tables.metric_table(frame, options.metric, options.rows, options.cols)
    paired = tables.paired_table(frame, options.metric, options.baseline, options.cols)
    made = [main] + ([paired] if paired is not None else [])
    figures, notes = plots.all_plots(bench, options.metric, out, stem)
    if paired is None:
        notes.insert(0, f"paired differences: no method '{options.baseline}' in the benchmark")
    written = [
        _write(out / f"{stem}.md", _markdown(bench, made, notes)),
        _write(out / f"{stem}.tex", "\n".join(tables.to_latex(t) for t in made)),
        _write(out / f"{stem}.csv", tables.to_frame(main).to_csv(index=False)),
        _write(out / f"{stem}-cells.csv", cell_stats(frame).to_csv(index=False)),
    ]
    if paired is not None:
        written.append(
            _write(out / f"{stem}-paired.csv", tables.to_frame(paired).to_csv(index=False))
        )
    title = f"tlsweep benchmark report: {bench.path.name}"
    written.append(_write(out / f"{stem}.html", page.render(bench, made, figures, notes, title)))
    written += [path for figure in figures for path in figure.files.values()]
    log.info("report written to %s (%d files)", out, len(written))
    return written


def _markdown(bench: Benchmark, made: list[tables.Table], notes: list[str]) -> str:
    parts = [f"# Benchmark {bench.path.name}", ""]
    parts += [tables.to_markdown(t) for t in made]
    provenance = provenance_summary(bench.spec, bench.frame)
    parts += ["## Provenance", "", *(f"- {label}: {value}" for label, value in provenance), ""]
    if bench.warnings:
        parts += ["## Warnings", "", *(f"- {w}" for w in bench.warnings), ""]
    if notes:
        parts += ["## Left out", "", *(f"- {n}" for n in notes), ""]
    return "\n".join(parts) + rows_footer(bench.spec, bench.frame)


def _write(path: Path, text: str) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
