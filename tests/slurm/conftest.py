"""A real SLURM cluster for the ``slurm`` tests, and helpers to sweep through it.

The cluster is the one ``SLURM_CONF`` (or the system config) points to; ``.ci/run`` starts one
with ``scripts/slurm-local.sh up``. Without a reachable ``sinfo`` the tests skip, unless
``TLSWEEP_SLURM`` says otherwise: ``start`` brings the local cluster up for the session (and
down after it), ``require`` fails instead of skipping (CI: a cluster that did not come up must not
look like a pass).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, cli_env

SCRIPT = ROOT / "scripts" / "slurm-local.sh"
MODE_VAR = "TLSWEEP_SLURM"
# What this one-node cluster needs on top of the repo's `hydra/launcher=slurm` preset: no GPU,
# and one-CPU, 1 GB trials, so that a few fit at once (the preset asks 8 CPUs and 32 GB).
LOCAL_LAUNCHER = (
    "hydra/launcher=slurm",
    "hydra.launcher.gpus_per_node=null",
    "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.mem_gb=1",
    "hydra.launcher.timeout_min=30",
)


def slurm(*args: str, check: bool = True) -> str:
    """Run a SLURM command (``sinfo``, ``squeue``, ``sacct`` …) and return its stdout."""
    proc = subprocess.run(args, capture_output=True, text=True, timeout=30)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def _reachable() -> str | None:
    """None when ``sinfo`` answers, else why not."""
    if shutil.which("sinfo") is None:
        return "no sinfo on PATH"
    try:
        proc = subprocess.run(["sinfo", "-h"], capture_output=True, text=True, timeout=15)
    except subprocess.TimeoutExpired:
        return "sinfo timed out"
    last = (proc.stderr.strip().splitlines() or [""])[-1]
    return None if proc.returncode == 0 else f"sinfo failed: {last[:200]}"


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[str]:
    """The reachable cluster's partitions (see the module docstring for ``TLSWEEP_SLURM``)."""
    mode = os.environ.get(MODE_VAR, "")
    why = _reachable()
    started = False
    if why and mode == "start":
        proc = subprocess.run(["bash", str(SCRIPT), "up"], capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.fail(f"{SCRIPT.name} up failed:\n{proc.stderr[-3000:]}")
        os.environ["SLURM_CONF"] = proc.stdout.strip().rsplit("=", 1)[-1]
        started, why = True, _reachable()
    if why:
        message = (
            f"no SLURM cluster ({why}); start one with `scripts/slurm-local.sh up` and export "
            f"SLURM_CONF, or set {MODE_VAR}=start"
        )
        if mode == "require":
            pytest.fail(message)
        pytest.skip(message)
    yield slurm("sinfo", "-h", "-o", "%P")
    if started:
        subprocess.run(["bash", str(SCRIPT), "down"], capture_output=True, timeout=120)


@pytest.fixture(scope="session")
def slurm_cache(slurm_cluster: str, cache_dir: Path) -> Path:
    """The session's cache with the smoke cohort generated once, before any job needs it."""
    code = (
        "from hydra import compose, initialize_config_module\n"
        "from hydra.utils import instantiate\n"
        "with initialize_config_module(version_base='1.3', config_module='tlsweep.conf'):\n"
        f"    cfg = compose('config', overrides=['debug=smoke', 'cache_dir={cache_dir}'])\n"
        "instantiate(cfg.dataset).load(progress=False)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return cache_dir


class Sweep:
    """``tlsweep -m … hydra/launcher=slurm`` in its own folder, with a fresh MLflow store."""

    def __init__(self, folder: Path, cache_dir: Path, *overrides: str) -> None:
        self.folder, self.db = folder, folder / "mlflow.db"
        self.args = [
            "-m",
            "hpo=random",
            "debug=smoke",
            "method=scratch",
            "final.seeds=0",
            *LOCAL_LAUNCHER,
            f"tracking.uri=sqlite:///{self.db}",
            *overrides,
        ]
        # the launcher preset lives in the repo's conf/, not in the package
        self.env = {**cli_env(cache_dir), "TLSWEEP_CONF": str(ROOT / "conf")}
        self.log = folder / "sweep.log"
        self.proc: subprocess.Popen[str] | None = None
        self.started = time.monotonic()

    def start(self) -> Sweep:
        """Start the sweep in the background."""
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tlsweep.cli", *self.args],
            cwd=self.folder,
            env=self.env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            text=True,
        )
        return self

    def wait(self, timeout: float = 900) -> int:
        """Wait for the sweep to end; return its exit code."""
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            message = f"sweep still running after {timeout} s:\n{self.tail()}"
            raise AssertionError(message) from None

    def tail(self, n: int = 4000) -> str:
        """The end of the sweep's output."""
        return self.log.read_text()[-n:]

    def job_ids(self) -> list[str]:
        """SLURM ids (``<job>`` or ``<array>_<task>``) of the jobs submitit submitted."""
        found = self.folder.glob("multirun/**/.submitit/*/*_submitted.pkl")
        return sorted({p.parent.name for p in found})

    def studies(self) -> list[Path]:
        """Each study's journal, wherever the sweeper put its cell folder."""
        return sorted(self.folder.glob("multirun/**/optuna_journal.log"))

    def trial_logs(self) -> list[Path]:
        """The log of every trial job (a folder named by its trial number)."""
        logs = self.folder.glob("multirun/**/tlsweep.log")
        return sorted(p for p in logs if p.parent.name.isdigit())


def wait_until(condition, timeout: float, what: str, sweep: Sweep) -> object:  # noqa: ANN001
    """Poll ``condition()`` until it returns something truthy; fail with the sweep's output."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if sweep.proc is not None and sweep.proc.poll() is not None:
            raise AssertionError(f"sweep ended before {what}:\n{sweep.tail()}")
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}:\n{sweep.tail()}")


def load_trials(journal: Path) -> list:
    """The trials of the one study in an Optuna journal file."""
    import optuna

    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(journal))
    )
    (summary,) = optuna.get_all_study_summaries(storage)
    return optuna.load_study(study_name=summary.study_name, storage=storage).trials


def trial_runs(db: Path) -> list:
    """The MLflow runs of study trials (not study parents, pretrainings or final seeds)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    experiment = client.get_experiment_by_name("tlsweep")
    runs = client.search_runs([experiment.experiment_id])
    return [r for r in runs if "tlsweep.trial" in r.data.tags]


def job_states(job_id: str, settle_s: float = 60) -> list[str]:
    """Every state ``sacct`` recorded for a job, requeued attempts included (``-D``).

    The job's result file is written before its process exits, so a sweeper can be done while
    accounting still says RUNNING (longer on a loaded machine): wait up to ``settle_s`` for the
    last state to be final.
    """
    deadline = time.monotonic() + settle_s
    while True:
        out = slurm("sacct", "-n", "-X", "-D", "-P", "-j", job_id, "-o", "State")
        states = [line.split()[0] for line in out.splitlines() if line.strip()]
        if states and states[-1] not in _LIVE or time.monotonic() > deadline:
            return states
        time.sleep(1)


_LIVE = frozenset({"PENDING", "RUNNING", "COMPLETING", "REQUEUED", "CONFIGURING", "SUSPENDED"})
