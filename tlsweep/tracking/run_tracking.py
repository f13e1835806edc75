"""What a run logs to MLflow: its name, tags and flattened config.

A run launched by the tlsweep sweeper knows its place from :class:`JobInfo` (role, cell, study,
trial): it becomes a child of its study's parent run, named after its cell
(``simclr-sfcn-synthetic_brain-n25-s0-tpe-t3``, ``…-final-s1000``), and tagged
``tlsweep.role`` = ``trial`` | ``source`` | ``final``. A final run also tags the trial it reruns
``tlsweep.selected=true``. Every run is also tagged with the labels and split roles its method
reads (``tlsweep.labels``, ``tlsweep.roles``; :meth:`tlsweep.methods.base.Method.label_use`),
set by :func:`tlsweep.run.run` once the method is built.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from tlsweep.benchmark.jobs import JobInfo
from tlsweep.tracking.hierarchy import end_stale, study_parent_run, tag_selected
from tlsweep.tracking.mlflow_tracker import Tracker, flatten
from tlsweep.tracking.protocol import NullTracker, RunTracker

RUN_ID_FILE = "mlflow_run_id"
# Keys whose values are paths or machine settings, not part of what a run *is*.
NOISE = ("hydra", "search_space", "pretrain_search_space", "output_dir", "cache_dir", "progress")


def run_name(cfg: DictConfig, choices: dict[str, str], job: JobInfo) -> str:
    """``tracking.run_name``, or the cell's name with the job's part, or e.g.
    ``pretrain_freeze-sfcn-n50-s0`` for a plain run."""
    if cfg.tracking.run_name:
        return str(cfg.tracking.run_name)
    if job.role == "final":
        return f"{job.cell or choices['method']}-final-s{cfg.seed}"
    base = job.cell or f"{choices['method']}-{choices['encoder']}-{choices['sample_size']}"
    if job.role in ("trial", "source"):
        return f"{base}{'-stage1' if job.role == 'source' else ''}-t{job.trial}"
    return f"{base}-s{cfg.seed}"


def _job_tags(cfg: DictConfig, choices: dict[str, str], job: JobInfo) -> dict[str, Any]:
    tags: dict[str, Any] = {**choices, "seed": cfg.seed, "tlsweep.role": job.role}
    if job.cell:
        tags["tlsweep.cell"] = job.cell
    if job.study:
        tags["tlsweep.study"] = job.study
        tags["mlflow.parentRunId"] = study_parent_run(
            cfg.tracking.uri,
            cfg.tracking.experiment,
            job.study,
            job.storage or "",
            _lock_dir(job, Path(cfg.output_dir)),
        )
    if job.trial is not None:
        tags["tlsweep.trial" if job.role != "final" else "tlsweep.selected_trial"] = job.trial
    return tags


def _lock_dir(job: JobInfo, out: Path) -> Path:
    """One lock per study: next to its journal file, else next to the job's folder."""
    if job.storage and "://" not in job.storage:
        return Path(job.storage).parent
    return out.parent


def _previous_run(out: Path) -> tuple[str | None, bool]:
    """The MLflow run an earlier attempt in ``out`` left, and whether it can be resumed.

    An attempt that checkpointed (``last.pt``) is resumed; one that died before its first
    checkpoint left a run that must not stay RUNNING forever.
    """
    if not (out / RUN_ID_FILE).exists():
        return None, False
    return (out / RUN_ID_FILE).read_text().strip(), (out / "last.pt").exists()


@contextmanager
def open_tracker(cfg: DictConfig, choices: dict[str, str], job: JobInfo) -> Iterator[RunTracker]:
    """The run's tracker, with the config logged (a :class:`NullTracker` when tracking is off).

    The run is tagged with its component choices, seed and role, and becomes a child of its
    study's parent run. It ends FINISHED, FAILED, or KILLED when the trial was pruned. A run
    restarted in the same output folder after a preemption (a SLURM requeue, a retried trial)
    continues the same MLflow run, as its training continues from ``last.pt``; a run left
    RUNNING by an attempt that died before its first checkpoint is marked KILLED.
    """
    if not cfg.tracking.enabled:
        yield NullTracker()
        return
    out = Path(cfg.output_dir)
    previous, resumable = _previous_run(out)
    name = run_name(cfg, choices, job)
    tags = _job_tags(cfg, choices, job)
    resume = previous if resumable else None
    with Tracker(cfg.tracking.uri, cfg.tracking.experiment, name, tags, resume) as tracker:
        if previous and not resumable:
            end_stale(tracker.client, previous)
        (out / RUN_ID_FILE).write_text(tracker.run_id)
        if resume is None:  # a resumed run has its config logged already
            container = OmegaConf.to_container(cfg, resolve=True)
            tracker.log_params(flatten(container, skip=NOISE + ("tracking",)))
            (out / "config.yaml").write_text(OmegaConf.to_yaml(container))
            tracker.log_artifact(out / "config.yaml")
        if job.role == "final" and job.trial is not None and job.study:
            tag_selected(tracker.client, tracker.experiment_id, job.study, job.trial)
        yield tracker
