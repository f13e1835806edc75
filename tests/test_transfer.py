"""Planted transfer: the cohort's relatedness knob and the shuffled-source-label control."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tlsweep.data.synthetic_brain import SyntheticBrain
from tlsweep.data.tasks import SHUFFLE_STREAM, Task
from tlsweep.errors import ConfigError

RES = 8.0
# Source-val AUROC for sex at relatedness 1 (90 source-val subjects, chance SD ~0.06) and the
# test-MAE gain of sex over shuffled labels, in years; seed 0 measures 0.77 / 0.52 and 0.77 y
# (results version 1: a pretraining starts from the run seed; it measured 2.7 y before). One
# seed's gain varies by ~1 y between draws; the five-seed CI is in reports/transfer_recovery.md.
LEARNT_AT_LEAST, CONTROL_MARGIN, PLANTED_GAIN_Y = 0.7, 0.1, 0.5


def _cohort_features(relatedness: float, n: int = 64) -> tuple[np.ndarray, ...]:
    """Sex, age, site, head size and intensity-histogram features of n noise-free subjects.

    The histogram (fractions of brain voxels below a few intensity levels) measures CSF,
    grey/white contrast and ventricles, the anatomy age acts on; it is nearly blind to head size.
    """
    from tlsweep.data import synthetic

    tpl = synthetic.load_templates(RES)
    sites = [synthetic.make_site(0, k) for k in range(3)]
    sex, age, site, icv, hist = [], [], [], [], []
    for i in range(n):
        row, x = synthetic.synthesize(
            i, 0, (20.0, 80.0), tpl, sites, noise=False, relatedness=relatedness
        )
        v = x[x > 0] / np.percentile(x[x > 0], 90)
        sex.append(row["sex"] == "M")
        age.append(row["age"])
        site.append(row["site"])
        icv.append(float((x > 0).sum()))
        hist.append([(v < t).mean() for t in (0.3, 0.45, 0.6, 0.75, 0.9)])
    return tuple(map(np.asarray, (sex, age, site, icv, hist)))


def _residual(values: np.ndarray, age: np.ndarray, site: np.ndarray) -> np.ndarray:
    """What is left of ``values`` once each site's (piecewise-linear) age curve is removed."""
    basis = np.c_[np.ones_like(age), age, np.clip(age, 20, 50), np.clip(age, 35, 80)]
    out = np.array(values, dtype=float).reshape(len(age), -1)
    for k in np.unique(site):
        m = site == k
        out[m] -= basis[m] @ np.linalg.lstsq(basis[m], out[m], rcond=None)[0]
    return out / out.std(0)


def _probe_accuracy(features: np.ndarray, sex: np.ndarray) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    folds = StratifiedKFold(4, shuffle=True, random_state=0)
    return float(cross_val_score(LogisticRegression(), features, sex, cv=folds).mean())


def test_relatedness_moves_sex_from_head_size_into_age_anatomy() -> None:
    """At 0 sex shows in head size only; at 1 in the age anatomy only (same subjects)."""
    got = {}
    for r in (0.0, 1.0):
        sex, age, site, icv, hist = _cohort_features(r)
        got[r] = {
            "anatomy": _probe_accuracy(_residual(hist, age, site), sex),
            "icv_ratio": icv[sex].mean() / icv[~sex].mean(),
        }
    assert got[1.0]["anatomy"] >= got[0.0]["anatomy"] + 0.15, got
    assert got[0.0]["anatomy"] < 0.7, got  # sex is not in the age anatomy at 0
    # built in: males' ICV x 1.12 ** (1 - r); the same subjects' draws, so the ratio is exact
    assert 1.09 < got[0.0]["icv_ratio"] / got[1.0]["icv_ratio"] < 1.15, got


def test_at_relatedness_1_male_brains_look_older() -> None:
    """The planted link is a brain-age offset: an age model fit at relatedness 0 (where sex
    carries no age) reads males at relatedness 1 as older than females of the same ages."""
    from sklearn.linear_model import RidgeCV

    sex0, age0, _, _, hist0 = _cohort_features(0.0)
    sex1, age1, _, _, hist1 = _cohort_features(1.0)
    model = RidgeCV(alphas=np.logspace(-4, 2, 13)).fit(hist0, age0)
    gap = model.predict(hist1) - age1  # apparent minus true age, same subjects
    before = model.predict(hist0) - age0
    shift = gap[sex1].mean() - gap[~sex1].mean()
    assert abs(before[sex0].mean() - before[~sex0].mean()) < 5, before
    assert shift > 8, shift  # planted: 30 y; this histogram model reads 13 of them


def test_relatedness_is_checked_and_names_its_own_cohort(tmp_path) -> None:  # noqa: ANN001
    folders = {SyntheticBrain(relatedness=r, cache_dir=str(tmp_path)).root for r in (0, 0.5, 1)}
    assert len(folders) == 3
    for bad in (-0.1, 1.5, "high"):
        with pytest.raises(ConfigError, match="dataset.relatedness="):
            SyntheticBrain(relatedness=bad, cache_dir=str(tmp_path))


@pytest.fixture
def table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    ids = [f"sub-{i:03d}" for i in range(60)]
    return pd.DataFrame(
        {"sex": rng.choice(["F", "M"], 60), "age": rng.uniform(20, 80, 60).round(1)},
        index=pd.Index(ids, name="participant_id"),
    )


def test_shuffle_labels_permutes_source_labels_only(table: pd.DataFrame) -> None:
    source = Task("source_task", column="age", type="regression", shuffle_labels=True)
    ids = list(table.index[10:40])  # the source subjects; the others hold target roles
    before = table.copy()
    out = source.shuffled(table, ids, seed=0)
    pd.testing.assert_frame_equal(table, before)  # the input is not modified in place
    others = table.index.difference(ids)
    pd.testing.assert_frame_equal(out.loc[others], table.loc[others])  # target rows untouched
    pd.testing.assert_series_equal(out.sex, table.sex)  # other columns untouched
    assert sorted(out.loc[ids, "age"]) == sorted(table.loc[ids, "age"])  # same labels, permuted
    assert (out.loc[ids, "age"] != table.loc[ids, "age"]).mean() > 0.8
    pd.testing.assert_frame_equal(source.shuffled(table, ids, seed=0), out)  # deterministic
    assert not source.shuffled(table, ids, seed=1).equals(out)
    plain = Task("source_task", column="age", type="regression")
    assert plain.shuffled(table, ids, seed=0) is table


def test_target_labels_cannot_be_shuffled(table: pd.DataFrame) -> None:
    target = Task("target_task", column="age", type="regression", shuffle_labels=True)
    with pytest.raises(ConfigError, match="target_task.shuffle_labels=true"):
        target.check(table)


def _test_mae(out) -> float:  # noqa: ANN001
    frame = pd.read_csv(out / "predictions.csv")
    test = frame[frame.split == "test"]
    return float((test.y_true - test.y_pred).abs().mean())


def _source_auroc(cache: Path) -> float:
    """Source-val AUROC of the one pretraining cached in ``cache`` (its source head's)."""
    (meta,) = cache.glob("*.json")
    return json.loads(meta.read_text())["source_metrics"]["source_val/auroc"]


@pytest.mark.slow
def test_shuffled_source_labels_remove_the_planted_supervised_gain(make_cfg, tmp_path) -> None:  # noqa: ANN001
    """At relatedness 1, sex pretraining helps age; on shuffled sex labels the gain is gone.

    Real runs (``tlsweep.run.run``) of pretrain_freeze at n = 25, configured as design seed 0
    (cohort seed 0) of ``benchmarks/transfer_recovery.py``'s default size (1000 subjects at 8 mm,
    60 % of them the source set, two frozen stages): a check on a seed the cohort was designed
    on, never a reported number (the benchmark reports other seeds, benchmarks/_planted.py).
    Runs are deterministic; measured at results version 1: source AUROC 0.77 with sex labels
    and 0.52 shuffled, test MAE 13.70 y vs 14.47 y (a control permutation drawn per run seed
    changes the shuffled arm's numbers). About 3 minutes on 2 cores, most of it generating the
    cohort.
    """
    from tlsweep.run import run

    common = [
        "method=pretrain_freeze",
        "method.freeze_stages=2",
        "dataset.relatedness=1.0",
        "dataset.n_subjects=1000",
        "dataset.resolution_mm=8.0",
        "dataset.shape=[24,28,24]",
        "split.val_pool=60",
        "split.source_fraction=0.6",
        "sample_size=n25",
        "train.epochs=30",
        "train.patience=0",
        "train.lr=3e-3",
        "train.device=cpu",
        "train.checkpoint_every_epoch=false",
        "pretrain.epochs=15",
        "pretrain.patience=0",
    ]
    auroc, mae = {}, {}
    for arm, shuffled in (("sex", False), ("shuffled", True)):
        cache = tmp_path / f"pretrained-{arm}"
        run(
            make_cfg(
                *common,
                f"source_task.shuffle_labels={str(shuffled).lower()}",
                f"pretrain.cache_dir={cache}",
                f"output_dir={tmp_path / arm}",
            )
        )
        auroc[arm], mae[arm] = _source_auroc(cache), _test_mae(tmp_path / arm)
    assert auroc["sex"] >= LEARNT_AT_LEAST, (auroc, mae)
    assert auroc["shuffled"] <= auroc["sex"] - CONTROL_MARGIN, (auroc, mae)
    assert mae["shuffled"] - mae["sex"] >= PLANTED_GAIN_Y, (auroc, mae)


def test_a_run_seed_draws_its_own_control_permutation(table: pd.DataFrame) -> None:
    """Each final seed (``seed=k``) of a benchmark shuffles the source labels its own way; no
    run seed keeps the split seed's one permutation (as before)."""
    source = Task("source_task", column="age", type="regression", shuffle_labels=True)
    ids = list(table.index[10:40])
    by_run = [source.shuffled(table, ids, seed=0, run_seed=k).age for k in (1000, 1001)]
    assert not by_run[0].equals(by_run[1])
    pd.testing.assert_series_equal(
        source.shuffled(table, ids, seed=0, run_seed=1000).age, by_run[0]
    )
    order = np.random.default_rng([0, SHUFFLE_STREAM]).permutation(len(ids))  # as before
    kept = source.shuffled(table, ids, seed=0).loc[ids, "age"].to_numpy()
    assert (kept == table.loc[ids, "age"].to_numpy()[order]).all()


# --- the pre-registered planted-transfer benchmark (benchmarks/transfer_recovery.py) ----------


@pytest.fixture
def planted(monkeypatch):  # noqa: ANN201, ANN001
    """``benchmarks/_planted.py``, imported as the benchmark script imports it."""
    from tests.conftest import ROOT

    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import _planted

    return _planted


def test_tost_shows_equivalence_only_inside_the_margin(planted) -> None:  # noqa: ANN001
    from scipy import stats

    tight = [0.1, -0.2, 0.15, 0.0, -0.05, 0.1, 0.2, -0.1]
    got = planted.tost(tight, margin=1.0)
    assert got.equivalent and got.p_lower < 0.05 and got.p_upper < 0.05, got
    se = np.std(tight, ddof=1) / np.sqrt(len(tight))
    p_lower = stats.t.sf((np.mean(tight) + 1.0) / se, len(tight) - 1)  # by hand
    assert got.p_lower == pytest.approx(p_lower)
    assert -1.0 < got.ci_low < got.mean < got.ci_high < 1.0
    # mean 0, but too noisy: a CI that contains 0 is not evidence of no effect
    wide = planted.tost([3.0, -3.0, 2.5, -2.5, 2.0, -2.0], margin=1.0)
    assert not wide.equivalent and wide.ci_low < 0 < wide.ci_high, wide
    shifted = planted.tost([1.4, 1.6, 1.5, 1.45, 1.55], margin=1.0)  # tight, outside the margin
    assert not shifted.equivalent and shifted.p_upper > 0.5 and shifted.p_lower < 0.05, shifted
    assert not planted.tost([0.1], margin=1.0).equivalent  # one seed shows nothing


def test_the_pre_registered_table_gives_both_verdicts(planted) -> None:  # noqa: ANN001
    gains = {
        (1.0, 25): pd.Series([1.2, 0.8, 1.5, 0.9, 1.1, 1.3]),  # planted and found
        (0.0, 25): pd.Series([0.1, -0.2, 0.15, 0.0, -0.05, 0.1]),  # none, and equivalent
        (0.0, 100): pd.Series([3.0, -3.0, 2.5, -2.5, 2.0, -2.0]),  # none, but too noisy
        (0.5, 25): pd.Series([0.5, 0.4]),  # no hypothesis at 0.5: left out
    }
    frame = planted.tests_table(gains).set_index(["relatedness", "n"])
    assert list(frame.verdict) == ["equivalent to 0", "not shown equivalent", "found"]
    assert "|" not in "".join(frame.hypothesis)  # it goes into a markdown pipe table


def test_reported_seeds_and_cohort_are_disjoint_from_the_design(planted) -> None:  # noqa: ANN001
    planted.check_seeds(range(planted.FIRST_SEED, planted.FIRST_SEED + 10), planted.COHORT_SEED)
    with pytest.raises(ValueError, match=r"seeds \[4\] designed the planted cohort"):
        planted.check_seeds([4, 100], planted.COHORT_SEED)
    with pytest.raises(ValueError, match="cohort seed 0 designed the planted cohort"):
        planted.check_seeds([100], cohort_seed=0)


def test_the_benchmark_runs_the_control_at_every_relatedness_with_its_own_split(planted) -> None:  # noqa: ANN001
    import argparse

    import transfer_recovery as bench

    setting = bench.SIZES["default"]
    seeds = [100, 101]
    runs = bench.plan(setting, [0.0, 1.0], [*bench.METHODS, bench.CONTROL], seeds)
    controls = {(r["relatedness"], r["n"], r["seed"]) for r in runs if r["shuffled"]}
    assert controls == {(r, n, s) for r in (0.0, 1.0) for n in setting["ns"] for s in seeds}
    a = argparse.Namespace(threads=1, cache=Path("/c"), freeze=2, cohort_seed=planted.COHORT_SEED)
    control = next(r for r in runs if r["shuffled"] and r["seed"] == 101)
    got = bench.overrides(setting, a, control, Path("/out"))
    # the permutation is drawn from the split seed (and the run seed): a new one per seed
    assert {"split.seed=101", "seed=101", "source_task.shuffle_labels=true"} <= set(got)
    assert f"dataset.seed={planted.COHORT_SEED}" in got
