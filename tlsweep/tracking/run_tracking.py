"""What a run logs to MLflow: its name, tags, flattened config, and the per-epoch hook."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from tlsweep.tracking.mlflow_tracker import NullTracker, Tracker, flatten, study_parent_run


def run_name(cfg: DictConfig, choices: dict[str, str]) -> str:
    """``tracking.run_name`` or e.g. ``pretrain_freeze-sfcn-n50-s0``."""
    if cfg.tracking.run_name:
        return str(cfg.tracking.run_name)
    name = f"{choices['method']}-{choices['encoder']}-{choices['sample_size']}-s{cfg.seed}"
    if cfg.trial.number is not None:
        name += f"-t{cfg.trial.number}"
    return name


RUN_ID_FILE = "mlflow_run_id"


def _resumable_run(out: Path) -> str | None:
    """The MLflow run of an interrupted run in ``out`` (it left a checkpoint), if any."""
    if (out / "last.pt").exists() and (out / RUN_ID_FILE).exists():
        return (out / RUN_ID_FILE).read_text().strip()
    return None


@contextmanager
def open_tracker(cfg: DictConfig, choices: dict[str, str]) -> Iterator[NullTracker]:
    """The run's tracker, with the config logged (a :class:`NullTracker` when tracking is off).

    The run is tagged with its component choices and seed, and becomes a child of the study's
    parent run when the sweeper passed a study name. It ends FINISHED, FAILED, or KILLED when
    the trial was pruned. A run restarted in the same output folder after a preemption (a SLURM
    requeue) continues the same MLflow run, as its training continues from ``last.pt``.
    """
    if not cfg.tracking.enabled:
        yield NullTracker()
        return
    tags: dict[str, Any] = {**choices, "seed": cfg.seed}
    if cfg.trial.study_name:
        tags["tlsweep.study"] = cfg.trial.study_name
        tags["tlsweep.trial"] = cfg.trial.number
        tags["mlflow.parentRunId"] = study_parent_run(
            cfg.tracking.uri,
            cfg.tracking.experiment,
            cfg.trial.study_name,
            Path(cfg.output_dir).parent,
        )
    out = Path(cfg.output_dir)
    resume = _resumable_run(out)
    name = run_name(cfg, choices)
    with Tracker(cfg.tracking.uri, cfg.tracking.experiment, name, tags, resume) as tracker:
        (out / RUN_ID_FILE).write_text(tracker.run_id)
        if resume is None:  # a resumed run has its config logged already
            container = OmegaConf.to_container(cfg, resolve=True)
            tracker.log_params(flatten(container, skip=("hydra", "search_space")))
            (out / "config.yaml").write_text(OmegaConf.to_yaml(container))
            tracker.log_artifact(out / "config.yaml")
        yield tracker


def reporter_callback(cfg: DictConfig, tracker: NullTracker):  # noqa: ANN201
    """Per-epoch hook: log the epoch's metrics, and report the objective to the HPO study."""
    reporter = None
    if cfg.trial.number is not None:
        from tlsweep.hpo.pruning import TrialReporter

        reporter = TrialReporter.from_config(cfg.trial)

    def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
        tracker.log_metrics(metrics, step=epoch)
        if reporter is not None:
            reporter.report(epoch, metrics[cfg.objective])

    return on_epoch
