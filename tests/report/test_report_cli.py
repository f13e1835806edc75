"""``tlsweep report``: the files it writes, the summary, and one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.report.benchgen import cell_name
from tlsweep.report.cli import main

ROOT = Path(__file__).resolve().parents[2]


CSV_FILES = ("", "-paired", "-tuning", "-aggregate", "-budget", "-cells")


def test_report_files(report_dir: Path, bench_template: Path) -> None:
    for suffix in (".md", ".tex", ".html", *(f"{s}.csv" for s in CSV_FILES)):
        assert (report_dir / f"lc{suffix}").stat().st_size > 100, suffix
    table = pd.read_csv(report_dir / "lc.csv")
    assert len(table) == 4 * 2 + 2 and set(table["metric"]) == {"test/mae"}
    assert table["baseline"].sum() == 2  # the mean predictor, one line per sample size
    assert (bench_template / "benchmark.csv").is_file()
    html = (report_dir / "lc.html").read_text()
    assert html.count("<img ") == 7 and "http://" not in html and "https://" not in html


def test_bad_input_is_one_line_exit_2(bench_template: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    cases = {
        str(tmp_path / "nothing"): "no such folder",
        str(tmp_path): "no benchmark.yaml",
    }
    for path, message in cases.items():
        assert main([path]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("tlsweep: error:") and message in err and "\n" not in err
    assert main([str(bench_template), "--metric", "test/mea", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--metric=test/mea" in err and "did you mean 'test/mae'" in err


@pytest.mark.slow  # a fresh interpreter importing pandas, scipy, optuna
def test_summary_through_the_real_command(bench_template: Path, tmp_path: Path) -> None:
    env = {"COLUMNS": "200", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    run = [sys.executable, "-m", "tlsweep.cli", "report"]
    done = subprocess.run(
        [*run, str(bench_template), "--summary"], capture_output=True, text=True, cwd=ROOT, env=env
    )
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if cell_name("simclr", "n25") in x)
    assert "10/1/1" in line and "3/3" in line and " ± " in line
    empty = subprocess.run(
        [*run, str(tmp_path)], capture_output=True, text=True, cwd=ROOT, env=env
    )
    assert empty.returncode == 2
    assert empty.stderr.strip().count("\n") == 0 and "no benchmark.yaml" in empty.stderr


@pytest.mark.parametrize("argv", [["--rows", "method", "--cols", "method"], ["--rows", ","]])
def test_bad_axes(bench_template: Path, tmp_path: Path, argv: list[str], capsys) -> None:  # noqa: ANN001
    assert main([str(bench_template), "--out", str(tmp_path), *argv]) == 2
    assert "tlsweep: error: report axes" in capsys.readouterr().err
