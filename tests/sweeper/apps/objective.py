"""Hydra app for the sweeper tests: cheap objectives, with failures, NaNs, sleeps and waits.

Everything is in this one file: submitit pickles ``__main__`` by value, so a sibling module
would not import in a submitit job. Known optima: Branin 0.397887, Hartmann6 -3.32237.
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import hydra
from omegaconf import DictConfig

from tlsweep.benchmark.jobs import JobInfo

_H6_ALPHA = (1.0, 1.2, 3.0, 3.2)
_H6_A = (
    (10, 3, 17, 3.5, 1.7, 8),
    (0.05, 10, 17, 0.1, 8, 14),
    (3, 3.5, 1.7, 10, 17, 8),
    (17, 8, 0.05, 10, 0.1, 14),
)
_H6_P = (
    (1312, 1696, 5569, 124, 8283, 5886),
    (2329, 4135, 8307, 3736, 1004, 9991),
    (2348, 1451, 3522, 2883, 3047, 6650),
    (4047, 8828, 8732, 5743, 1091, 381),
)


def quadratic(x: Sequence[float]) -> float:
    """(x0 - 0.3)^2 + (x1 + 1)^2: minimum 0 at (0.3, -1)."""
    return (x[0] - 0.3) ** 2 + (x[1] + 1.0) ** 2


def branin(x: Sequence[float]) -> float:
    """Branin on x0 in [-5, 10], x1 in [0, 15]: minimum 0.397887."""
    a, b, c = 1.0, 5.1 / (4 * math.pi**2), 5 / math.pi
    r, s, t = 6.0, 10.0, 1 / (8 * math.pi)
    return a * (x[1] - b * x[0] ** 2 + c * x[0] - r) ** 2 + s * (1 - t) * math.cos(x[0]) + s


def hartmann6(x: Sequence[float]) -> float:
    """Hartmann6 on [0, 1]^6: minimum -3.32237."""
    total = 0.0
    for alpha, a, p in zip(_H6_ALPHA, _H6_A, _H6_P, strict=True):
        inner = sum(a[j] * (x[j] - p[j] * 1e-4) ** 2 for j in range(6))
        total -= alpha * math.exp(-inner)
    return total


FUNCTIONS: dict[str, Callable[[Sequence[float]], float]] = {
    "quadratic": quadratic,
    "branin": branin,
    "hartmann6": hartmann6,
}


def _wait_for(path: Path, seconds: float) -> None:
    """Block until ``path`` exists or ``seconds`` have passed, whichever comes first."""
    deadline = time.monotonic() + seconds
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


@hydra.main(version_base="1.3", config_path="conf", config_name="objective")
def main(cfg: DictConfig) -> float:
    job = JobInfo.from_env()
    number, started = job.trial, time.time()
    if cfg.kill_sweeper_after is not None:
        ran = Path(cfg.marker_dir)
        ran.mkdir(parents=True, exist_ok=True)
        killed = ran / "killed"
        if len(list(ran.glob("trial-*"))) >= cfg.kill_sweeper_after and not killed.exists():
            killed.touch()
            os.kill(os.getpid(), signal.SIGKILL)  # the basic launcher runs jobs in-process
        (ran / f"trial-{number}").touch()
    if cfg.started_dir is not None:
        Path(cfg.started_dir).mkdir(parents=True, exist_ok=True)
        (Path(cfg.started_dir) / str(number)).touch()
    pause = cfg.durations[number] if number is not None and number < len(cfg.durations) else 0
    time.sleep(pause or cfg.sleep)
    if cfg.wait_for is not None and number in cfg.wait_for:
        _wait_for(Path(cfg.wait_for[number]), cfg.wait_seconds)
    if cfg.slot_dir is not None:
        interval = {"slot": job.slot, "gpu_of_4": job.cuda_index(4), "start": started}
        Path(cfg.slot_dir).mkdir(parents=True, exist_ok=True)
        (Path(cfg.slot_dir) / f"{number}.json").write_text(
            json.dumps(interval | {"end": time.time()})
        )
    if number in cfg.fail_on:
        raise RuntimeError(f"trial {number} was told to fail")
    if number in cfg.nan_on:
        return math.nan
    x = [cfg.x0, cfg.x1, cfg.x2, cfg.x3, cfg.x4, cfg.x5]
    value = FUNCTIONS[cfg.fn](x) + (0.5 if cfg.cat == "b" else 0.0)
    logging.getLogger(__name__).info(f"value={value!r}")
    return [value, cfg.x0] if cfg.n_objectives == 2 else value


if __name__ == "__main__":
    main()
