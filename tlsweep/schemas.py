"""Structured-config schemas for the run-level keys, registered in Hydra's ConfigStore.

The component groups (``dataset``, ``encoder``, ``method``) are free-form yaml chosen by
``_target_``; everything else is typed here so that a mistyped key or a wrong type fails when the
config is composed, before any data is read. Defaults live here or in yaml, never in code that
reads the config: ``.hydra/config.yaml`` is the whole truth about a run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

HYDRA_VERSION_BASE = "1.3"


# The fixed choices are StrEnums: a value outside them fails when the config is composed (for a
# sweep: before anything is queued), and a member equals its string (``scheduler == "cosine"``),
# formats as it and JSON-encodes as it, so code and cache keys that compare strings keep working.
# The member names are the values because OmegaConf matches an override by name.
class TaskType(StrEnum):
    """``task.type``."""

    classification = "classification"
    regression = "regression"


class TaskLoss(StrEnum):
    """``task.loss``: auto is cross-entropy (classification) or mse (regression)."""

    auto = "auto"
    mse = "mse"
    l1 = "l1"
    huber = "huber"


class Scheduler(StrEnum):
    """``train.scheduler``: the learning-rate schedule after warm-up."""

    cosine = "cosine"
    constant = "constant"


class HpoStage(StrEnum):
    """``hpo.stage``."""

    target_only = "target_only"
    joint = "joint"
    source_then_target = "source_then_target"


class HpoBudget(StrEnum):
    """``hpo.budget``: how stage 1 of ``source_then_target`` counts against ``n_trials``."""

    additional = "additional"
    shared = "shared"


TASK_TYPES = tuple(t.value for t in TaskType)


@dataclass
class TaskConfig:
    """A prediction task: which participants-table column, and what kind of target it is."""

    column: str = MISSING
    type: TaskType = MISSING  # classification | regression
    loss: TaskLoss = TaskLoss.auto  # auto (cross-entropy / mse) | mse | l1 | huber
    # true: labels permuted among the source subjects before any use (a negative control:
    # supervised pretraining on shuffled labels must not transfer)
    shuffle_labels: bool = False
    # a binary classification task's positive label (its precision, recall, F1 and AUROC);
    # null: the second label in sorted order (M of F/M, 1 of 0/1)
    positive: str | None = None
    # brain-age outputs of a regression target in every run that scores test: the gap, its
    # age-bias correction fitted on validation, MAE per band (tlsweep.train.brain_age);
    # null: on for a regression target in column age
    age_gap: bool | None = None
    band_width: float = 10.0  # width of the bands of the MAE per band (years, for age)
    # the gap as a marker: a participants column (a diagnosis) and the label of the group whose
    # gap should be higher; test scores say how well the corrected gap flags it (AUROC, d).
    # null: column `diagnosis` with label `accelerated` when the table has them (the synthetic
    # cohort's dataset.accelerated_fraction), else no group
    gap_group: str | None = None
    gap_positive: str | None = None


@dataclass
class SplitConfig:
    """How subjects are assigned to roles; deterministic from ``seed``."""

    seed: int = 0
    test_fraction: float = 0.2  # held out; never seen by training or model selection
    source_fraction: float = 0.4  # source set for pretraining / unlabelled images
    source_val_fraction: float = 0.15  # of the source set, for pretraining early stopping
    val_pool: int = 100  # target-pool subjects reserved for validation (val = first n_val)
    strata_bins: int = 4  # quantile bins used to stratify a regression target
    # null: the split's own order; an int re-draws the validation and training subsets from the
    # labelled target pool (test and source sets unchanged), as final.resample does per seed
    draw: int | None = None
    # acquisition sites (values of the dataset's ``site_column``) held out whole: their subjects
    # form the second test set ``test_external``; every other role is drawn from the other sites
    held_out_sites: list[str] = field(default_factory=list)


@dataclass
class SampleSizeConfig:
    """Number of labelled target subjects for training and validation."""

    name: str = MISSING
    n_train: int = MISSING
    n_val: int = MISSING


@dataclass
class TrainConfig:
    """The one training loop's settings (target training; pretraining has its own in method)."""

    epochs: int = 30
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-4
    scheduler: Scheduler = Scheduler.cosine  # cosine | constant
    warmup_epochs: int = 0
    patience: int = 10  # early stopping on the validation objective; 0 disables
    amp: bool = True  # bf16 autocast on CUDA; ignored on CPU
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    deterministic: bool = True
    progress: bool = True
    checkpoint_every_epoch: bool = True  # last.pt for resume after preemption
    threads: int = 0  # CPU threads; 0 = this trial's share (SLURM allocation or cores / trials)
    cudnn_benchmark: bool = False  # autotune conv kernels (CUDA); not with deterministic=true
    channels_last: bool = False  # channels-last-3d memory format for the network and batches
    compile: bool = False  # torch.compile the network (off until measured faster)


@dataclass
class PretrainConfig:
    """Schedule of a method's pretraining phase; keys not set here come from ``train``."""

    epochs: int = 15
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-4
    patience: int = 5
    cache: bool = True  # reuse a pretrained encoder with the same key (tlsweep.methods.cache)
    cache_dir: str = "${cache_dir}/pretrained"  # on a cluster: a shared file system


@dataclass
class TrackingConfig:
    """Where MLflow runs go. The default is an embedded sqlite file in the working directory."""

    enabled: bool = True
    uri: str = "sqlite:///mlflow.db"
    experiment: str = "tlsweep"
    run_name: str | None = None  # default: <method>-<encoder>-<sample_size>-s<seed>
    log_checkpoint: bool = True


@dataclass
class HpoConfig:
    """How a cell is tuned; the sampler and budget are the ``hpo`` preset's (``hydra.sweeper``)."""

    # target_only: tune fine-tuning, pretraining at its defaults; joint: both in one study;
    # source_then_target: tune pretraining on source_objective first, then fine-tuning
    stage: HpoStage = HpoStage.target_only
    # stage-1 trials of source_then_target; null: n_trials (budget=additional), or half of
    # n_trials rounded down (budget=shared)
    source_trials: int | None = None
    source_objective: str = "source_val/loss"  # minimised in stage 1
    # additional: stage 1's trials come on top of hydra.sweeper.n_trials (stage 2 gets n_trials);
    # shared: n_trials is the cell's total, stage 2 gets n_trials - stage 1's, so a target_only
    # and a source_then_target cell compare at equal total trials
    budget: HpoBudget = HpoBudget.additional


@dataclass
class FinalConfig:
    """The final judgement of a tuned cell: its best configuration rerun, scored once on test."""

    seeds: int = 5  # reruns per cell (0: none); the same seeds for every cell, so paired
    first_seed: int = 1000  # seeds first_seed, first_seed + 1, ...
    resample: bool = False  # true: each seed also re-draws the training/validation subjects


@dataclass
class RunConfig:
    """The run-level schema; ``config.yaml`` composes the component groups onto it."""

    dataset: Any = MISSING
    encoder: Any = MISSING
    method: Any = MISSING
    sample_size: SampleSizeConfig = field(default_factory=SampleSizeConfig)
    source_task: TaskConfig = field(
        default_factory=lambda: TaskConfig(column="sex", type=TaskType.classification)
    )
    target_task: TaskConfig = field(
        default_factory=lambda: TaskConfig(column="age", type=TaskType.regression)
    )
    split: SplitConfig = field(default_factory=SplitConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    hpo: HpoConfig = field(default_factory=HpoConfig)
    final: FinalConfig = field(default_factory=FinalConfig)
    objective: str = "val/mae"
    direction: str = "minimize"  # minimize | maximize
    seed: int = 0
    cache_dir: str = "${oc.env:TLSWEEP_CACHE,${oc.env:HOME,.}/.cache/tlsweep}"
    output_dir: str = "${hydra:runtime.output_dir}"


def register_configs() -> None:
    """Put the schemas in Hydra's ConfigStore (idempotent)."""
    ConfigStore.instance().store(name="tlsweep_schema", node=RunConfig)


register_configs()
