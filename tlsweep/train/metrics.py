"""Evaluation metrics, named ``split/name`` everywhere (``val/mae``, ``test/f1``).

Computed with scikit-learn and SciPy rather than by hand. A classification set that lacks a
class scores NaN on every per-class metric (see :func:`classification_metrics`) instead of a
number that depends on how an undefined ratio is filled in, or a crash.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np

log = logging.getLogger(__name__)

REGRESSION_METRICS = ("mae", "rmse", "r2", "pearson_r")
CLASSIFICATION_METRICS = ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "auroc")
#: undefined when a class has no member in y_true (its recall, or a one-class ROC curve)
PER_CLASS_METRICS = ("balanced_accuracy", "precision", "recall", "f1", "auroc")
MAXIMIZE = {"r2", "pearson_r", *CLASSIFICATION_METRICS}


def metric_names(is_classification: bool) -> tuple[str, ...]:
    """The metric names a task of that kind reports."""
    return CLASSIFICATION_METRICS if is_classification else REGRESSION_METRICS


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """MAE, RMSE, R² and Pearson r, in the target's original units."""
    from scipy.stats import pearsonr
    from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error

    constant = np.ptp(y_pred) == 0 or np.ptp(y_true) == 0
    return {
        "mae": float(mean_absolute_error(y_true, y_pred)),
        "rmse": float(root_mean_squared_error(y_true, y_pred)),
        "r2": float(r2_score(y_true, y_pred)) if len(y_true) > 1 else math.nan,
        "pearson_r": math.nan if constant else float(pearsonr(y_true, y_pred).statistic),
    }


def missing_classes(y_true: np.ndarray, n_classes: int) -> list[int]:
    """The class indices in ``range(n_classes)`` with no member in ``y_true``."""
    return sorted(set(range(n_classes)) - {int(c) for c in np.unique(y_true)})


def classification_metrics(y_true: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    """Accuracy, balanced accuracy, precision, recall, F1 and AUROC.

    Binary tasks report precision/recall/F1 and AUROC of class 1, the positive class: the task's
    ``positive`` label, by default the second label in sorted order (see
    :class:`tlsweep.data.tasks.Task`). Multi-class tasks report the macro averages and the
    one-vs-rest AUROC. When a class has no member in ``y_true`` (a small validation or test set)
    the :data:`PER_CLASS_METRICS` are NaN and only accuracy is scored; the caller says so once
    (:func:`warn_missing_classes`), since this runs every epoch.

    Args:
        y_true: class indices (N,).
        probs: class probabilities (N, n_classes).
    """
    from sklearn.metrics import accuracy_score

    y_pred = probs.argmax(1)
    scores = {"accuracy": float(accuracy_score(y_true, y_pred))}
    if missing_classes(y_true, probs.shape[1]):
        return scores | dict.fromkeys(PER_CLASS_METRICS, math.nan)
    return scores | _per_class(y_true, y_pred, probs)


def _per_class(y_true: np.ndarray, y_pred: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    """The :data:`PER_CLASS_METRICS` of a set in which every class is present."""
    from sklearn.metrics import (
        balanced_accuracy_score,
        precision_recall_fscore_support,
        roc_auc_score,
    )

    n_classes = probs.shape[1]
    binary = n_classes == 2
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true,
        y_pred,
        average="binary" if binary else "macro",
        labels=None if binary else range(n_classes),
        zero_division=0,  # nothing predicted as the class: its precision counts as 0
    )
    if binary:
        auroc = roc_auc_score(y_true, probs[:, 1])
    else:
        auroc = roc_auc_score(y_true, probs, multi_class="ovr", labels=range(n_classes))
    return {
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "auroc": float(auroc),
    }


def warn_missing_classes(split: str, y_true: np.ndarray, classes: Sequence[str]) -> list[str]:
    """Log one warning when the ``split`` set lacks a class; return the missing class labels.

    Args:
        split: the set's role (``val``, ``test``), named in the warning.
        y_true: the set's class indices.
        classes: the task's class labels, indexed as ``y_true``.
    """
    missing = [str(classes[i]) for i in missing_classes(y_true, len(classes))]
    if missing:
        log.warning(
            "the %s set (%d subjects) has no subject of class %s: its %s are NaN (accuracy is "
            "scored)",
            split,
            len(y_true),
            ", ".join(repr(c) for c in missing),
            ", ".join(PER_CLASS_METRICS),
        )
    return missing
