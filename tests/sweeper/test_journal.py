"""A journal torn by a killed writer is repaired, backed up and reported; the sweep goes on."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import optuna
import pytest
from optuna.storages.journal import JournalFileBackend, JournalStorage

from hydra_plugins.tlsweep_sweeper._settings import SweeperConfigError
from hydra_plugins.tlsweep_sweeper.storage import JOURNAL_FILE, open_journal

ARGS = ("hpo=random", "x0=interval(-2,2)", "hydra.sweeper.study_name=torn")


def _tear(journal: Path) -> bytes:
    """Append the first half of a real log line, as a write killed half-way leaves it."""
    last = journal.read_bytes().splitlines(keepends=True)[-1]
    torn = last[: len(last) // 2]
    with journal.open("ab") as f:
        f.write(torn)
    return torn


def _backups(folder: Path) -> list[Path]:
    return sorted(folder.glob(f"{JOURNAL_FILE}.torn-*"))


def test_torn_last_line_is_cut_backed_up_and_the_sweep_resumes(sweep) -> None:
    s = sweep()
    s.ok(*ARGS, "hydra.sweeper.n_trials=3")
    journal = s.dir / JOURNAL_FILE
    intact = journal.read_bytes()
    torn = _tear(journal)

    proc = s.ok(*ARGS, "hydra.sweeper.n_trials=5")
    warned = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "torn last line" in ln]
    assert len(warned) == 1, warned
    assert str(journal) in warned[0] and f"({len(torn)} bytes" in warned[0]
    (backup,) = _backups(s.dir)
    assert backup.read_bytes() == intact + torn
    assert journal.read_bytes().startswith(intact)
    assert Counter(t.state.name for t in s.study().trials) == {"COMPLETE": 5}


def test_journal_already_broken_by_an_append_after_the_tear_is_mended(sweep) -> None:
    s = sweep()
    s.ok(*ARGS, "hydra.sweeper.n_trials=2")
    journal = s.dir / JOURNAL_FILE
    torn = _tear(journal)
    # what tlsweep did before this repair: plain Optuna appends right after the fragment
    storage = JournalStorage(JournalFileBackend(str(journal)))
    study = optuna.load_study(study_name="torn", storage=storage)
    study.set_user_attr("note", "kept")  # glued to the fragment
    with pytest.raises(ValueError):  # written, then read back: the glued line is not JSON
        study.set_user_attr("later", "kept too")
    with pytest.raises(ValueError):  # and every rerun died here
        JournalStorage(JournalFileBackend(str(journal)))

    proc = s.ok(*ARGS, "hydra.sweeper.n_trials=4")
    output = proc.stdout + proc.stderr
    assert re.search(
        rf"journal {re.escape(str(journal))}: removed torn fragments \({len(torn)} ", output
    )
    assert len(_backups(s.dir)) == 1
    study = s.study()
    assert study.user_attrs["note"] == "kept"  # the log glued to the fragment survives
    assert study.user_attrs["later"] == "kept too"
    assert Counter(t.state.name for t in study.trials) == {"COMPLETE": 4}


def test_trailing_line_that_is_not_json_is_dropped(tmp_path: Path) -> None:
    journal = tmp_path / JOURNAL_FILE
    optuna.create_study(storage=open_journal(journal), study_name="z")
    intact = journal.read_bytes()
    journal.write_bytes(intact + b"\0" * 100 + b"\n")  # a block zero-filled by a crash
    optuna.load_study(study_name="z", storage=open_journal(journal))
    assert journal.read_bytes() == intact
    assert len(_backups(tmp_path)) == 1
    assert open_journal(journal) is not None and len(_backups(tmp_path)) == 1  # intact: no copy


def test_a_file_that_is_no_journal_is_refused_not_truncated(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("my notes, not a journal")
    with pytest.raises(SweeperConfigError, match=r"hydra.sweeper.storage=.*notes.txt"):
        open_journal(path)
    assert path.read_text() == "my notes, not a journal"
