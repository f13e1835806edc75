"""A tiny in-memory run context for method tests: real configs, small random volumes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from tlsweep.data.nifti import Cohort
from tlsweep.data.splits import Splits
from tlsweep.data.tasks import Task
from tlsweep.methods.base import Context
from tlsweep.tracking.protocol import NullTracker

SHAPE = (16, 16, 16)
ROLES = {"source": 12, "source_val": 8, "train": 8, "val": 4, "test": 4, "unlabelled": 4}


def tiny_cohort(seed: int = 0) -> Cohort:
    """Noise volumes whose mean intensity tells the sex (so a probe has something to find)."""
    n = sum(ROLES.values())
    rng = np.random.default_rng(seed)
    ids = [f"sub-{i:02d}" for i in range(n)]
    sex = np.array(["F", "M"] * (n // 2))
    images = rng.normal(size=(n, *SHAPE)) + (sex == "M")[:, None, None, None] * 1.5
    table = pd.DataFrame({"age": rng.uniform(20, 80, n).round(1), "sex": sex}, index=ids)
    return Cohort(table=table, images=images.astype(np.float16))


def tiny_splits(cohort: Cohort) -> Splits:
    ids, roles, start = list(cohort.table.index), {}, 0
    for role, size in ROLES.items():
        roles[role], start = ids[start : start + size], start + size
    return Splits(roles)


def context(cfg: DictConfig, cohort: Cohort | None = None, tracker: object = None) -> Context:
    """A run's context for ``cfg`` on the tiny cohort, tasks checked and scaled as a run does."""
    cohort = cohort or tiny_cohort()
    splits = tiny_splits(cohort)
    source = Task("source_task", **cfg.source_task)
    target = Task("target_task", **cfg.target_task)
    for task, role in ((source, "source"), (target, "train")):
        task.check(cohort.table)
        task.fit_scaler(cohort.table.loc[splits[role], task.column])
    return Context(
        cohort=cohort,
        splits=splits,
        source_task=source,
        target_task=target,
        make_encoder=lambda: instantiate(cfg.encoder),
        encoder_cfg=cfg.encoder,
        train=cfg.train,
        pretrain=cfg.pretrain,
        device=torch.device("cpu"),
        seed=cfg.seed,
        tracker=tracker or NullTracker(),
        dataset_cfg=cfg.dataset,
        split_cfg=cfg.split,
    )
