"""Shared helpers of the sweeper benchmarks: run the test app's multirun and read its study."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
from optuna.storages.journal import JournalFileBackend, JournalStorage

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "tests" / "sweeper" / "apps" / "objective.py"


def multirun(sweep_dir: Path, overrides: list[str], timeout: float = 3600) -> optuna.Study:
    """Run the objective app with ``-m`` through the real plugin and return its study."""
    cmd = [sys.executable, str(APP), "-m", f"hydra.sweep.dir={sweep_dir}", *overrides]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    storage = JournalStorage(JournalFileBackend(str(sweep_dir / "optuna_journal.log")))
    (summary,) = optuna.get_all_study_summaries(storage)
    return optuna.load_study(study_name=summary.study_name, storage=storage)
