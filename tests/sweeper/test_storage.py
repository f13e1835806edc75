"""A study storage that cannot be created is refused in one line, before anything is written."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from hydra_plugins.tlsweep_sweeper._settings import SweeperConfigError
from hydra_plugins.tlsweep_sweeper.storage import open_storage, storage_spec

ROOT = hasattr(os, "geteuid") and os.geteuid() == 0  # root may write anywhere


def _under_a_file(tmp_path: Path) -> Path:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    return blocker


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_a_storage_under_a_regular_file_is_named(tmp_path: Path, kind: str) -> None:
    blocker = _under_a_file(tmp_path)
    spec = f"sqlite:///{blocker}/hpo.db" if kind == "sqlite" else str(blocker / "sub" / "j.log")
    pattern = rf"^hydra\.sweeper\.storage={re.escape(spec)}: {re.escape(str(blocker))} is a file"
    for call in (lambda: storage_spec(spec, tmp_path), lambda: open_storage(spec)):
        with pytest.raises(SweeperConfigError, match=pattern) as caught:
            call()
        assert "\n" not in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]  # nothing created


def test_a_folder_as_the_journal_and_a_file_that_is_no_database(tmp_path: Path) -> None:
    with pytest.raises(SweeperConfigError, match=r"storage=\S+: \S+ is a folder, not a file$"):
        open_storage(str(tmp_path))
    notes = tmp_path / "notes.db"
    notes.write_text("my notes, not a database")
    with pytest.raises(SweeperConfigError, match=r"storage=sqlite:///\S+: cannot open it: file "):
        open_storage(f"sqlite:///{notes}")
    assert notes.read_text() == "my notes, not a database"


@pytest.mark.skipif(ROOT, reason="root may write in a read-only folder")
@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_an_unwritable_folder_is_named(tmp_path: Path, kind: str) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    spec = f"sqlite:///{locked}/hpo.db" if kind == "sqlite" else str(locked / "j.log")
    try:
        with pytest.raises(SweeperConfigError, match=rf"no permission to write in {locked}$"):
            open_storage(spec)
    finally:
        locked.chmod(0o700)


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_a_sweep_with_such_a_storage_queues_nothing(sweep, tmp_path: Path, kind: str) -> None:
    s = sweep()
    blocker = _under_a_file(tmp_path)
    spec = f"sqlite:///{blocker}/hpo.db" if kind == "sqlite" else str(blocker / "j.log")
    proc = s.run("hpo=random", "x0=interval(-2,2)", f"hydra.sweeper.storage='{spec}'")
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if "hydra.sweeper.storage=" in line]
    target = spec.removeprefix("sqlite:///")
    expected = f"hydra.sweeper.storage={spec}: {blocker} is a file, so {target} cannot be created"
    assert lines == [expected], proc.stderr[-3000:]
    assert not list(s.dir.iterdir()), "no trial, no journal, no lock"
