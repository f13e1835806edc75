"""Brain-age outputs: the age-bias correction recovers a planted bias from validation subjects
only, MAE per band, and a run writes both ends (predictions.csv, metrics.json) consistently."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tlsweep.data.tasks import Task
from tlsweep.errors import ConfigError
from tlsweep.train.brain_age import BiasCorrection, band_mae, brain_age

SLOPE, INTERCEPT = 0.6, 20.0  # regression to the mean: predictions shrunk towards 50


def _predictions(rng: np.random.Generator, n: int, split: str, noise: float = 1.0) -> pd.DataFrame:
    age = rng.uniform(20, 80, n)
    pred = SLOPE * age + INTERCEPT + rng.normal(0, noise, n)
    ids = [f"{split}-{i}" for i in range(n)]
    return pd.DataFrame({"participant_id": ids, "split": split, "y_true": age, "y_pred": pred})


def test_the_correction_recovers_a_planted_linear_bias() -> None:
    rng = np.random.default_rng(0)
    frames = pd.concat([_predictions(rng, 200, "val"), _predictions(rng, 200, "test")])
    metrics, out = brain_age(frames, band_width=10)
    assert metrics["bias/slope"] == pytest.approx(SLOPE, abs=0.02)
    assert metrics["bias/intercept"] == pytest.approx(INTERCEPT, abs=1.0)
    assert metrics["bias/n"] == 200
    assert metrics["test/gap_r"] < -0.9  # young look old, old look young
    assert abs(metrics["test/gap_r_corrected"]) < 0.1
    assert metrics["test/mae_corrected"] < (out.y_pred - out.y_true).abs().mean()
    assert np.allclose(out.gap, out.y_pred - out.y_true)
    assert np.allclose(out.gap_corrected, out.y_pred_corrected - out.y_true)


def test_test_subjects_never_enter_the_fit() -> None:
    rng = np.random.default_rng(1)
    val, test = _predictions(rng, 50, "val"), _predictions(rng, 50, "test")
    first, _ = brain_age(pd.concat([val, test]), band_width=10)
    scrambled = test.assign(y_pred=rng.uniform(0, 100, len(test)), y_true=test.y_true[::-1].values)
    second, _ = brain_age(pd.concat([val, scrambled]), band_width=10)
    for key in ("bias/slope", "bias/intercept", "bias/n", "val/gap_r_corrected"):
        assert first[key] == second[key], key
    assert first["test/gap_r"] != second["test/gap_r"]  # the test rows were read, not fitted


def test_a_flat_or_unfittable_correction_gives_nan_not_a_blow_up(caplog) -> None:  # noqa: ANN001
    flat = pd.DataFrame(
        {"participant_id": list("abcd"), "split": ["val", "val", "val", "test"],
         "y_true": [20.0, 40.0, 60.0, 30.0], "y_pred": [50.0, 50.0, 50.0, 50.0]}
    )  # fmt: skip
    metrics, out = brain_age(flat, band_width=10)
    assert metrics["bias/slope"] == pytest.approx(0.0)
    assert out.y_pred_corrected.isna().all() and math.isnan(metrics["test/mae_corrected"])
    assert "not usable" in caplog.text
    assert not BiasCorrection.fit(np.array([1.0, 2.0]), np.array([1.0, 2.0])).usable


def test_mae_per_band_groups_by_the_true_value() -> None:
    bands = band_mae(np.array([21.0, 29.9, 30.0, 65.0]), np.array([23.0, 29.9, 34.0, 60.0]), 10)
    assert bands == {"mae_band_20": 1.0, "mae_band_30": 4.0, "mae_band_60": 5.0}
    assert set(band_mae(np.array([1.0, 3.5]), np.array([1.0, 3.5]), 2.5)) == {
        "mae_band_0",
        "mae_band_2.5",
    }


def test_age_gap_defaults_on_for_an_age_regression_and_refuses_a_classification() -> None:
    table = pd.DataFrame({"age": [20.0, 30.0], "sex": ["F", "M"], "score": [1.0, 2.0]})
    assert Task("target_task", column="age", type="regression").brain_age
    assert not Task("target_task", column="score", type="regression").brain_age
    assert Task("target_task", column="score", type="regression", age_gap=True).brain_age
    assert not Task("target_task", column="age", type="regression", age_gap=False).brain_age
    task = Task("target_task", column="sex", type="classification", age_gap=True)
    with pytest.raises(ConfigError, match=r"target_task.age_gap=true: .*type=classification"):
        task.check(table)


def test_a_run_writes_the_gap_columns_and_the_metrics_that_describe_them(make_cfg) -> None:  # noqa: ANN001
    """Both ends of the file boundary: metrics.json's numbers recomputed from predictions.csv."""
    from tlsweep.run import run

    cfg = make_cfg("method=scratch", "debug=smoke")
    run(cfg)
    out = Path(cfg.output_dir)
    record = json.loads((out / "metrics.json").read_text())["metrics"]
    rows = pd.read_csv(out / "predictions.csv")
    assert {"gap", "y_pred_corrected", "gap_corrected"} <= set(rows.columns)
    val, test = rows[rows.split == "val"], rows[rows.split == "test"]
    slope, intercept = np.polyfit(val.y_true, val.y_pred, deg=1)
    assert record["bias/slope"] == pytest.approx(slope) and record["bias/n"] == len(val)
    assert record["bias/intercept"] == pytest.approx(intercept)
    assert record["test/gap_mean"] == pytest.approx((test.y_pred - test.y_true).mean())
    corrected = (test.y_pred - intercept) / slope if slope >= 0.05 else test.y_pred * math.nan
    expected = (corrected - test.y_true).abs().mean()
    assert record["test/mae_corrected"] == pytest.approx(expected, nan_ok=True)
    bands = {k for k in record if k.startswith("test/mae_band_")}
    assert bands == {f"test/mae_band_{int(lo)}" for lo in np.floor(test.y_true / 10) * 10}


def test_age_gap_false_reports_no_brain_age_metric(make_cfg) -> None:  # noqa: ANN001
    from tlsweep.run import run

    cfg = make_cfg("method=scratch", "debug=smoke", "target_task.age_gap=false")
    run(cfg)
    record = json.loads((Path(cfg.output_dir) / "metrics.json").read_text())["metrics"]
    assert not any(k.startswith("bias/") or "gap" in k for k in record)


def _grouped(shift: float, n: int = 400, seed: int = 0) -> pd.DataFrame:
    """val and test predictions with a planted bias; the group's predictions ``shift`` higher."""
    rng = np.random.default_rng(seed)
    frames = []
    for split in ("val", "test"):
        age = rng.uniform(20, 80, n)
        group = rng.random(n) < 0.2
        pred = 0.6 * age + 20 + rng.normal(0, 3, n) + shift * group
        frames.append(
            pd.DataFrame(
                {"split": split, "y_true": age, "y_pred": pred, "group": group.astype(int)}
            )
        )
    return pd.concat(frames, ignore_index=True)


def test_the_gap_flags_a_planted_group_and_chance_without_one() -> None:
    from sklearn.metrics import roc_auc_score

    metrics, out = brain_age(_grouped(shift=6.0), band_width=10)
    test = out[out["split"] == "test"]
    assert metrics["test/gap_auroc"] == pytest.approx(
        roc_auc_score(test["group"], test["gap_corrected"])
    )
    assert metrics["test/gap_auroc"] > 0.9 and metrics["test/gap_d"] > 2
    assert metrics["test/group_n"] == test["group"].sum()
    # the raw gap is confounded by age (regression to the mean): the corrected one flags better
    assert metrics["test/gap_auroc"] > metrics["test/gap_auroc_raw"]
    null, _ = brain_age(_grouped(shift=0.0), band_width=10)
    assert abs(null["test/gap_auroc"] - 0.5) < 0.1 and abs(null["test/gap_d"]) < 0.35
    plain, _ = brain_age(_grouped(shift=6.0).drop(columns="group"), band_width=10)
    assert not [k for k in plain if "auroc" in k or k.endswith("gap_d")]


def test_the_group_column_is_found_checked_or_left_off() -> None:
    table = pd.DataFrame(
        {"age": [30.0, 50.0, 70.0], "diagnosis": ["control", "accelerated", "control"]},
        index=["a", "b", "c"],
    )
    task = Task("target_task", "age", "regression")
    task.check(table)
    assert task.group_column == "diagnosis"
    assert task.in_group(table, ["b", "c"]).tolist() == [True, False]
    other = table.assign(diagnosis=["CN", "AD", "CN"])
    task.check(other)
    assert task.group_column is None  # other labels: named with gap_positive
    named = Task("target_task", "age", "regression", gap_positive="AD")
    named.check(other)
    assert named.in_group(other, ["a", "b"]).tolist() == [False, True]
    with pytest.raises(ConfigError, match=r"target_task.gap_positive=MCI .*AD, CN"):
        Task("target_task", "age", "regression", gap_positive="MCI").check(other)
    with pytest.raises(ConfigError, match=r"target_task.gap_group=dx: no such column"):
        Task("target_task", "age", "regression", gap_group="dx").check(table)
    with pytest.raises(ConfigError, match=r"gap_group=diagnosis: .*needs target_task.age_gap"):
        Task("target_task", "age", "regression", age_gap=False, gap_group="diagnosis").check(table)
