"""Checking and reading the sweeper's settings: validation, names and labels derived from them."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from hydra.errors import CompactHydraException
from omegaconf import DictConfig, OmegaConf


class SweeperConfigError(CompactHydraException):
    """A sweeper setting or search space that cannot work."""


DEPRECATED_SEARCH_SPACE = (
    "hydra.sweeper.search_space is hydra-optuna-sweeper's pre-1.2 key and is not read; write each "
    "dimension as an override under hydra.sweeper.params instead (e.g. x: interval(0, 1), "
    "n: range(1, 5), c: choice(a, b)); see "
    "https://hydra.cc/docs/upgrades/1.1_to_1.2/changes_to_sweeper_config/"
)


def check_settings(s: DictConfig) -> None:
    """Reject settings that cannot work, all problems in one line.

    Args:
        s: the sweeper's settings (``TlsweepSweeperConf`` fields).

    Raises:
        SweeperConfigError: naming each bad key, its value and what it may be.
    """
    if s.get("search_space"):
        raise SweeperConfigError(DEPRECATED_SEARCH_SPACE)
    problems = []
    if s.schedule not in ("batch", "async"):
        problems.append(f"schedule={s.schedule!r}; options: batch, async")
    if s.n_trials < 0:
        problems.append(f"n_trials={s.n_trials} must be >= 0 (0: untuned)")
    if s.n_jobs < 1:
        problems.append(f"n_jobs={s.n_jobs} must be >= 1")
    if s.get("trials_per_gpu", 1) < 1:
        problems.append(f"trials_per_gpu={s.trials_per_gpu} must be >= 1")
    if not 0 <= s.max_failure_rate <= 1:
        problems.append(f"max_failure_rate={s.max_failure_rate} must be in [0, 1]")
    if s.retry_failed < 0:
        problems.append(f"retry_failed={s.retry_failed} must be >= 0")
    for d in as_list(s.direction):
        if d not in ("minimize", "maximize"):
            problems.append(f"direction={d!r}; options: minimize, maximize")
    if problems:
        raise SweeperConfigError("hydra.sweeper: " + "; ".join(problems))


def as_list(direction: Any) -> list[str]:
    if isinstance(direction, str):
        return [direction]
    return [str(d) for d in direction]


def default_study_name(config: DictConfig) -> str:
    overrides = sorted(str(o) for o in config.hydra.overrides.task)
    digest = hashlib.sha1(json.dumps(overrides).encode()).hexdigest()[:10]
    return f"{config.hydra.job.name}-{digest}"


def sampler_label(sampler: Any) -> str:
    name = type(sampler).__name__.removesuffix("Sampler").removeprefix("AskTell")
    return {"TPE": "tpe", "GP": "gp", "QMC": "qmc", "CmaEs": "cmaes"}.get(name, name.lower())


def objective_name(config: DictConfig) -> str:
    name = OmegaConf.select(config, "objective", default=None, throw_on_resolution_failure=False)
    return name if isinstance(name, str) else "value"
