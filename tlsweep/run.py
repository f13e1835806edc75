"""One trial: data → encoder → method → training → metrics in MLflow. ``run(cfg) -> float``.

Callable from tests and notebooks without the CLI. The returned objective is a *validation*
metric (``val/…``): test metrics are computed and logged once, at the end, and never returned,
so no sweeper can tune on them.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from tlsweep.benchmark import layout
from tlsweep.benchmark.jobs import JobInfo
from tlsweep.benchmark.provenance import command_line, run_provenance, split_digests
from tlsweep.checks import check_config
from tlsweep.data.cohort import check_in_channels
from tlsweep.data.splits import TEST_ROLES, make_splits
from tlsweep.data.tasks import Task
from tlsweep.errors import ConfigError, bad_option
from tlsweep.methods.assemble import build_method, prepare_model, source_scores
from tlsweep.methods.base import Context
from tlsweep.models.base import Encoder, Network
from tlsweep.tracking.protocol import RunTracker
from tlsweep.train.accel import set_deterministic
from tlsweep.train.checkpoint import CHECKPOINT_NAME, Checkpoint, training_config
from tlsweep.train.evaluate import evaluate
from tlsweep.train.loop import FitResult, Hooks, Objective, TrainSettings
from tlsweep.train.metrics import metric_names
from tlsweep.train.supervised import fit_subsets

log = logging.getLogger(__name__)
CHOICE_GROUPS = ("method", "dataset", "encoder", "sample_size")


def run(cfg: DictConfig) -> float:
    """Run one configured experiment and return its objective.

    A tuning trial (launched by the tlsweep sweeper, see :class:`JobInfo`) never sees the test
    split: its split has no test subjects at all. A stage-1 trial returns the source-side
    objective (``hpo.source_objective``) of its pretraining. Every run ends by writing
    ``metrics.json`` in its output folder.

    Raises:
        ConfigError: for any bad value in ``cfg`` or in the data it points to.
    """
    started = time.perf_counter()
    job = JobInfo.from_env()
    check_run_config(cfg)
    out = Path(cfg.output_dir)
    checkpoint = Checkpoint(out / CHECKPOINT_NAME, training_config(cfg))
    checkpoint.verify()  # another config's last.pt here is refused before anything is touched
    if cfg.tracking.enabled and not str(cfg.tracking.uri).startswith("sqlite:"):
        from tlsweep.tracking.store import open_client

        open_client(cfg.tracking.uri)  # a dead server or bad URI fails now, before any data
    device = _device(cfg.train.device, job)
    threads = _seed_everything(cfg.seed, cfg.train)
    # where the job ran and with what share: the sweeper's side of the seam, as the job saw it
    placement = {
        "slot": job.slot,
        "parallel_jobs": job.parallel_jobs,
        "threads": threads,
        "device": str(device),
    }
    log.info("job: %s, %s", job.role, ", ".join(f"{k} {v}" for k, v in placement.items()))
    cohort = instantiate(cfg.dataset).load(progress=cfg.train.progress)
    cohort_digest = cohort.digest()  # before the shuffled-label control edits the table
    source = Task("source_task", **cfg.source_task)
    target = Task("target_task", **cfg.target_task)
    for task in (source, target):
        task.check(cohort.table)
    check_objective(cfg, target)
    splits = make_splits(
        cohort.table,
        target=target,
        source=source,
        cfg=cfg.split,
        n_train=cfg.sample_size.n_train,
        n_val=cfg.sample_size.n_val,
        site_column=cfg.dataset.get("site_column", "site"),
    )
    if job.in_study:
        splits = splits.without(*TEST_ROLES)  # tuning never sees a test subject
    digests = split_digests(splits.roles)
    provenance = run_provenance(
        config_hash=checkpoint.hash,
        cohort=cohort_digest,
        splits=digests,
        device=str(device),
        command=command_line(_task_override_list()),
    )
    record = {"placement": placement, "provenance": provenance}  # into metrics.json
    if source.shuffle_labels:  # the negative control: permuted among the source subjects only
        pool = [*splits["source"], *splits["source_val"]]
        cohort = replace(
            cohort, table=source.shuffled(cohort.table, pool, cfg.split.seed, run_seed=cfg.seed)
        )
    target.fit_scaler(cohort.table.loc[splits["train"], target.column])
    source.fit_scaler(cohort.table.loc[splits["source"], source.column])
    method = build_method(cfg.method)
    encoder = instantiate(cfg.encoder)
    encoder.freeze(method.freeze_stages)  # validates freeze_stages before any training
    choices = run_choices(cfg)
    _check_input_shape(encoder, tuple(cohort.images.shape[1:]), choices["encoder"])
    out.mkdir(parents=True, exist_ok=True)

    from tlsweep.hpo.pruning import TrialReporter, link_trial
    from tlsweep.tracking.run_tracking import open_tracker

    with open_tracker(cfg, choices, job) as tracker:
        link_trial(job, tracker.run_id, out)
        tracker.set_tags({f"tlsweep.provenance.{k}": v for k, v in provenance.items()})
        tracker.set_tags(method.label_use(stage1=job.role == "source").tags())  # labels, roles
        used = {role: digests[role] for role, ids in splits.roles.items() if ids}
        tracker.log_datasets(run_choices(cfg)["dataset"], {"cohort": cohort_digest, **used})
        tracker.log_artifact(_write(out / layout.SPLITS_FILE, splits.to_frame()))
        ctx = Context(
            cohort=cohort,
            splits=splits,
            source_task=source,
            target_task=target,
            make_encoder=lambda: instantiate(cfg.encoder),
            encoder_cfg=cfg.encoder,
            train=cfg.train,
            pretrain=cfg.pretrain,
            device=device,
            seed=cfg.seed,
            tracker=tracker,
            dataset_cfg=cfg.dataset,
            split_cfg=cfg.split,
        )
        if job.role == "source":
            scores = source_scores(method, ctx)
            tracker.log_metrics(scores)
            objective = cfg.hpo.source_objective
            _write_metrics(out, cfg, job, record, tracker, scores, started, objective, None)
            return _objective_value(scores, objective)
        model = prepare_model(method, ctx, encoder)
        train, val = ctx.subset("train", target), ctx.subset("val", target)
        hooks = Hooks(
            tracker=tracker,
            pruner=TrialReporter.from_job(job),
            checkpoint=checkpoint if cfg.train.checkpoint_every_epoch else None,
        )
        result = fit_subsets(
            model,
            method.loss,
            train,
            val,
            target,
            TrainSettings.from_config(cfg.train, device, cfg.seed),
            Objective(cfg.objective, cfg.direction),
            unlabelled=method.unlabelled(ctx),
            hooks=hooks,
        )
        metrics = _final_evaluation(cfg, model, ctx, tracker, out, result, test=not job.in_study)
        _write_metrics(out, cfg, job, record, tracker, metrics, started, cfg.objective, result)
    checkpoint.path.unlink(missing_ok=True)  # finished: nothing left to resume
    return result.best_value


def run_choices(cfg: DictConfig) -> dict[str, str]:
    """The chosen option of each component group, e.g. ``{"method": "scratch", …}``."""
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        choices = HydraConfig.get().runtime.choices
    else:
        choices = OmegaConf.select(cfg, "hydra.runtime.choices", default={}) or {}
    names = {g: str(choices.get(g) or "") for g in CHOICE_GROUPS}
    names["sample_size"] = str(cfg.sample_size.name)  # debug=smoke renames it
    for group in ("method", "encoder", "dataset"):
        names[group] = names[group] or cfg[group]["_target_"].rsplit(".", 1)[-1].lower()
    return names


def _final_evaluation(
    cfg: DictConfig,
    model: Network,
    ctx: Context,
    tracker: RunTracker,
    out: Path,
    result: FitResult,
    test: bool,
) -> dict[str, float]:
    """Score the restored best epoch on val (and once on the test sets, unless tuning); log it.

    The test sets are ``test`` and, with ``split.held_out_sites``, ``test_external`` (subjects
    of sites no training subject came from): both are scored with the same metrics.

    Beside each, the trivial predictor fitted on the training labels
    (:func:`~tlsweep.train.baseline.final_baselines`: ``baseline/val/…``, ``baseline/test/…``).
    The metrics are logged one step after the last epoch, so MLflow's summary value of
    ``val/mae`` (the value at the highest step) is the selected model's, not the last epoch's.
    """
    import pandas as pd

    from tlsweep.train.baseline import final_baselines

    metrics, frames = {"best_epoch": float(result.best_epoch)}, []
    tests = [role for role in TEST_ROLES if test and ctx.splits[role]]
    splits = list(tests)
    if result.val_predictions is not None:  # the restored model's val scores are known already
        best = result.history[result.best_epoch]
        metrics.update({k: v for k, v in best.items() if k.startswith("val/")})
        frames.append(result.val_predictions)
    else:
        splits.insert(0, "val")
    for split in splits:
        values, frame = evaluate(
            model, ctx.subset(split, ctx.target_task), ctx.target_task, split, ctx.device
        )
        metrics.update(values)
        frames.append(frame)
    roles = ["val", *tests]  # a tuning trial never touches test labels
    metrics.update(final_baselines(ctx.target_task, ctx.cohort.table, ctx.splits, roles))
    predictions = pd.concat(frames)
    if test and ctx.target_task.brain_age:  # fitted on val only (tlsweep.train.brain_age)
        from tlsweep.train.brain_age import brain_age

        if ctx.target_task.group_column is not None:  # the group the gap should flag
            ids = predictions["participant_id"].astype(str).tolist()
            predictions["group"] = ctx.target_task.in_group(ctx.cohort.table, ids).astype(int)
        values, predictions = brain_age(predictions, ctx.target_task.band_width)
        metrics.update(values)
    named = {f"final/{k}" if k == "best_epoch" else k: v for k, v in metrics.items()}
    tracker.log_metrics(named, step=len(result.history))
    tracker.log_artifact(_write(out / layout.PREDICTIONS_FILE, predictions))
    if cfg.tracking.log_checkpoint:
        torch.save(model.state_dict(), out / "model.pt")
        tracker.log_artifact(out / "model.pt")
    scores = " ".join(f"{k}={v:.4g}" for k, v in metrics.items() if k != "best_epoch")
    log.info("final (model of epoch %d): %s", result.best_epoch + 1, scores)
    return {k: v for k, v in metrics.items() if k != "best_epoch"}


def _objective_value(metrics: dict[str, float], objective: str) -> float:
    if objective not in metrics:
        raise bad_option("hpo.source_objective", objective, metrics)
    return metrics[objective]


def _write_metrics(
    out: Path,
    cfg: DictConfig,
    job: JobInfo,
    extra: dict[str, Any],
    tracker: RunTracker,
    metrics: dict[str, float],
    started: float,
    objective: str,
    result: FitResult | None,
) -> None:
    """``metrics.json``: what this run scored, for the benchmark tables (written atomically)."""

    record = {
        "role": job.role,
        "cell": job.cell,
        "trial": job.trial,  # a final seed: the selected trial it reran
        "seed": int(cfg.seed),
        "params": _task_overrides(),
        "metrics": {k: float(v) for k, v in metrics.items()},
        "objective": objective,
        "direction": "minimize" if job.role == "source" else str(cfg.direction),
        "best_epoch": None if result is None else result.best_epoch + 1,
        "wall_s": round(time.perf_counter() - started, 3),
        "mlflow_run_id": tracker.run_id,
        "status": "ok",
        **extra,  # placement (slot, share, device) and provenance
    }
    layout.write_record(out, record)


def _task_overrides() -> dict[str, str]:
    """The run's command-line overrides as ``{key: value}`` (what the sweeper chose)."""
    pairs = (o.split("=", 1) for o in _task_override_list() if "=" in o)
    return {k.lstrip("+~"): v for k, v in pairs}


def _task_override_list() -> list[str]:
    """The run's command-line overrides, as given (empty outside a Hydra app)."""
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def _write(path: Path, frame: Any) -> Path:
    frame.to_csv(path, index=False)
    return path


def _check_input_shape(encoder: Encoder, shape: tuple[int, ...], name: str) -> None:
    """One dry forward pass, so a volume too small for the network fails here, in one line."""
    try:
        with torch.no_grad():
            encoder.eval()(torch.zeros(1, 1, *shape))
    except RuntimeError as exc:
        raise ConfigError(
            f"encoder={name} cannot take volumes of shape {list(shape)} (dataset.shape): "
            f"{str(exc).splitlines()[0]}"
        ) from exc
    finally:
        encoder.train()


def check_run_config(cfg: DictConfig) -> None:
    """Reject unknown top-level keys, a non-validation objective, any run-level value outside
    its range or options (:func:`tlsweep.checks.check_config`) and a multi-channel encoder.

    Raises:
        ConfigError: naming the key, the value and the options.
    """
    from dataclasses import fields

    from tlsweep.schemas import RunConfig

    known = {f.name for f in fields(RunConfig)}
    for key in cfg:
        if key not in known:  # `+experiment=x` adds a plain key when no such preset is found
            raise ConfigError(
                f"{key}={cfg[key]}: no config group or key of that name; user presets are read "
                "from ./conf or $TLSWEEP_CONF (see conf/README.md)"
            )
    if cfg.direction not in ("minimize", "maximize"):
        raise bad_option("direction", cfg.direction, ("minimize", "maximize"))
    if not str(cfg.objective).startswith("val/"):
        raise ConfigError(
            f"objective={cfg.objective}: must be a validation metric (val/...); test metrics "
            "are held out from anything that tunes or selects"
        )
    check_config(cfg)  # every range and option of the run-level keys (tlsweep/checks.py)
    check_in_channels(cfg.encoder, run_choices(cfg)["encoder"])


def check_objective(cfg: DictConfig, target: Task) -> None:
    """The objective must be one of the target task's validation metrics."""
    options = [f"val/{name}" for name in metric_names(target.is_classification)]
    if cfg.objective not in options:
        raise bad_option("objective", cfg.objective, options)


def _device(name: str, job: JobInfo) -> torch.device:
    """``auto``: the GPU of the job's sweeper slot (``trials_per_gpu`` jobs share one), or CPU."""
    if name == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        return torch.device("cuda", job.cuda_index(torch.cuda.device_count()))
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"train.device={name}: CUDA is not available on this machine")
    return torch.device(name)


def _seed_everything(seed: int, train: Any) -> int:
    """Seed every generator, size the thread pools (returns the thread count), set determinism."""
    import numpy as np

    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    from tlsweep.resources import configure_threads

    threads = configure_threads(train.threads)
    if train.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        set_deterministic(True, warn_only=True)  # as torch's, without importing inductor
        torch.backends.cudnn.benchmark = False
    return threads
