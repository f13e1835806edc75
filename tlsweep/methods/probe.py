"""Source-side scores of a pretrained encoder: the source-task head's, or a linear probe's.

Stage 1 of ``hpo.stage=source_then_target`` tunes pretraining settings on the source task,
never on the target. A supervised pretraining has a source-task head, scored as it is
(:func:`source_task_scores`); a self-supervised one has none, so a linear model is fitted on its
frozen, pooled features of the ``source`` role and scored on ``source_val``
(:func:`linear_probe`). Both report the task's metrics as ``source_val/<metric>`` plus
``source_val/loss`` (log loss for classification, mean squared error in the label's units for
regression): lower is better, the default stage-1 objective.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from tlsweep.data.tasks import Task
from tlsweep.train.data import Subset
from tlsweep.train.evaluate import predict
from tlsweep.train.metrics import classification_metrics, regression_metrics

SPLIT = "source_val"


def source_task_scores(
    model: nn.Module, val: Subset, task: Task, device: torch.device
) -> dict[str, float]:
    """Metrics and loss of a network (encoder plus source-task head) on ``val``."""
    outputs = predict(model, val, device)
    if task.is_classification:
        probs = torch.softmax(torch.from_numpy(outputs), dim=1).numpy()
        return _classification(val.targets.numpy(), probs)
    return _regression(task, val.targets.numpy(), outputs[:, 0])


def linear_probe(
    encoder: nn.Module, train: Subset, val: Subset, task: Task, device: torch.device
) -> dict[str, float]:
    """Fit a linear model of ``task`` on frozen pooled features of ``train``; score on ``val``.

    Features are standardised (statistics of ``train``); classification uses an L2-regularised
    logistic regression (C=1), regression a ridge regression (alpha=1) of the standardised
    target. Both are deterministic.

    Args:
        encoder: maps ``(B, C, *spatial)`` to pooled features ``(B, F)``; used in eval mode, no
            grad.
        train: images with ``task``'s targets, to fit the probe.
        val: images with ``task``'s targets, to score it.
        task: the source task.
        device: where the encoder runs.
    """
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x_train, x_val = predict(encoder, train, device), predict(encoder, val, device)
    y_train, y_val = train.targets.numpy(), val.targets.numpy()
    if not task.is_classification:
        probe = make_pipeline(StandardScaler(), Ridge(alpha=1.0)).fit(x_train, y_train)
        return _regression(task, y_val, probe.predict(x_val))
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))
    probe.fit(x_train, y_train)
    probs = np.zeros((len(y_val), task.out_features))
    probs[:, probe.classes_] = probe.predict_proba(x_val)  # a class absent from train gets 0
    return _classification(y_val, probs)


def _classification(y_true: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import log_loss

    metrics = classification_metrics(y_true, probs)
    clipped = np.clip(probs, 1e-15, 1.0)
    metrics["loss"] = float(
        log_loss(y_true, clipped / clipped.sum(1, keepdims=True), labels=range(probs.shape[1]))
    )
    return {f"{SPLIT}/{k}": v for k, v in metrics.items()}


def _regression(task: Task, targets: np.ndarray, outputs: np.ndarray) -> dict[str, float]:
    y_true = task.decode(targets.astype(np.float64))
    y_pred = task.decode(np.asarray(outputs, dtype=np.float64))
    metrics = regression_metrics(y_true, y_pred)
    metrics["loss"] = float(np.mean((y_true - y_pred) ** 2))
    return {f"{SPLIT}/{k}": v for k, v in metrics.items()}
