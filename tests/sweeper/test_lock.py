"""One sweeper per study: real sweeps in real processes contend for one study's lock."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from hydra_plugins.tlsweep_sweeper._lock import lock_path

STUDY = "locktest"
ARGS = ("hpo=random", "x0=interval(-2,2)", f"hydra.sweeper.study_name={STUDY}")


def _states(study) -> Counter:  # noqa: ANN001
    return Counter(t.state.name for t in study.trials)


def _error_lines(stderr: str) -> list[str]:
    """The error's lines, without the hint a plain Hydra app adds (the tlsweep CLI does not)."""
    return [ln for ln in stderr.splitlines() if ln.strip() and "HYDRA_FULL_ERROR" not in ln]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # reaped: the pid names no process (nor a zombie)
    return proc.pid


def _write_holder(folder: Path, host: str, pid: int, beat_age: float) -> Path:
    path = lock_path(folder, STUDY)
    folder.mkdir(parents=True, exist_ok=True)
    record = {"host": host, "pid": pid, "started": "2024-01-01T00:00:00", "study": STUDY}
    path.write_text(json.dumps({**record, "beat": time.time() - beat_age}))
    return path


@pytest.mark.slow
def test_second_sweeper_is_refused_and_the_first_finishes_its_budget(sweep) -> None:
    s = sweep()
    s.dir.mkdir(parents=True)
    release = s.dir.parent / "release"  # trial 0 runs until the test has checked the second
    args = (*ARGS, "hydra.sweeper.n_trials=3", f"wait_for={{0:'{release}'}}", "wait_seconds=120")
    cmd = [sys.executable, str(s.app), "-m", f"hydra.sweep.dir={s.dir}", *args]
    first = subprocess.Popen(
        cmd, cwd=s.dir.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while not (s.dir / "0").is_dir():  # trial 0 is running (until released)
            assert first.poll() is None and time.monotonic() < deadline, "first sweep stalled"
            time.sleep(0.2)

        second = s.run(*args)
        assert first.poll() is None, "the first sweep ended before the second one was checked"
    finally:
        release.touch()
        out, _ = first.communicate(timeout=120)

    assert second.returncode != 0
    assert "Traceback" not in second.stderr + second.stdout
    assert "Launching" not in second.stdout  # nothing queued
    lines = _error_lines(second.stderr)
    assert len(lines) == 1, second.stderr
    assert f"host {socket.gethostname()}, pid {first.pid}" in lines[0]
    assert STUDY in lines[0]

    assert first.returncode == 0, out[-3000:]
    study = s.study()
    assert _states(study) == {"COMPLETE": 3}  # not a FAIL, not a 4th or 5th trial
    assert not lock_path(s.dir, STUDY).exists()  # released on exit


def test_lock_of_a_dead_process_on_this_host_is_taken_over(sweep) -> None:
    s = sweep()
    dead = _dead_pid()
    path = _write_holder(s.dir, socket.gethostname(), dead, beat_age=0)  # fresh heartbeat
    proc = s.ok(*ARGS, "hydra.sweeper.n_trials=2")
    output = proc.stdout + proc.stderr
    assert f"taking over the lock of the sweeper on host {socket.gethostname()}, pid {dead}" in (
        output
    )
    assert "its process is gone" in output
    assert _states(s.study()) == {"COMPLETE": 2}
    assert not path.exists()


def test_lock_without_a_heartbeat_is_taken_over_from_another_host(sweep) -> None:
    s = sweep()
    path = _write_holder(s.dir, "node-that-died", 4242, beat_age=600)
    proc = s.ok(*ARGS, "hydra.sweeper.n_trials=2")
    output = proc.stdout + proc.stderr
    assert re.search(r"host node-that-died, pid 4242 \(no heartbeat for 6\d\d s\)", output)
    assert _states(s.study()) == {"COMPLETE": 2}
    assert not path.exists()


def test_live_lock_on_another_host_is_refused_in_one_line(sweep) -> None:
    s = sweep()
    path = _write_holder(s.dir, "node7", 4242, beat_age=2)
    before = path.read_text()
    proc = s.run(*ARGS, "hydra.sweeper.n_trials=2")
    assert proc.returncode != 0
    lines = _error_lines(proc.stderr)
    assert len(lines) == 1 and "Traceback" not in proc.stdout, proc.stderr
    assert "another sweeper on host node7, pid 4242" in lines[0]
    assert "nothing was queued" in lines[0]
    assert path.read_text() == before  # the holder's claim is untouched
    assert not (s.dir / "0").exists()


def test_lock_is_released_when_the_sweep_aborts(sweep) -> None:
    s = sweep()
    proc = s.run(
        *ARGS, "hydra.sweeper.n_trials=3", "fail_on=[0,1,2]", "hydra.sweeper.max_failure_rate=0"
    )
    assert proc.returncode != 0 and "Sweep stopped" in proc.stderr
    assert not lock_path(s.dir, STUDY).exists()
    assert not [p for p in os.listdir(s.dir) if p.endswith(".tmp")]
