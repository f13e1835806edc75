"""``tlsweep report PATH``: the report of a benchmark folder (see :mod:`tlsweep.report`).

tlsweep report multirun/hpo                      # → multirun/hpo/report/report.{md,tex,...}
tlsweep report multirun/hpo --summary            # the per-cell table in the terminal only
tlsweep report multirun/hpo --metric test/r2 --rows method,encoder --cols sample_size
tlsweep report multirun/hpo --mlflow             # also into the cells' MLflow experiment
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tlsweep.errors import ConfigError

if TYPE_CHECKING:
    from tlsweep.report.collect import Benchmark

log = logging.getLogger(__name__)


def parser() -> argparse.ArgumentParser:
    """The command's arguments."""
    p = argparse.ArgumentParser(
        prog="tlsweep report",
        description="Tables, figures and an HTML page from a benchmark folder (tlsweep -m ...).",
    )
    p.add_argument("path", type=Path, help="the benchmark folder (holds benchmark.yaml)")
    p.add_argument("--out", type=Path, help="output folder (default: PATH/report)")
    p.add_argument("--metric", help="metric to tabulate (default: test/<objective's metric>)")
    p.add_argument("--rows", default="method", help="table row axes, comma-separated")
    p.add_argument("--cols", default="sample_size", help="table column axes, comma-separated")
    p.add_argument("--baseline", default="scratch", help="method for paired differences")
    p.add_argument("--name", default="report", help="file name stem of the report files")
    p.add_argument("--summary", action="store_true", help="print the per-cell summary only")
    p.add_argument("--mlflow", action="store_true", help="log the report and cell stats to MLflow")
    p.add_argument("--tracking-uri", help="MLflow tracking URI (default: the trials' own)")
    return p


def main(argv: list[str]) -> int:
    """Run ``tlsweep report``; returns the exit status (2 for bad input, with one line)."""
    args = parser().parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        return _report(args)
    except ConfigError as exc:
        print(f"tlsweep: error: {exc}", file=sys.stderr)
        return 2


def _report(args: argparse.Namespace) -> int:
    from tlsweep.report.build import ReportOptions, write_report
    from tlsweep.report.collect import load_benchmark, write_csv
    from tlsweep.report.summary import default_metric, print_summary

    bench = load_benchmark(args.path)
    write_csv(bench)
    metric = args.metric or default_metric(bench)
    if args.summary:
        print_summary(bench, metric)
        return 0
    options = ReportOptions(
        metric=metric,
        rows=_axes(args.rows),
        cols=_axes(args.cols),
        baseline=args.baseline,
        name=args.name,
    )
    out = args.out or bench.path / "report"
    files = write_report(bench, out, options)
    if args.mlflow:
        from tlsweep.report.mlflow_sync import log_benchmark

        run_id = log_benchmark(bench, files, metric_list(bench), args.tracking_uri)
        log.info("MLflow benchmark run %s", run_id)
    print(out / f"{args.name}.html")
    return 0


def metric_list(bench: Benchmark) -> list[str]:
    """Every test metric of the benchmark (what ``--mlflow`` logs per cell)."""
    from tlsweep.report.stats import test_metric_columns

    return test_metric_columns(bench.frame)


def _axes(text: str) -> list[str]:
    axes = [a.strip() for a in text.split(",") if a.strip()]
    if not axes:
        raise ConfigError(f"report axes={text!r}: give at least one axis, e.g. method")
    return axes
