"""Prediction tasks read from the participants table: label checks, encoding, scaling.

A :class:`Task` turns a table column into model targets (class indices, or standardised floats
for regression) and model outputs back into predictions in the original units.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tlsweep.errors import ConfigError, bad_column, bad_option
from tlsweep.schemas import TASK_TYPES


@dataclass
class Task:
    """One task of a study (``source_task`` or ``target_task``).

    Args:
        key: the config key it came from, used in error messages.
        column: participants-table column holding the label.
        type: ``classification`` or ``regression``.
        loss: ``auto`` or a regression loss name.
    """

    key: str
    column: str
    type: str
    loss: str = "auto"
    shuffle_labels: bool = False
    classes: list[str] = field(default_factory=list)
    mean: float = 0.0
    std: float = 1.0

    @property
    def is_classification(self) -> bool:
        return self.type == "classification"

    @property
    def out_features(self) -> int:
        """Width of the head's output: one logit per class, or one value."""
        return len(self.classes) if self.is_classification else 1

    def check(self, table: pd.DataFrame) -> None:
        """Validate the label column against the table and learn the class list.

        Raises:
            ConfigError: unknown type, missing column, non-numeric regression labels, or fewer
                than two classes.
        """
        if self.type not in TASK_TYPES:
            raise bad_option(f"{self.key}.type", self.type, TASK_TYPES)
        if self.column not in table.columns:
            raise bad_column(
                f"{self.key}.column", self.column, table.columns, "the participants table"
            )
        values = table[self.column].dropna()
        if self.is_classification:
            self.classes = sorted(values.astype(str).unique())
            if len(self.classes) < 2:
                raise ConfigError(
                    f"{self.key}.column={self.column}: classification needs at least two classes, "
                    f"found {self.classes}"
                )
        elif not pd.api.types.is_numeric_dtype(values):
            bad = values[pd.to_numeric(values, errors="coerce").isna()].iloc[0]
            raise ConfigError(
                f"{self.key}.column={self.column}: regression needs numeric labels, found {bad!r}"
            )

    def labelled(self, table: pd.DataFrame) -> pd.Index:
        """Participant ids that carry this task's label."""
        return table.index[table[self.column].notna()]

    def fit_scaler(self, values: pd.Series) -> None:
        """Learn the standardisation of a regression target from the training labels only."""
        if not self.is_classification:
            self.mean = float(values.mean())
            self.std = float(values.std(ddof=0)) or 1.0

    def encode(self, values: pd.Series) -> np.ndarray:
        """Labels → model targets: class indices (int64) or standardised floats (float32)."""
        if self.is_classification:
            lookup = {c: i for i, c in enumerate(self.classes)}
            return values.astype(str).map(lookup).to_numpy(np.int64, copy=True)
        return ((values.to_numpy(np.float64, copy=True) - self.mean) / self.std).astype(np.float32)

    def decode(self, targets: np.ndarray) -> np.ndarray:
        """Standardised regression outputs → original units (classification unchanged)."""
        return targets if self.is_classification else targets * self.std + self.mean
