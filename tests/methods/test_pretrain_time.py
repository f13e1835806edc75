"""A run's pretraining time: what ``assemble`` logs and records is what the report reads back."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from tlsweep.benchmark.layout import JOB_LOG
from tlsweep.methods.assemble import build_method, pretrained_encoder
from tlsweep.report.budget import pretraining_seconds


def test_the_logged_pretraining_time_is_what_the_report_reads(
    tiny, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    cfg, ctx = tiny("method=pretrain_freeze")
    method = build_method(cfg.method)
    with caplog.at_level(logging.INFO, logger="tlsweep.methods.assemble"):
        pretrained_encoder(method, ctx)  # a miss: pretrains
    (entry,) = Path(cfg.pretrain.cache_dir).glob("*.json")
    spent = json.loads(entry.read_text())["pretrain_s"]
    assert spent > 0
    job = tmp_path / "job"
    job.mkdir()
    (job / JOB_LOG).write_text(caplog.text)
    assert pretraining_seconds(job) == pytest.approx(spent, abs=1e-3)

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="tlsweep.methods.assemble"):
        pretrained_encoder(method, ctx)  # a hit: no pretraining in this run
    (job / JOB_LOG).write_text(caplog.text)
    assert "cache hit" in caplog.text and pretraining_seconds(job) == 0.0
