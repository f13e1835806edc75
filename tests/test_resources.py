"""A trial's thread count: its share of the CPUs (affinity, SLURM, parallel local trials)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tlsweep.errors import ConfigError
from tlsweep.resources import PARALLEL_JOBS_VAR, Share, cpu_share, share_from_environment


@pytest.mark.parametrize(
    ("available", "slurm", "jobs", "threads", "reason"),
    [
        (2, None, None, 2, "2 CPUs"),
        (2, None, "1", 2, "2 CPUs"),
        (2, None, "2", 1, "2 CPUs / 2 parallel trials"),
        (16, None, "3", 5, "16 CPUs / 3 parallel trials"),  # floor: never oversubscribe
        (2, None, "4", 1, "2 CPUs / 4 parallel trials"),  # at least one thread
        (64, "8", None, 8, "SLURM_CPUS_PER_TASK=8 of 64 CPUs"),
        (4, "8", None, 4, "4 CPUs"),  # the affinity mask is the tighter bound
        (64, "8", "2", 4, "SLURM_CPUS_PER_TASK=8 of 64 CPUs / 2 parallel trials"),
        (2, "", "", 2, "2 CPUs"),  # empty variables count as unset
        (0, None, None, 1, "1 CPUs"),
    ],
)
def test_cpu_share_divides_the_allocation(
    available: int, slurm: str | None, jobs: str | None, threads: int, reason: str
) -> None:
    share = cpu_share(available, slurm_cpus_per_task=slurm, parallel_jobs=jobs)
    assert share == Share(threads, reason, threads)


def test_requested_threads_win_and_keep_the_share() -> None:
    share = cpu_share(2, parallel_jobs=2, requested=3)
    assert (share.threads, share.share) == (3, 1)
    assert str(share) == "3 (train.threads; the share is 1: 2 CPUs / 2 parallel trials)"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"parallel_jobs": "two"}, "TLSWEEP_JOB_PARALLEL_JOBS=two: must be a whole number >= 1"),
        ({"parallel_jobs": "0"}, "TLSWEEP_JOB_PARALLEL_JOBS=0: must be a whole number >= 1"),
        ({"slurm_cpus_per_task": "-1"}, "SLURM_CPUS_PER_TASK=-1: must be a whole number >= 1"),
        ({"requested": -2}, "train.threads=-2: must be >= 0 (0 = this trial's share)"),
    ],
)
def test_bad_values_are_one_line_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        cpu_share(8, **kwargs)
    assert str(err.value) == message


def test_share_from_environment_reads_the_affinity_mask() -> None:
    n = len(os.sched_getaffinity(0))
    env = {PARALLEL_JOBS_VAR: str(n)}
    assert share_from_environment(env=env) == Share(
        1, f"{n} CPUs" + f" / {n} parallel trials" * (n > 1), 1
    )


PROBE = """
import json, logging, os
logging.basicConfig(level=logging.INFO, format="%(message)s")
import numpy, torch
from threadpoolctl import threadpool_info
from tlsweep.resources import configure_threads, worker_count
out = {"returned": configure_threads(int(os.environ["REQUEST"]))}
out.update(
    torch=torch.get_num_threads(),
    interop=torch.get_num_interop_threads(),
    pools=sorted({p["num_threads"] for p in threadpool_info()}),
    omp_env=os.environ["OMP_NUM_THREADS"],
    workers=worker_count(),
    capped=worker_count(cap=2),
)
print(json.dumps(out))
"""


def probe(request: int = 0, **env: str) -> tuple[dict, str]:
    """configure_threads in a fresh interpreter with ``env``; return its pools and its log."""
    full = {
        k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "SLURM_CPUS_PER_TASK")
    }
    full.update(env, REQUEST=str(request))
    proc = subprocess.run(
        [sys.executable, "-c", PROBE], env=full, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), proc.stderr


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPUs to tell 1 from all")
def test_parallel_trials_get_one_thread_each_in_every_pool() -> None:
    n = len(os.sched_getaffinity(0))
    got, log = probe(**{PARALLEL_JOBS_VAR: str(n)})
    assert got == {
        "returned": 1,
        "torch": 1,
        "interop": 1,
        "pools": [1],
        "omp_env": "1",
        "workers": 1,
        "capped": 1,
    }
    assert f"threads: 1 ({n} CPUs / {n} parallel trials)" in log.splitlines()


def test_a_requested_count_is_set_as_given() -> None:
    n = len(os.sched_getaffinity(0))
    got, log = probe(request=3, **{PARALLEL_JOBS_VAR: str(n)})  # share: 1
    assert (got["torch"], got["interop"], got["pools"], got["workers"]) == (3, 3, [3], 3)
    assert got["capped"] == 2
    assert "train.threads=3 is more than this trial's share of CPUs" in log
