"""Metric edge cases: the positive class of a binary task, a set that lacks a class, and the
trivial predictor every final score is read against."""

from __future__ import annotations

import json
import logging
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import recall_score, roc_auc_score

from tlsweep.data.splits import Splits
from tlsweep.data.tasks import Task
from tlsweep.errors import ConfigError
from tlsweep.train.baseline import final_baselines, trivial_scores
from tlsweep.train.metrics import (
    CLASSIFICATION_METRICS,
    PER_CLASS_METRICS,
    classification_metrics,
    warn_missing_classes,
)


@pytest.fixture
def table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    ids = [f"sub-{i:03d}" for i in range(40)]
    return pd.DataFrame(
        {
            "sex": ["F", "M"] * 20,
            "site": ["a", "b", "c", "a"] * 10,
            "age": rng.uniform(20, 80, 40).round(1),
        },
        index=pd.Index(ids, name="participant_id"),
    )


def _task(table: pd.DataFrame, column: str = "sex", **kwargs: object) -> Task:
    kind = "regression" if column == "age" else "classification"
    task = Task("target_task", column=column, type=kind, **kwargs)
    task.check(table)
    return task


# --- the positive class -------------------------------------------------------------------


def test_the_default_positive_class_is_the_second_label_in_sorted_order(table) -> None:  # noqa: ANN001
    assert _task(table).classes == ["F", "M"]
    assert _task(table, positive="F").classes == ["M", "F"]  # positive is class index 1
    assert _task(table, positive="M").classes == ["F", "M"]


def test_the_positive_class_decides_recall_and_precision_not_auroc(table) -> None:  # noqa: ANN001
    """Recall of M is sensitivity, recall of F specificity; binary AUROC is symmetric (the
    scores of one class are one minus the other's), so it does not change."""
    labels = pd.Series(["M", "M", "M", "F", "F", "F", "F", "F"])
    p_male = np.array([0.9, 0.8, 0.3, 0.6, 0.2, 0.1, 0.4, 0.3])
    got = {}
    for positive in ("M", "F"):
        task = _task(table, positive=positive)
        p_pos = p_male if positive == "M" else 1 - p_male
        probs = np.c_[1 - p_pos, p_pos]
        got[positive] = classification_metrics(task.encode(labels), probs)
        truth = (labels == positive).to_numpy()
        assert got[positive]["recall"] == pytest.approx(recall_score(truth, p_pos > 0.5))
    assert got["M"]["recall"] == pytest.approx(2 / 3)  # sensitivity
    assert got["F"]["recall"] == pytest.approx(4 / 5)  # specificity
    assert got["M"]["precision"] != got["F"]["precision"]
    assert got["M"]["auroc"] == pytest.approx(got["F"]["auroc"])
    assert got["M"]["accuracy"] == got["F"]["accuracy"]


@pytest.mark.parametrize(
    ("column", "positive", "message"),
    [
        ("sex", "X", r"target_task.positive=X: not a label of column sex; labels: F, M"),
        ("sex", 1, r"target_task.positive=1: not a label of column sex; labels: F, M"),
        ("site", "a", r"target_task.positive=a: only a binary task .* 3 labels: a, b, c"),
        ("age", "M", r"target_task.positive=M: only a binary classification task"),
    ],
)
def test_a_positive_class_that_is_no_binary_label_is_refused(
    table: pd.DataFrame, column: str, positive: object, message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        _task(table, column, positive=positive)
    assert "\n" not in str(info.value)


def test_a_numeric_label_matches_its_text(table: pd.DataFrame) -> None:
    table = table.assign(sick=[0, 1] * 20)
    assert _task(table, "sick", positive=0).classes == ["1", "0"]


# --- a set that lacks a class -------------------------------------------------------------


def test_a_binary_set_with_one_class_scores_accuracy_and_nan_per_class() -> None:
    probs = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    got = classification_metrics(np.array([0, 0, 0]), probs)
    assert got["accuracy"] == pytest.approx(2 / 3)
    assert set(got) == set(CLASSIFICATION_METRICS)
    assert all(math.isnan(got[name]) for name in PER_CLASS_METRICS), got


def test_a_multiclass_set_that_lacks_a_class_scores_nan_per_class_silently() -> None:
    """Not sklearn's macro averages, which count the absent class's recall as 0 (here 2/3),
    nor its one-vs-rest AUROC, which warns (older versions raise)."""
    probs = np.array([[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.5, 0.4, 0.1]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = classification_metrics(np.array([0, 1, 1, 0]), probs)  # class 2 absent
    assert got["accuracy"] == pytest.approx(1.0)
    assert all(math.isnan(got[name]) for name in PER_CLASS_METRICS), got
    full = classification_metrics(np.array([0, 1, 2, 0]), probs)  # every class: all finite
    assert all(math.isfinite(v) for v in full.values()), full


def test_a_missing_class_is_warned_about_by_split_and_label(caplog) -> None:  # noqa: ANN001
    with caplog.at_level(logging.WARNING, logger="tlsweep.train.metrics"):
        assert warn_missing_classes("test", np.array([0, 0, 2]), ["a", "b", "c"]) == ["b"]
        assert warn_missing_classes("val", np.array([0, 1, 2]), ["a", "b", "c"]) == []
    (record,) = caplog.records
    assert "the test set (3 subjects) has no subject of class 'b'" in record.getMessage()
    assert "auroc" in record.getMessage()


def test_final_baselines_warn_once_per_role_that_lacks_a_class(table, caplog) -> None:  # noqa: ANN001
    task = _task(table, "site")
    ids = list(table.index)
    # val: sites a and b only; test: every site
    val = [i for i in ids[20:32] if table.site[i] != "c"]
    splits = Splits({"train": ids[:20], "val": val, "test": ids[32:]})
    with caplog.at_level(logging.WARNING, logger="tlsweep.train.metrics"):
        scores = final_baselines(task, table, splits, ["val", "test"])
    (record,) = caplog.records
    assert "the val set" in record.getMessage() and "'c'" in record.getMessage()
    assert math.isnan(scores["baseline/val/auroc"]) and math.isfinite(
        scores["baseline/val/accuracy"]
    )
    assert scores["baseline/test/auroc"] == pytest.approx(0.5)


# --- the trivial predictor ----------------------------------------------------------------


def test_the_regression_baseline_predicts_the_training_mean(table: pd.DataFrame) -> None:
    task = _task(table, "age")
    train, test = table.age.iloc[:30], table.age.iloc[30:]
    got = trivial_scores(task, train, test)
    assert got["mae"] == pytest.approx((test - train.mean()).abs().mean())
    assert got["rmse"] == pytest.approx(np.sqrt(((test - train.mean()) ** 2).mean()))
    assert got["r2"] <= 0.0  # the test set's own mean would score 0
    assert math.isnan(got["pearson_r"])  # a constant prediction correlates with nothing


def test_the_classification_baseline_predicts_training_frequencies(table: pd.DataFrame) -> None:
    task = _task(table, "site")  # training frequencies a 1/2, b 1/4, c 1/4
    got = trivial_scores(task, table.site.iloc[:20], table.site.iloc[20:])
    assert got["accuracy"] == pytest.approx((table.site.iloc[20:] == "a").mean())  # majority
    assert got["auroc"] == pytest.approx(0.5)
    assert got["balanced_accuracy"] == pytest.approx(1 / 3)
    binary = trivial_scores(_task(table), table.sex.iloc[:21], table.sex.iloc[21:])
    assert binary["auroc"] == pytest.approx(0.5)


def test_a_final_run_records_the_baseline_on_val_and_test(make_cfg) -> None:  # noqa: ANN001
    """Scored on the run's own subjects, fitted on its training labels only."""
    from tlsweep.run import run

    cfg = make_cfg("method=scratch", "debug=smoke")
    run(cfg)
    out = Path(cfg.output_dir)
    record = json.loads((out / "metrics.json").read_text())["metrics"]
    roles = pd.read_csv(out / "splits.csv").groupby("role").participant_id.apply(list)
    labels = _labels(cfg)
    mean = labels[roles["train"]].mean()
    for role in ("val", "test"):
        truth = labels[roles[role]]
        assert record[f"baseline/{role}/mae"] == pytest.approx((truth - mean).abs().mean())
        assert f"{role}/mae" in record
    assert math.isnan(record["baseline/test/pearson_r"])


def _labels(cfg) -> pd.Series:  # noqa: ANN001
    from hydra.utils import instantiate

    return instantiate(cfg.dataset).load(progress=False).table[cfg.target_task.column]


def test_a_positive_class_from_the_config_reaches_the_metrics(make_cfg) -> None:  # noqa: ANN001
    """``target_task.positive=F``: recall and AUROC are those of F, from the predictions."""
    from tlsweep.run import run

    cfg = make_cfg(
        "method=scratch",
        "debug=smoke",
        "target_task.column=sex",
        "target_task.type=classification",
        "target_task.positive=F",
        "objective=val/accuracy",
        "direction=maximize",
    )
    run(cfg)
    out = Path(cfg.output_dir)
    record = json.loads((out / "metrics.json").read_text())["metrics"]
    test = pd.read_csv(out / "predictions.csv").query("split == 'test'")
    female = (test.y_true == "F").to_numpy()
    assert record["test/recall"] == pytest.approx(recall_score(female, test.y_pred == "F"))
    assert record["test/auroc"] == pytest.approx(roc_auc_score(female, test.prob_F))
    assert record["baseline/test/auroc"] == pytest.approx(0.5)
    assert list(test.columns[-2:]) == ["prob_M", "prob_F"]  # F is class index 1
