"""What a run, a method and the training loop may ask of experiment tracking.

:class:`RunTracker` is the interface; :class:`~tlsweep.tracking.mlflow_tracker.Tracker` is the
real one (an MLflow run) and :class:`NullTracker` the one for ``tracking.enabled=false`` and for
tests. This module imports nothing heavy, so the training loop and the methods can name the type
without importing MLflow (the data flow is ``run → methods → train → tracking``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class RunTracker(Protocol):
    """One tracked run, opened by ``with tracker:`` and ended when the block exits.

    The logging methods are called inside the ``with`` block; non-finite metric values are
    skipped, not errors.

    Attributes:
        run_id: the run's id once entered (None for a null tracker).
        uri: the store the run lives in (None for a null tracker).
        tags: the tags the run was created with (``method``, ``encoder``, ``tlsweep.cell``…).
    """

    run_id: str | None
    uri: str | None
    tags: Mapping[str, str]

    def __enter__(self) -> RunTracker: ...

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> None: ...

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record flat ``{"a.b": value}`` parameters (values are stringified)."""

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Record scalar metrics at ``step`` (an epoch; None = 0)."""

    def log_artifact(self, path: Path, folder: str | None = None) -> None:
        """Attach a file to the run, under ``folder`` if given."""

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Add or overwrite tags (values are stringified)."""

    def log_datasets(self, name: str, digests: Mapping[str, str]) -> None:
        """Record the data the run used as its inputs: ``{context: digest}``, e.g. the cohort's
        (``cohort``) and each split role's (``train``, ``val``, ``test``…) under ``name``."""

    def link_pretraining(self, run_id: str, uri: str | None) -> None:
        """Tag the pretraining run ``run_id`` (when in the same store) with this run's cell."""

    def open_sibling(self, run_name: str, tags: Mapping[str, Any]) -> RunTracker:
        """Another run in the same experiment and store, not yet entered."""


class NullTracker:
    """Tracking switched off: every call does nothing."""

    run_id: str | None = None
    uri: str | None = None

    def __init__(self) -> None:
        self.tags: dict[str, str] = {}

    def __enter__(self) -> NullTracker:
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> None:
        return None

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Do nothing."""

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Do nothing."""

    def log_artifact(self, path: Path, folder: str | None = None) -> None:
        """Do nothing."""

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Do nothing."""

    def log_datasets(self, name: str, digests: Mapping[str, str]) -> None:
        """Do nothing."""

    def link_pretraining(self, run_id: str, uri: str | None) -> None:
        """Do nothing."""

    def open_sibling(self, run_name: str, tags: Mapping[str, Any]) -> NullTracker:
        """Another null tracker."""
        return NullTracker()
