"""The thesis presets (conf/experiment/bench_*.yaml) give each cell enough final seeds, and each
seed its own draw of the labelled subjects, the same draw for every method."""

from __future__ import annotations

from pathlib import Path

import pytest

from tlsweep.benchmark.finals import final_overrides

USER_CONF = Path(__file__).parents[1] / "conf"


@pytest.mark.parametrize("name", ["bench_small", "bench_full"])
def test_thesis_presets_resample_at_least_five_final_seeds(make_cfg, monkeypatch, name) -> None:  # noqa: ANN001
    monkeypatch.setenv("TLSWEEP_CONF", str(USER_CONF))
    cfg = make_cfg(f"+experiment={name}")
    assert cfg.final.seeds >= 5 and cfg.final.resample is True, cfg.final
    if name == "bench_small":
        assert cfg.final.seeds == 5  # 3 methods x 2 sizes x 5 seeds stays a few CPU minutes


def test_a_final_seed_draws_the_same_subjects_for_every_method() -> None:
    """Final seed k sets ``split.draw=k`` whatever the cell selected; the draw re-orders only
    the labelled target pool (tests/test_splits.py), so test and source sets stay fixed."""
    cells = (["method=scratch", "train.lr=0.01"], ["method=simclr", "split.draw=3", "seed=9"])
    for seed in (1000, 1001):
        drawn = [[o for o in final_overrides(c, seed, True) if "draw" in o] for c in cells]
        assert drawn == [[f"split.draw={seed}"]] * 2
    assert not any("draw" in o for o in final_overrides(cells[0], 1000, resample=False))
