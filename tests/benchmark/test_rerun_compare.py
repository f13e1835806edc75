"""``tlsweep rerun``'s verdict on two records, written and read as the runs write them."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tlsweep.benchmark import layout
from tlsweep.benchmark.rerun import compare


def _job(folder: Path, metrics: dict[str, float]) -> Path:
    folder.mkdir(parents=True)
    layout.write_record(folder, {"metrics": metrics, "provenance": {}, "status": "ok"})
    return folder


def test_a_metric_undefined_in_both_runs_is_identical(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    nan = {"baseline/test/pearson_r": math.nan, "test/mae": 3.25}
    assert math.isnan(
        layout.read_record(_job(tmp_path / "a", nan))["metrics"]["baseline/test/pearson_r"]
    )
    assert compare(tmp_path / "a", _job(tmp_path / "b", dict(nan)))
    assert "bit-identical" in capsys.readouterr().out


@pytest.mark.parametrize("other", [3.2500000000000004, math.nan])
def test_a_changed_or_newly_undefined_metric_differs(tmp_path: Path, other: float) -> None:
    recorded = _job(tmp_path / "a", {"test/mae": 3.25})
    assert not compare(recorded, _job(tmp_path / "b", {"test/mae": other}))
