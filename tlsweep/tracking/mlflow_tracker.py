"""One MLflow run per tlsweep run, written through ``MlflowClient`` with an explicit run id.

The client API (rather than MLflow's fluent, process-global "active run") lets a run open a
second run for a shared pretraining phase, or attach itself to a study's parent run, without
global state. ``tracking.enabled=false`` gives a
:class:`~tlsweep.tracking.protocol.NullTracker` instead (same interface:
:class:`~tlsweep.tracking.protocol.RunTracker`).
Every client comes from :func:`tlsweep.tracking.store.open_client`, which makes a fresh store
safe to open from many trials at once and fails fast on a dead server.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tlsweep.tracking.protocol import NullTracker

log = logging.getLogger(__name__)
__all__ = ["NullTracker", "Tracker", "experiment_id", "flatten", "log_values"]
MAX_PARAM_LENGTH = 500


def flatten(tree: Mapping[str, Any], prefix: str = "", skip: tuple[str, ...] = ()) -> dict:
    """Nested mapping → ``{"a.b.c": value}``, leaving out keys named in ``skip``."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if key in skip:
            continue
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}.", skip))
        else:
            flat[name] = value
    return flat


class Tracker:
    """An MLflow run, opened on ``__enter__`` and ended on ``__exit__``.

    The real :class:`~tlsweep.tracking.protocol.RunTracker`: it ends FINISHED, FAILED, or KILLED
    when the trial was pruned.

    Args:
        uri: tracking URI (``sqlite:///mlflow.db`` or ``http://host:port``).
        experiment: experiment name, created if missing.
        run_name: the run's display name.
        tags: initial tags (``mlflow.parentRunId`` makes it a child run).
        resume_run_id: continue this run instead of creating one (after a preemption).
    """

    def __init__(
        self,
        uri: str,
        experiment: str,
        run_name: str,
        tags: Mapping[str, Any],
        resume_run_id: str | None = None,
    ) -> None:
        from tlsweep.tracking.store import open_client

        self.client, self.uri = open_client(uri), uri
        self.experiment_id = experiment_id(self.client, experiment)
        self.run_name = run_name
        self.tags = {k: str(v) for k, v in tags.items()}
        self.run_id: str | None = resume_run_id

    def __enter__(self) -> Tracker:
        if self.run_id is not None:  # resuming: the same run goes on
            self.client.update_run(self.run_id, status="RUNNING")
            log.info("MLflow run %s (%s) resumed", self.run_name, self.run_id)
            return self
        run = self.client.create_run(self.experiment_id, run_name=self.run_name, tags=self.tags)
        self.run_id = run.info.run_id
        log.info("MLflow run %s (%s)", self.run_name, self.run_id)
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> None:
        pruned = exc_type is not None and exc_type.__name__ == "TrialPruned"
        status = "FINISHED" if exc_type is None else ("KILLED" if pruned else "FAILED")
        self.client.set_terminated(self.run_id, status=status)

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)[:MAX_PARAM_LENGTH]) for k, v in params.items()]
        for start in range(0, len(items), 100):  # MLflow's batch limit
            self.client.log_batch(self.run_id, params=items[start : start + 100])

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        log_values(self.client, self.run_id, metrics, step or 0)

    def log_artifact(self, path: Path, folder: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path=folder)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        for key, value in tags.items():
            self.client.set_tag(self.run_id, key, str(value))

    def log_datasets(self, name: str, digests: Mapping[str, str]) -> None:
        """One MLflow dataset input per context: the UI's Dataset column shows name and digest."""
        from mlflow.entities import Dataset, DatasetInput, InputTag

        inputs = [
            DatasetInput(
                Dataset(
                    name=name if context == "cohort" else f"{name}/{context}",
                    digest=digest,
                    source_type="tlsweep",
                    source=json.dumps({"dataset": name, "role": context}),
                ),
                tags=[InputTag("mlflow.data.context", context)],
            )
            for context, digest in digests.items()
        ]
        self.client.log_inputs(self.run_id, datasets=inputs)

    def link_pretraining(self, run_id: str, uri: str | None) -> None:
        cell = self.tags.get("tlsweep.cell")
        if cell and uri == self.uri:  # a shared cache may hold runs of another store
            self.client.set_tag(run_id, f"tlsweep.used_by.{cell}", "true")

    def open_sibling(self, run_name: str, tags: Mapping[str, Any]) -> Tracker:
        """A new run in this run's experiment and store (not yet entered); use it as ``with``."""
        sibling = copy.copy(self)  # shares the client: same store, same experiment
        sibling.run_name, sibling.run_id = run_name, None
        sibling.tags = {k: str(v) for k, v in tags.items()}
        return sibling


def experiment_id(client: Any, name: str) -> str:
    """The id of experiment ``name``, creating it (race-safe) if needed."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(name)
    except Exception:  # noqa: BLE001 - another process created it first
        return client.get_experiment_by_name(name).experiment_id


def log_values(client: Any, run_id: str, metrics: Mapping[str, float], step: int = 0) -> None:
    """Log finite ``metrics`` to ``run_id`` at ``step`` in one batch (NaN and inf are skipped)."""
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    items = [Metric(k, float(v), now, step) for k, v in metrics.items() if math.isfinite(float(v))]
    client.log_batch(run_id, metrics=items)
