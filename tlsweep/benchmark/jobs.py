"""What the sweeper tells each job it launches: its role, cell, study, trial and CPU/GPU share.

The sweeper passes this bookkeeping through the job's environment, set by Hydra's own
``hydra.job.env_set`` (``run_job`` applies it around the task function, in whichever process
the launcher runs the job). It never enters the job's config: not ``override_dirname``, not the
logged params, and it cannot clash with a user's own keys.

This module is the one owner of those variables: the sweeper writes them only through
:meth:`JobInfo.overrides` and every reader (``tlsweep.run``, ``tlsweep.resources``, pruning)
reads them only through :meth:`JobInfo.from_env` or :func:`variable`, so a name cannot drift
between the two sides. It imports only the standard library (the sweeper loads it).
"""

# No `from __future__ import annotations`: Hydra's plugin scan runs this module without
# registering it in sys.modules, and dataclasses cannot resolve string annotations then.
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

ROLES = ("run", "trial", "source", "final")
_PREFIX = "TLSWEEP_JOB_"
_INTS = ("trial", "parallel_jobs", "slot", "trials_per_gpu")


@dataclass(frozen=True)
class JobInfo:
    """One job's place in a benchmark.

    Attributes:
        role: ``run`` (a plain run, not launched by the tlsweep sweeper), ``trial`` (a tuning
            trial: validation only), ``source`` (a stage-1 trial scored on the source task) or
            ``final`` (a rerun of a cell's selected configuration, judged once on test).
        cell: the cell's readable name, e.g. ``simclr-sfcn-synthetic_brain-n25-s0-tpe``.
        study: the Optuna study the job belongs to (its trials report to it).
        storage: that study's storage (journal file path or RDB URL).
        trial: the trial number within the study (trials), or the selected trial (finals).
        parallel_jobs: how many jobs share this machine's CPUs (local launchers only).
        slot: which of the sweeper's ``n_jobs`` slots the job holds while it runs; no two jobs
            in flight share one.
        trials_per_gpu: jobs packed onto one GPU (``hydra.sweeper.trials_per_gpu``).
    """

    role: str = "run"
    cell: str | None = None
    study: str | None = None
    storage: str | None = None
    trial: int | None = None
    parallel_jobs: int = 1
    slot: int | None = None
    trials_per_gpu: int = 1

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "JobInfo":
        """Read the job's info from the environment (a plain run when nothing is set)."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = environ.get(VARIABLES[f.name])
            if raw:
                values[f.name] = int(raw) if f.name in _INTS else raw
        return cls(**values)  # type: ignore[arg-type]

    def env(self) -> dict[str, str]:
        """The environment variables that carry this info (unset fields are left out)."""
        return {VARIABLES[k]: str(v) for k, v in asdict(self).items() if v not in (None, "")}

    def overrides(self) -> list[str]:
        """Hydra overrides that set :meth:`env` in the launched job."""
        return [f"++hydra.job.env_set.{k}={_quote(v)}" for k, v in self.env().items()]

    def cuda_index(self, device_count: int) -> int:
        """The GPU this job trains on: slot ``s`` takes GPU ``s // trials_per_gpu``, so
        ``trials_per_gpu`` jobs share each GPU, wrapping around the ``device_count`` visible."""
        if self.slot is None or device_count < 1:
            return 0
        return (self.slot // max(1, self.trials_per_gpu)) % device_count

    @property
    def in_study(self) -> bool:
        """Whether the job is a tuning trial (of either stage), which must never see test."""
        return self.role in ("trial", "source")


def variable(name: str) -> str:
    """The environment variable that carries the :class:`JobInfo` field ``name``.

    Raises:
        KeyError: ``name`` is not a field of :class:`JobInfo`.
    """
    if name not in VARIABLES:
        raise KeyError(f"JobInfo has no field {name!r}; fields: {', '.join(VARIABLES)}")
    return VARIABLES[name]


VARIABLES = {f.name: _PREFIX + f.name.upper() for f in fields(JobInfo)}


def _quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"
