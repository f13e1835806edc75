"""How many CPU threads a trial may use: its share of the machine, not the whole machine.

A trial sizes every pool it owns to the CPUs it was given, so that trials sharing a machine do
not fight over cores (two trials that each run two OpenMP threads on two cores are ~4x slower
than one, since idle OpenMP threads spin while they wait for the other process):

- the CPUs this process may run on: its affinity mask (what ``taskset``, a cpuset cgroup or
  SLURM's task affinity leave it), capped by ``SLURM_CPUS_PER_TASK`` inside a SLURM job;
- divided by the job's ``parallel_jobs`` (:class:`~tlsweep.benchmark.jobs.JobInfo`, in the
  job's environment), which the sweeper sets when it runs that many trials at once on one
  machine (local launchers). On SLURM it is 1: the allocation already is the trial's share.

``train.threads > 0`` replaces the decision. :func:`configure_threads` applies it to torch's
intra-op and inter-op pools, to the OpenMP/BLAS pools of every loaded library (threadpoolctl),
and to ``OMP_NUM_THREADS`` & co. for libraries loaded later and for child processes;
:func:`worker_count` gives the same number to tlsweep's own preprocessing and cohort workers.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass

from tlsweep.benchmark.jobs import variable
from tlsweep.errors import ConfigError

log = logging.getLogger(__name__)

PARALLEL_JOBS_VAR = variable("parallel_jobs")  # named by the one module the sweeper writes with
SLURM_CPUS_VAR = "SLURM_CPUS_PER_TASK"
# read at load time by OpenMP, MKL, OpenBLAS and numexpr: covers libraries loaded after
# configure_threads and the processes a trial starts
THREAD_ENV_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_MAX_THREADS",
)

_decided: int | None = None  # the last configure_threads decision in this process


@dataclass(frozen=True)
class Share:
    """A thread-count decision and why it was made.

    Attributes:
        threads: threads (and worker processes) the trial may use, >= 1.
        reason: what it was derived from, e.g. ``"2 CPUs / 2 parallel trials"``.
        share: the automatic decision (equal to ``threads`` unless ``train.threads`` was set).
    """

    threads: int
    reason: str
    share: int

    def __str__(self) -> str:
        return f"{self.threads} ({self.reason})"


def _positive(name: str, value: str | int | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise ConfigError(f"{name}={value}: must be a whole number >= 1")
    return number


def cpu_share(
    available: int,
    *,
    slurm_cpus_per_task: str | int | None = None,
    parallel_jobs: str | int | None = None,
    requested: int = 0,
) -> Share:
    """Decide how many threads one trial may use (pure: every input is an argument).

    Args:
        available: CPUs in this process's affinity mask (``len(os.sched_getaffinity(0))``).
        slurm_cpus_per_task: ``$SLURM_CPUS_PER_TASK`` (caps ``available``), or None.
        parallel_jobs: the job's ``parallel_jobs``: trials running at once on these CPUs, or None.
        requested: ``train.threads``; > 0 is used as given, 0 means automatic.

    Returns:
        The decision; the automatic one is ``min(available, slurm) // parallel_jobs``, at least 1.

    Raises:
        ConfigError: ``requested`` < 0, or an environment value that is not a whole number >= 1.
    """
    if requested < 0:
        raise ConfigError(f"train.threads={requested}: must be >= 0 (0 = this trial's share)")
    slurm = _positive(SLURM_CPUS_VAR, slurm_cpus_per_task)
    jobs = _positive(PARALLEL_JOBS_VAR, parallel_jobs) or 1
    cpus = max(1, available)
    reason = f"{cpus} CPUs"
    if slurm is not None and slurm < cpus:
        cpus, reason = slurm, f"{SLURM_CPUS_VAR}={slurm} of {cpus} CPUs"
    if jobs > 1:
        reason += f" / {jobs} parallel trials"
    share = max(1, cpus // jobs)
    if requested:
        return Share(requested, f"train.threads; the share is {share}: {reason}", share)
    return Share(share, reason, share)


def share_from_environment(requested: int = 0, env: Mapping[str, str] | None = None) -> Share:
    """:func:`cpu_share` for this process: its affinity mask and ``env`` (default os.environ)."""
    env = os.environ if env is None else env
    return cpu_share(
        len(os.sched_getaffinity(0)),
        slurm_cpus_per_task=env.get(SLURM_CPUS_VAR),
        parallel_jobs=env.get(PARALLEL_JOBS_VAR),
        requested=requested,
    )


def configure_threads(requested: int) -> int:
    """Size this process's thread pools to the trial's share and return the thread count.

    Args:
        requested: ``train.threads``; 0 means the share decided by :func:`cpu_share`.

    Returns:
        The number of threads now set for torch, OpenMP and BLAS.

    Raises:
        ConfigError: as :func:`cpu_share`.
    """
    global _decided
    share = share_from_environment(requested)
    if share.threads > share.share:
        log.warning("train.threads=%d is more than this trial's share of CPUs", share.threads)
    _apply(share.threads)
    _decided = share.threads
    log.info("threads: %s", share)
    return share.threads


def worker_count(cap: int | None = None) -> int:
    """Workers for a trial's own parallel work (preprocessing, cohort generation).

    Args:
        cap: an upper bound (e.g. the number of items), or None.

    Returns:
        The last :func:`configure_threads` decision in this process, else this process's
        automatic share; at most ``cap``, at least 1.
    """
    count = _decided or share_from_environment().threads
    return max(1, min(count, cap) if cap else count)


def _apply(threads: int) -> None:
    import torch
    from threadpoolctl import threadpool_limits

    for var in THREAD_ENV_VARS:
        os.environ[var] = str(threads)
    torch.set_num_threads(threads)
    if torch.get_num_interop_threads() != threads:
        try:
            torch.set_num_interop_threads(threads)
        except RuntimeError:  # only allowed before the first inter-op work in this process
            log.debug("inter-op threads stay at %d", torch.get_num_interop_threads())
    threadpool_limits(limits=threads)  # every OpenMP/BLAS library loaded so far (numpy, scipy)
