"""The sweeper/trial seam, driven from both ends: what the sweeper sets is what the job reads.

Each side is tested alone elsewhere; these tests put the two together. A renamed variable once
silently stopped parallel trials from taking their CPU share (the sweeper wrote
``TLSWEEP_JOB_PARALLEL_JOBS``, the trial read ``TLSWEEP_PARALLEL_JOBS``).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from hydra_plugins.tlsweep_sweeper._benchmark import launch_overrides
from hydra_plugins.tlsweep_sweeper._study import Pending
from tests.conftest import ROOT, cell_folder
from tests.conftest import run_cli as tlsweep
from tlsweep.benchmark.jobs import VARIABLES, JobInfo
from tlsweep.resources import PARALLEL_JOBS_VAR, share_from_environment

# variables a user sets (not the sweeper): documented in the README
USER_VARIABLES = {"TLSWEEP_CACHE", "TLSWEEP_CONF"}
SOURCES = ("tlsweep", "hydra_plugins")


def _env_set(overrides: list[str]) -> list[str]:
    """The environment variable names that ``overrides`` set in the launched job."""
    parsed = OverridesParser.create().parse_overrides(overrides)
    prefix = "hydra.job.env_set."
    return [o.key_or_group[len(prefix) :] for o in parsed if o.key_or_group.startswith(prefix)]


def test_the_variables_a_launched_job_gets_are_exactly_the_ones_the_trial_reads() -> None:
    job = JobInfo(
        role="final",
        cell="c",
        study="s",
        storage="/j.log",
        trial=3,
        parallel_jobs=2,
        slot=1,
        trials_per_gpu=2,
    )
    overrides = launch_overrides(Pending(["train.lr=0.1"], "c/final/seed0", job))
    names = _env_set(overrides)
    assert sorted(names) == sorted(set(names)), "a variable is set twice"
    assert set(names) == set(VARIABLES.values())  # every field travels, nothing else does
    env = dict(zip(names, job.env().values(), strict=True))
    assert JobInfo.from_env(env) == job  # the trial's reader gets back what was written
    share = share_from_environment(env=env)  # and the thread share reads the same variable
    cpus = len(os.sched_getaffinity(0))
    assert share.reason.endswith("/ 2 parallel trials") or cpus == 1
    assert PARALLEL_JOBS_VAR in names


def test_no_job_variable_is_named_outside_its_module() -> None:
    """Both sides name the variables through ``tlsweep.benchmark.jobs`` only."""
    owner = ROOT / "tlsweep" / "benchmark" / "jobs.py"
    stray = []
    for package in SOURCES:
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text()
            names = set(re.findall(r"TLSWEEP_[A-Z_]+", text)) - USER_VARIABLES
            if path != owner and (names or "env_set" in text):
                stray.append(f"{path.relative_to(ROOT)}: {sorted(names) or 'env_set'}")
    assert not stray


@pytest.mark.slow
def test_parallel_local_trials_each_take_their_share_of_the_cpus(
    tmp_path: Path, cache_dir: Path
) -> None:
    """A real ``submitit_local`` sweep with ``n_jobs=2``: what each job actually did."""
    result = tlsweep(
        "-m",
        "hpo=random",
        "debug=smoke",
        "method=scratch",
        "hydra/launcher=submitit_local",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.n_jobs=2",
        "final.seeds=2",
        "hydra.sweep.dir=bench",
        cwd=tmp_path,
        cache_dir=cache_dir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    cell = cell_folder(tmp_path / "bench", "scratch-tiny3d-synthetic_brain-smoke-s0-random")
    jobs = [cell / "0", cell / "1", cell / "final" / "seed1000", cell / "final" / "seed1001"]
    cpus = len(os.sched_getaffinity(0))
    share = max(1, cpus // 2)
    for folder in jobs:
        placement = json.loads((folder / "metrics.json").read_text())["placement"]
        assert placement["parallel_jobs"] == 2 and placement["threads"] == share
        assert placement["slot"] in (0, 1) and placement["device"] == "cpu"
        log = (folder / "tlsweep.log").read_text()
        assert f"threads: {share} ({cpus} CPUs / 2 parallel trials)" in log, log[-2000:]
    slots = {json.loads((f / "metrics.json").read_text())["placement"]["slot"] for f in jobs}
    assert slots == {0, 1}  # both slots were used: the two trials ran side by side
