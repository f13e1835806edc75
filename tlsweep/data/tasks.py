"""Prediction tasks read from the participants table: label checks, encoding, scaling.

A :class:`Task` turns a table column into model targets (class indices, or standardised floats
for regression) and model outputs back into predictions in the original units. A source task
with ``shuffle_labels`` is a negative control: :meth:`Task.shuffled` permutes its labels among the
source subjects, so supervised pretraining on them has nothing to transfer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tlsweep.errors import ConfigError, bad_column, bad_option
from tlsweep.schemas import TASK_TYPES

# Mixed into the split seed, so the label permutation is its own random stream.
SHUFFLE_STREAM = 0x5F1E


@dataclass
class Task:
    """One task of a study (``source_task`` or ``target_task``).

    Args:
        key: the config key it came from, used in error messages.
        column: participants-table column holding the label.
        type: ``classification`` or ``regression``.
        loss: ``auto`` or a regression loss name.
        shuffle_labels: permute the labels among the source subjects before any use (source
            task only; see :meth:`shuffled`).
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
            ConfigError: unknown type, missing column, non-numeric regression labels, fewer
                than two classes, or ``shuffle_labels`` on a task that is not the source task.
        """
        if self.shuffle_labels and self.key != "source_task":
            raise ConfigError(
                f"{self.key}.shuffle_labels=true: only source_task labels can be shuffled "
                "(a negative control for pretraining); target labels are never changed"
            )
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

    def shuffled(self, table: pd.DataFrame, ids: list[str], seed: int) -> pd.DataFrame:
        """The table with this task's labels permuted among ``ids`` (if ``shuffle_labels``).

        Only the rows of ``ids`` (the source and source-validation subjects) and only this
        task's column change, so no target-role label is touched, even when the source and
        target columns are the same; the labels' values and counts are kept. The permutation
        is a pure function of ``seed`` (the split seed) and ``ids``.

        Args:
            table: participants table indexed by participant id.
            ids: the subjects whose labels are permuted among themselves.
            seed: the split seed.

        Returns:
            ``table`` itself when ``shuffle_labels`` is false, else a shuffled copy.
        """
        if not self.shuffle_labels:
            return table
        order = np.random.default_rng([seed, SHUFFLE_STREAM]).permutation(len(ids))
        out = table.copy()
        out.loc[list(ids), self.column] = table.loc[list(ids), self.column].to_numpy()[order]
        return out

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
