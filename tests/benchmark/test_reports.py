"""Committed numbers describe the current code: a stale report fails at the commit that makes it
stale, without rerunning any benchmark."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tlsweep.benchmark import provenance
from tlsweep.benchmark.provenance import (
    RESULTS_CODE,
    RESULTS_VERSION,
    read_footer,
    report_footer,
    results_code_digest,
    staleness,
)

REPORTS = sorted((ROOT / "reports").glob("*.md"))


def test_the_code_that_computes_results_was_reviewed_at_this_version() -> None:
    digest = results_code_digest()
    assert digest == RESULTS_CODE, (
        f"the code that computes results changed (digest {digest}, recorded {RESULTS_CODE}). "
        "If numbers may change, bump RESULTS_VERSION in tlsweep/benchmark/provenance.py and "
        "regenerate reports/ (each report names its command); either way set RESULTS_CODE to "
        f"{digest!r}"
    )


@pytest.mark.parametrize("report", REPORTS, ids=lambda p: p.name)
def test_every_committed_report_describes_the_current_code(report: Path) -> None:
    why = staleness(report.read_text())
    assert why is None, f"reports/{report.name} is stale: {why}; regenerate it"


def test_an_old_or_unsourced_report_is_caught() -> None:
    current = report_footer(["tlsweep -m x"], cohort="c0")
    assert staleness("| a | b |\n" + current) is None
    record = read_footer(current)
    old = current.replace(
        json.dumps(record), json.dumps(record | {"results_version": RESULTS_VERSION - 1})
    )
    assert "results version" in staleness(old)
    older_cohort = current.replace(
        json.dumps(record), json.dumps(record | {"cohort_format": record["cohort_format"] - 1})
    )
    assert "cohort format" in staleness(older_cohort)
    assert "no provenance" in staleness("| a | b |\n")


def test_the_footer_names_the_commit_and_the_command() -> None:
    footer = report_footer(["make table-learning-curve SIZE=small"], cohort="c0")
    record = read_footer(footer)
    assert record["commands"] == ["make table-learning-curve SIZE=small"]
    assert record["results_version"] == provenance.RESULTS_VERSION
    assert "`make table-learning-curve SIZE=small`" in footer
