"""Predictions and metrics for a trained network on one role of the split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from tlsweep.data.tasks import Task
from tlsweep.train.data import Subset, to_device
from tlsweep.train.metrics import classification_metrics, regression_metrics


@torch.no_grad()
def predict(
    model: nn.Module, data: Subset, device: torch.device, batch_size: int = 32
) -> np.ndarray:
    """Raw network outputs (N, out_features) as float64, in eval mode."""
    was_training = model.training
    model.eval()
    outputs = [
        model(to_device(data.images[i : i + batch_size], device)).float().cpu()
        for i in range(0, len(data), batch_size)
    ]
    model.train(was_training)
    return torch.cat(outputs).double().numpy()


def evaluate(
    model: nn.Module, data: Subset, task: Task, split: str, device: torch.device
) -> tuple[dict[str, float], pd.DataFrame]:
    """Metrics named ``split/metric`` and per-subject predictions in original units.

    Returns:
        The metrics, and a frame with participant_id, split, y_true, y_pred (and one
        ``prob_<class>`` column per class for classification).
    """
    outputs = predict(model, data, device)
    targets = data.targets.numpy()
    frame = pd.DataFrame({"participant_id": data.ids, "split": split})
    if task.is_classification:
        probs = torch.softmax(torch.from_numpy(outputs), dim=1).numpy()
        metrics = classification_metrics(targets, probs)
        frame["y_true"] = [task.classes[i] for i in targets]
        frame["y_pred"] = [task.classes[i] for i in probs.argmax(1)]
        for i, name in enumerate(task.classes):
            frame[f"prob_{name}"] = probs[:, i]
    else:
        y_true, y_pred = task.decode(targets.astype(np.float64)), task.decode(outputs[:, 0])
        metrics = regression_metrics(y_true, y_pred)
        frame["y_true"], frame["y_pred"] = y_true, y_pred
    return {f"{split}/{k}": v for k, v in metrics.items()}, frame
