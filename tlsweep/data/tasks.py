"""Prediction tasks read from the participants table: label checks, encoding, scaling.

A :class:`Task` turns a table column into model targets (class indices, or standardised floats
for regression) and model outputs back into predictions in the original units. A source task
with ``shuffle_labels`` is a negative control: :meth:`Task.shuffled` permutes its labels among the
source subjects, so supervised pretraining on them has nothing to transfer. A binary task's
positive class (the one precision, recall, F1 and AUROC are of) is its ``positive`` label, by
default the second label in sorted order; it is always class index 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tlsweep.errors import ConfigError, bad_column, bad_option
from tlsweep.schemas import TASK_TYPES

# Mixed into the split seed, so the label permutation is its own random stream.
SHUFFLE_STREAM = 0x5F1E


#: The participants column and label of a group the brain-age gap should flag, by default:
#: the synthetic cohort's planted accelerated-ageing group (``dataset.accelerated_fraction``).
GROUP_COLUMN, GROUP_POSITIVE, GROUP_NEGATIVE = "diagnosis", "accelerated", "control"


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
        positive: a binary task's positive label (compared as text, so ``1`` matches ``"1"``);
            None: the second label in sorted order (``M`` of ``F``/``M``, ``1`` of ``0``/``1``).
        age_gap: brain-age outputs for a regression target
            (:mod:`tlsweep.train.brain_age`); None: on for a regression target in column
            ``age`` (see :attr:`brain_age`).
        band_width: width of the bands of the brain-age MAE per band, in the target's units.
        gap_group: participants column of a group whose brain-age gap should be higher (a
            diagnosis); None: :data:`GROUP_COLUMN` when the table has it with ``gap_positive``
            among its values, else none. Runs that score test then measure how well the
            bias-corrected gap separates the group (:mod:`tlsweep.train.brain_age`).
        gap_positive: that group's label in ``gap_group``; None: :data:`GROUP_POSITIVE`.
    """

    key: str
    column: str
    type: str
    loss: str = "auto"
    shuffle_labels: bool = False
    positive: str | None = None
    age_gap: bool | None = None
    band_width: float = 10.0
    gap_group: str | None = None
    gap_positive: str | None = None
    classes: list[str] = field(default_factory=list)
    group_column: str | None = None  # the resolved gap_group (set by check), None: no group
    mean: float = 0.0
    std: float = 1.0

    @property
    def is_classification(self) -> bool:
        return self.type == "classification"

    @property
    def brain_age(self) -> bool:
        """Whether runs report brain-age outputs: ``age_gap``, or when None, a regression
        target in column ``age``."""
        if self.age_gap is None:
            return not self.is_classification and self.column == "age"
        return self.age_gap

    @property
    def out_features(self) -> int:
        """Width of the head's output, one logit per class or one value."""
        return len(self.classes) if self.is_classification else 1

    def check(self, table: pd.DataFrame) -> None:
        """Validate the label column against the table and learn the class list.

        The class list is sorted, except that a binary task's ``positive`` label goes last
        (class index 1, the one its precision, recall, F1 and AUROC are of).

        Raises:
            ConfigError: unknown type, missing column, non-numeric regression labels, fewer
                than two classes, ``shuffle_labels`` on a task that is not the source task,
                a ``positive`` label that is not one of a binary task's two labels, or
                ``age_gap`` on a classification task.
        """
        if self.shuffle_labels and self.key != "source_task":
            raise ConfigError(
                f"{self.key}.shuffle_labels=true: only source_task labels can be shuffled "
                "(a negative control for pretraining); target labels are never changed"
            )
        if self.type not in TASK_TYPES:
            raise bad_option(f"{self.key}.type", self.type, TASK_TYPES)
        if self.age_gap and self.is_classification:
            raise ConfigError(
                f"{self.key}.age_gap=true: a brain-age gap needs a regression target; "
                f"{self.key}.type=classification"
            )
        if not self.band_width > 0:
            raise ConfigError(f"{self.key}.band_width={self.band_width}: must be > 0")
        if self.column not in table.columns:
            raise bad_column(
                f"{self.key}.column", self.column, table.columns, "the participants table"
            )
        values = table[self.column].dropna()
        if self.is_classification:
            self.classes = self._class_list(values)
        elif self.positive is not None:
            raise ConfigError(
                f"{self.key}.positive={self.positive}: only a binary classification task has a "
                f"positive class ({self.key}.type={self.type})"
            )
        elif not pd.api.types.is_numeric_dtype(values):
            bad = values[pd.to_numeric(values, errors="coerce").isna()].iloc[0]
            raise ConfigError(
                f"{self.key}.column={self.column}: regression needs numeric labels, found {bad!r}"
            )
        self.group_column = self._group_column(table)

    @property
    def group_label(self) -> str:
        """The label of the group the gap should flag (``gap_positive`` or its default)."""
        return GROUP_POSITIVE if self.gap_positive is None else str(self.gap_positive)

    def in_group(self, table: pd.DataFrame, ids: list[str]) -> np.ndarray:
        """Whether each of ``ids`` belongs to the gap's group (all False without a group)."""
        if self.group_column is None:
            return np.zeros(len(ids), bool)
        return (table.loc[ids, self.group_column].astype(str) == self.group_label).to_numpy()

    def _group_column(self, table: pd.DataFrame) -> str | None:
        """The checked ``gap_group`` (see the class doc)."""
        explicit = self.gap_group is not None
        if explicit and not self.brain_age:
            raise ConfigError(
                f"{self.key}.gap_group={self.gap_group}: a group is flagged by the brain-age "
                f"gap, which needs {self.key}.age_gap on a regression target"
            )
        column = self.gap_group if explicit else GROUP_COLUMN
        if not self.brain_age or (not explicit and column not in table.columns):
            return None
        if column not in table.columns:
            raise bad_column(f"{self.key}.gap_group", column, table.columns, "the table")
        labels = sorted(table[column].dropna().astype(str).unique())
        if self.group_label not in labels:
            if not explicit and self.gap_positive is None:
                return None  # a diagnosis column of other labels: say which with gap_positive
            raise bad_option(f"{self.key}.gap_positive", self.group_label, labels)
        return column

    def _class_list(self, values: pd.Series) -> list[str]:
        """The labels in sorted order, a binary task's ``positive`` one moved to index 1."""
        labels = sorted(values.astype(str).unique())
        if len(labels) < 2:
            raise ConfigError(
                f"{self.key}.column={self.column}: classification needs at least two classes, "
                f"found {labels}"
            )
        if self.positive is None:
            return labels
        positive = str(self.positive)
        if len(labels) != 2:
            raise ConfigError(
                f"{self.key}.positive={positive}: only a binary task has a positive class; "
                f"column {self.column} has {len(labels)} labels: {', '.join(labels)}"
            )
        if positive not in labels:
            raise ConfigError(
                f"{self.key}.positive={positive}: not a label of column {self.column}; "
                f"labels: {', '.join(labels)}"
            )
        return [*(c for c in labels if c != positive), positive]

    def shuffled(
        self, table: pd.DataFrame, ids: list[str], seed: int, run_seed: int | None = None
    ) -> pd.DataFrame:
        """The table with this task's labels permuted among ``ids`` (if ``shuffle_labels``).

        Only the rows of ``ids`` (the source and source-validation subjects) and only this
        task's column change, so no target-role label is touched, even when the source and
        target columns are the same; the labels' values and counts are kept. The permutation
        is a pure function of ``seed`` (the split seed), ``run_seed`` and ``ids``: with the run
        seed given, each final seed of a benchmark (``seed=k``) draws its own permutation, so
        the control's spread over seeds includes the permutation's.

        Args:
            table: participants table indexed by participant id.
            ids: the subjects whose labels are permuted among themselves.
            seed: the split seed.
            run_seed: the run's seed (``seed``); None: one permutation per split seed.

        Returns:
            ``table`` itself when ``shuffle_labels`` is false, else a shuffled copy.
        """
        if not self.shuffle_labels:
            return table
        key = [seed, SHUFFLE_STREAM, *([] if run_seed is None else [run_seed])]
        order = np.random.default_rng(key).permutation(len(ids))
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
