"""Fixtures: one generated benchmark folder per session, copied for tests that change it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.report.benchgen import make_benchmark


@pytest.fixture(scope="session")
def bench_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 methods × 2 sample sizes tuned with TPE, plus untuned scratch cells; 3 final seeds."""
    return make_benchmark(tmp_path_factory.mktemp("benchmark") / "bench", untuned=("scratch",))


@pytest.fixture
def bench_dir(bench_template: Path, tmp_path: Path) -> Path:
    """A private copy of the benchmark folder, free to change."""
    return Path(shutil.copytree(bench_template, tmp_path / "bench"))


@pytest.fixture(scope="session")
def report_dir(bench_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The full report of the template benchmark, written once by ``tlsweep report`` itself."""
    from tlsweep.report.cli import main

    out = tmp_path_factory.mktemp("report")
    assert main([str(bench_template), "--out", str(out), "--name", "lc"]) == 0
    return out
