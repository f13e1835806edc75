"""The trivial predictor a run's final scores are read against, scored beside them.

It is fitted on the run's target *training* labels only and never sees an image: the training
mean for regression (``DummyRegressor``), the training class frequencies for classification
(``DummyClassifier(strategy="prior")``: it predicts the majority class, and its probabilities
are the frequencies, the same for every subject, so its AUROC is 0.5). It is scored with the
network's own metric functions on the same subjects, as ``baseline/<role>/<metric>``
(``baseline/test/mae``), so a table can show how far a method got above knowing the label
distribution alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from tlsweep.data.splits import Splits
from tlsweep.data.tasks import Task
from tlsweep.train.metrics import (
    classification_metrics,
    regression_metrics,
    warn_missing_classes,
)

PREFIX = "baseline"  # metrics keys: baseline/<role>/<metric>


def trivial_scores(task: Task, y_train: pd.Series, y_eval: pd.Series) -> dict[str, float]:
    """Metrics of the trivial predictor fitted on ``y_train``, on ``y_eval``.

    Args:
        task: the checked task (its classes, for classification).
        y_train: training labels, as in the participants table.
        y_eval: labels of the subjects it is scored on, as in the participants table.

    Returns:
        The task's metrics (unprefixed: ``mae``, ``auroc``, ...).
    """
    from sklearn.dummy import DummyClassifier, DummyRegressor

    fit_x, eval_x = np.zeros((len(y_train), 1)), np.zeros((len(y_eval), 1))
    if task.is_classification:
        model = DummyClassifier(strategy="prior").fit(fit_x, task.encode(y_train))
        probs = np.zeros((len(y_eval), task.out_features))
        probs[:, model.classes_] = model.predict_proba(eval_x)  # classes absent in training: 0
        return classification_metrics(task.encode(y_eval), probs)
    model = DummyRegressor(strategy="mean").fit(fit_x, y_train.to_numpy(np.float64))
    return regression_metrics(y_eval.to_numpy(np.float64), model.predict(eval_x))


def final_baselines(
    task: Task, table: pd.DataFrame, splits: Splits, roles: Sequence[str]
) -> dict[str, float]:
    """``baseline/<role>/<metric>`` for each of ``roles``, fitted on ``splits["train"]``.

    A classification role that lacks a class is warned about here, once per run (the model's
    and the baseline's per-class metrics are NaN there): the per-epoch validation scores stay
    silent.

    Args:
        task: the target task, checked and scaled.
        table: the participants table (the target labels, never shuffled).
        splits: the run's splits.
        roles: the roles scored, ``val`` and, outside tuning, ``test``.
    """
    y_train = table.loc[splits["train"], task.column]
    scores = {}
    for role in roles:
        y_eval = table.loc[splits[role], task.column]
        if task.is_classification:
            warn_missing_classes(role, task.encode(y_eval), task.classes)
        values = trivial_scores(task, y_train, y_eval)
        scores |= {f"{PREFIX}/{role}/{name}": value for name, value in values.items()}
    return scores
