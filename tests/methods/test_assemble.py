"""Assembling a run: the method from its yaml, the pretrained network, stage-1 source scores."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from tests.methods.tiny import context, tiny_cohort
from tlsweep.data.nifti import Cohort
from tlsweep.data.tasks import Task
from tlsweep.errors import ConfigError
from tlsweep.methods.assemble import build_method, pretrained_encoder, source_scores
from tlsweep.methods.probe import linear_probe
from tlsweep.models.tiny3d import Tiny3D
from tlsweep.run import run


def test_build_method_leaves_both_search_spaces_to_the_sweeper(make_cfg) -> None:
    cfg = make_cfg("method=simclr")
    assert "pretrain_search_space" in cfg.method and "search_space" in cfg.method
    method = build_method(cfg.method)
    assert method.temperature == cfg.method.temperature and method.freeze_stages == 2
    assert "pretrain_search_space" not in method.init_args


def test_supervised_pretraining_keeps_its_source_head_metrics(tiny) -> None:
    cfg, ctx = tiny("method=pretrain_freeze", "pretrain.epochs=2")
    miss = pretrained_encoder(build_method(cfg.method), ctx)
    hit = pretrained_encoder(build_method(cfg.method), ctx)
    assert miss.source_metrics is not None and hit.source_metrics == miss.source_metrics
    assert 0 <= miss.source_metrics["source_val/balanced_accuracy"] <= 1
    assert all(torch.equal(miss.state[k], hit.state[k]) for k in miss.state)


def test_source_scores_need_a_pretraining(tiny) -> None:
    cfg, ctx = tiny("method=vat")
    with pytest.raises(ConfigError, match="method VAT has no pretraining.*target_only"):
        source_scores(build_method(cfg.method), ctx)


def test_simclr_is_scored_by_a_probe_that_finds_the_source_signal(tiny) -> None:
    cfg, ctx = tiny("method=simclr")  # the tiny cohort's intensity tells the sex
    scores = source_scores(build_method(cfg.method), ctx)
    # AUROC, not accuracy: a probe's threshold on 8 validation subjects is one draw's luck
    assert scores["source_val/auroc"] >= 0.8, scores


def probe_cohort(seed: int = 1) -> tuple[Cohort, Task, Task]:
    """Volumes whose mean intensity grows with age; sex is balanced and unrelated."""
    cohort = tiny_cohort(seed)
    rng = np.random.default_rng(seed)
    age = cohort.table["age"].to_numpy()
    images = rng.normal(size=cohort.images.shape) + ((age - 50) / 15)[:, None, None, None]
    table = pd.DataFrame({"age": age, "sex": cohort.table["sex"]}, index=cohort.table.index)
    age_task, sex_task = Task("t", "age", "regression"), Task("s", "sex", "classification")
    return Cohort(table, images.astype(np.float16)), age_task, sex_task


def test_linear_probe_regression_beats_the_mean_and_sex_is_chance(make_cfg) -> None:
    cohort, age, sex = probe_cohort()
    ctx = context(make_cfg("debug=smoke"), cohort)
    for task in (age, sex):
        task.check(cohort.table)
        task.fit_scaler(cohort.table.loc[ctx.splits["source"], task.column])
    torch.manual_seed(0)
    encoder = Tiny3D(channels=[8, 16, 32])
    fit, score = ctx.subset("source", age), ctx.subset("source_val", age)
    scores = linear_probe(encoder, fit, score, age, ctx.device)
    truth = cohort.table.loc[score.ids, "age"].to_numpy()
    mean_mse = float(np.mean((truth - cohort.table.loc[fit.ids, "age"].mean()) ** 2))
    assert scores["source_val/loss"] < 0.5 * mean_mse, (scores, mean_mse)
    assert scores["source_val/loss"] == pytest.approx(scores["source_val/rmse"] ** 2)
    chance = linear_probe(
        encoder, ctx.subset("source", sex), ctx.subset("source_val", sex), sex, ctx.device
    )
    assert chance["source_val/loss"] > 0.5, "log loss near log 2: no sex signal to find"


@pytest.mark.slow
@pytest.mark.parametrize("method", ["pretrain_freeze", "simclr"])
def test_a_run_fine_tunes_the_same_after_a_miss_and_a_hit(make_cfg, tmp_path, method) -> None:
    """Issue 7 §3: ``debug=smoke`` gave val/mae 18.46 on a miss and 18.69 on a hit."""
    cfg = make_cfg(f"method={method}", "debug=smoke", f"pretrain.cache_dir={tmp_path / 'enc'}")
    out = tmp_path / "run" / "predictions.csv"
    values, predictions = [], []
    for _ in ("miss", "hit"):
        values.append(run(cfg))
        predictions.append(pd.read_csv(out))
    assert len(list((tmp_path / "enc").glob("*.pt"))) == 1
    assert math.isfinite(values[0]) and values[0] == values[1], values  # inf == inf, too
    pd.testing.assert_frame_equal(predictions[0], predictions[1], check_exact=True)
