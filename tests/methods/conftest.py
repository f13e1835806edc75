"""Fixtures of the method tests: a tiny in-memory run context (:mod:`tests.methods.tiny`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import DictConfig

from tests.methods.tiny import context
from tlsweep.methods.base import Context


@pytest.fixture
def tiny(make_cfg, tmp_path: Path):  # noqa: ANN201
    """``tiny(*overrides) -> (cfg, ctx)``: smoke settings, 1 pretraining epoch, a tmp cache."""

    def _make(*overrides: str) -> tuple[DictConfig, Context]:
        cfg = make_cfg(
            "debug=smoke",
            "encoder=tiny3d",
            "train.batch_size=4",
            "pretrain.batch_size=4",
            "pretrain.epochs=1",
            f"pretrain.cache_dir={tmp_path / 'encoders'}",
            *overrides,
        )
        return cfg, context(cfg)

    return _make
