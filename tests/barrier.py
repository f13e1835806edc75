"""Processes that meet at a file barrier, so they hit a shared store at the same moment.

A worker is a ``python -c`` script: it does its slow imports, touches ``<folder>/ready-<i>``, then
waits for ``<folder>/go`` before touching the store.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_together(
    script: str, args: list[list[str]], folder: Path, timeout: float
) -> list[subprocess.CompletedProcess]:
    """Run ``python -c script *args[i]`` for each i in ``folder``; release them all at once.

    Returns:
        One finished process per worker (stdout and stderr together in ``stdout``).
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, *worker],
            cwd=folder,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for worker in args
    ]
    deadline = time.monotonic() + timeout
    while len(list(folder.glob("ready-*"))) < len(procs):
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            break  # a worker died before the barrier: its output says why
        time.sleep(0.05)
    (folder / "go").touch()
    finished = []
    for proc in procs:
        out, _ = proc.communicate(timeout=timeout)
        finished.append(subprocess.CompletedProcess(proc.args, proc.returncode, out))
    return finished
