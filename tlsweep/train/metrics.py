"""Evaluation metrics, named ``split/name`` everywhere (``val/mae``, ``test/f1``).

Computed with scikit-learn and SciPy rather than by hand.
"""

from __future__ import annotations

import math

import numpy as np

REGRESSION_METRICS = ("mae", "rmse", "r2", "pearson_r")
CLASSIFICATION_METRICS = ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "auroc")
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


def classification_metrics(y_true: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    """Accuracy, balanced accuracy, precision, recall, F1 and AUROC.

    Args:
        y_true: class indices (N,).
        probs: class probabilities (N, n_classes).

    Binary tasks report precision/recall/F1 of class 1 (the second class in sorted order);
    multi-class tasks their macro average. AUROC is NaN when only one class is present.
    """
    from sklearn.metrics import (
        accuracy_score,
        balanced_accuracy_score,
        precision_recall_fscore_support,
        roc_auc_score,
    )

    n_classes = probs.shape[1]
    y_pred = probs.argmax(1)
    average = "binary" if n_classes == 2 else "macro"
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true,
        y_pred,
        average=average,
        labels=range(n_classes) if n_classes > 2 else None,
        zero_division=0,
    )
    if len(np.unique(y_true)) < 2:
        auroc = math.nan
    elif n_classes == 2:
        auroc = roc_auc_score(y_true, probs[:, 1])
    else:
        auroc = roc_auc_score(y_true, probs, multi_class="ovr", labels=range(n_classes))
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "auroc": float(auroc),
    }
