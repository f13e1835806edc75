"""Write the whole report of a benchmark: tables, figures, the HTML page and the statistics.

``<out>/<name>.md|.tex|.csv|.html`` plus ``<name>-paired.csv`` (paired differences between
methods), ``<name>-tuning.csv`` (tuned − untuned twins), ``<name>-aggregate.csv`` (mean rank and
IQM across columns), ``<name>-budget.csv`` (expected best after k trials, per cell and k),
``<name>-compute.csv`` (trials per stage, epochs and measured hours per cell),
``<name>-labels.csv`` (the labels and subjects each method declares), ``<name>-brain_age.csv``,
``<name>-age_bands.csv`` and ``<name>-detection.csv`` (the brain-age section, for an age
target; detection with a planted or diagnosed group), ``<name>-sites.csv``
(internal vs site-held-out test, with ``split.held_out_sites``), ``<name>-cells.csv``
(per-cell statistics) and ``<name>-<figure>.png|.pdf|.svg``. Everything is
computed once (:func:`make_report`) and every rendering reads that one :class:`Report`, so the
Markdown, the LaTeX and the HTML show the same tables, figures and "Left out" notes; figure
files of an earlier report of the same name that this one did not make are deleted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from tlsweep.errors import bad_column
from tlsweep.report import budget, page, plots, tables
from tlsweep.report.aggregate import aggregate_table
from tlsweep.report.brain_age import brain_age_tables
from tlsweep.report.budget_curve import budget_table
from tlsweep.report.collect import Benchmark
from tlsweep.report.consistency import provenance_summary, rows_footer
from tlsweep.report.figure import Plot, remove_stale
from tlsweep.report.labels import methods_table
from tlsweep.report.sites import site_table
from tlsweep.report.stats import cell_stats, metric_columns, test_metric_columns

log = logging.getLogger(__name__)


@dataclass
class ReportOptions:
    """What to tabulate: ``metric`` per ``rows`` × ``cols``, differences to ``baseline``."""

    metric: str
    rows: list[str] = field(default_factory=lambda: ["method"])
    cols: list[str] = field(default_factory=lambda: ["sample_size"])
    baseline: str = "scratch"
    name: str = "report"


@dataclass
class Report:
    """What a report shows, computed once: every rendering reads this.

    Attributes:
        header: lines under the title, before any number
            (:func:`tlsweep.report.budget.header_notes`).
        tables: in the order shown.
        figures: the figures made (their files written).
        left_out: one line per table, figure or cell left out, and why.
        csv: file suffix (``-paired``, ``""`` for the main table) → its rows.
    """

    header: list[str]
    tables: list[tables.Table]
    figures: list[Plot]
    left_out: list[str]
    csv: dict[str, pd.DataFrame]


def check_metric(bench: Benchmark, metric: str) -> None:
    """Reject a metric the benchmark's final seeds did not report.

    Raises:
        ConfigError: naming the metric and the ones there are.
    """
    found = test_metric_columns(bench.frame) + metric_columns(bench.frame, "val")
    if metric not in found:
        raise bad_column("--metric", metric, found, "the final seeds' metrics")


def make_report(bench: Benchmark, out: Path, options: ReportOptions) -> Report:
    """Compute every table and draw every figure (into ``out``) of the report."""
    frame, metric, rows, cols = bench.frame, options.metric, options.rows, options.cols
    main = tables.metric_table(frame, metric, rows, cols)
    seeds = budget.seeds_note(bench)
    if seeds:
        main.notes.insert(0, seeds)
    paired = tables.paired_table(frame, metric, options.baseline, cols)
    tuning = tables.tuning_table(frame, metric, cols)
    sites = site_table(frame, metric, rows, cols)
    overall, why = aggregate_table(frame, metric, rows, cols)
    curve = budget_table(bench, rows, cols)
    compute, labels = budget.compute_table(bench), methods_table(bench)
    ages = dict(
        zip(("-brain_age", "-age_bands", "-detection"), brain_age_tables(frame, rows, cols))
    )
    figures, left_out = plots.all_plots(bench, metric, out, options.name, rows, cols)
    if paired is None:
        left_out.insert(0, f"paired differences: no method '{options.baseline}' in the benchmark")
    if why:
        left_out.append(why)
    csv = {"": tables.to_frame(main), "-cells": cell_stats(frame)}
    named = {
        "-paired": paired, "-sites": sites, "-tuning": tuning, "-aggregate": overall,
        "-budget": curve, "-compute": compute, "-labels": labels,
    }  # fmt: skip
    named |= ages
    csv |= {suffix: tables.to_frame(t) for suffix, t in named.items() if t is not None}
    shown = (main, paired, sites, tuning, overall, *ages.values(), curve, compute, labels)
    made = [t for t in shown if t is not None]
    return Report(budget.header_notes(bench), made, figures, left_out, csv)


def write_report(bench: Benchmark, out: Path, options: ReportOptions) -> list[Path]:
    """Write every report file into ``out`` and return their paths."""
    check_metric(bench, options.metric)
    out.mkdir(parents=True, exist_ok=True)
    stem = options.name
    report = make_report(bench, out, options)
    for path in remove_stale(out, stem, report.figures):
        log.info("removed %s: this report does not make that figure", path.name)
    written = [
        _write(out / f"{stem}.md", markdown(bench, report)),
        _write(out / f"{stem}.tex", "\n".join(tables.to_latex(t) for t in report.tables)),
    ]
    for suffix, rows in report.csv.items():
        written.append(_write(out / f"{stem}{suffix}.csv", rows.to_csv(index=False)))
    title = f"tlsweep benchmark report: {bench.path.name}"
    html = page.render(
        bench, report.tables, report.figures, report.left_out, title, header=report.header
    )
    written.append(_write(out / f"{stem}.html", html))
    written += [path for figure in report.figures for path in figure.files.values()]
    log.info("report written to %s (%d files)", out, len(written))
    return written


def markdown(bench: Benchmark, report: Report) -> str:
    """The Markdown report: the header notes, tables, figures (linked), provenance, warnings
    and what was left out."""
    parts = [f"# Benchmark {bench.path.name}", ""]
    if report.header:
        parts += [*(f"> {line}" for line in report.header), ""]
    parts += [tables.to_markdown(t) for t in report.tables]
    if report.figures:
        parts += ["## Figures", ""]
        parts += [f"![{p.title}]({p.files['png'].name})" for p in report.figures] + [""]
    provenance = provenance_summary(bench.spec, bench.frame)
    parts += ["## Provenance", "", *(f"- {label}: {value}" for label, value in provenance), ""]
    if bench.warnings:
        parts += ["## Warnings", "", *(f"- {w}" for w in bench.warnings), ""]
    if report.left_out:
        parts += ["## Left out", "", *(f"- {n}" for n in report.left_out), ""]
    return "\n".join(parts) + rows_footer(bench.spec, bench.frame)


def _write(path: Path, text: str) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
