"""Helpers for the sweeper tests: run a test app's multirun as a subprocess, open its study."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest

APPS = Path(__file__).parent / "apps"


class Sweep:
    """One multirun of a test app in its own sweep dir."""

    def __init__(self, app: str, sweep_dir: Path) -> None:
        self.app, self.dir = APPS / app, sweep_dir

    def run(self, *overrides: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run ``app.py -m hydra.sweep.dir=<dir> *overrides`` and return the finished process."""
        cmd = [sys.executable, str(self.app), "-m", f"hydra.sweep.dir={self.dir}", *overrides]
        return subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, cwd=self.dir.parent
        )

    def ok(self, *overrides: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run and require exit code 0, showing the output otherwise."""
        proc = self.run(*overrides, timeout=timeout)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        return proc

    def study(self) -> optuna.Study:
        """The (single) study in the sweep dir's journal."""
        return journal_study(self.dir)


def journal_study(folder: Path) -> optuna.Study:
    """The one study in ``folder/optuna_journal.log`` (a sweep dir or a cell's folder)."""
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(folder / "optuna_journal.log"))
    )
    (summary,) = optuna.get_all_study_summaries(storage)
    return optuna.load_study(study_name=summary.study_name, storage=storage)


@pytest.fixture
def sweep(tmp_path: Path):  # noqa: ANN201
    """Factory: ``sweep("objective.py")`` -> a :class:`Sweep` in ``tmp_path/sweep``."""
    return lambda app="objective.py": Sweep(app, tmp_path / "sweep")
