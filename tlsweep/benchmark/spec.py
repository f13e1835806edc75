"""``benchmark.yaml``, the benchmark's spec, and the report written from a finished benchmark.

The spec lists every command run into a benchmark folder and the cells they asked for (each
with its identity, :mod:`tlsweep.benchmark.record`); a later command into the same folder adds
its own, so ``hpo=tpe`` and then ``hpo=untuned`` into one folder make one benchmark of both, and
the report calls only cells no command asked for "extra". The sweeper writes it when a multirun
starts and has the report written when it ends (:func:`publish`).
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from tlsweep.benchmark.layout import SPEC_FILE

log = logging.getLogger(__name__)


def record_command(
    folder: Path,
    command: str,
    cells: Sequence[Mapping[str, Any]],
    *,
    objective: str,
    direction: str,
    final: Mapping[str, Any] | None,
) -> None:
    """Merge one command and its cells into ``folder/benchmark.yaml`` (atomically, locked: two
    commands may start in one folder at once)."""
    from filelock import FileLock

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / SPEC_FILE
    with FileLock(f"{path}.lock", timeout=60):
        old = yaml.safe_load(path.read_text()) or {} if path.exists() else {}
        final = dict(final) if final is not None else None
        if old.get("final") not in (None, final):
            log.warning(f"final settings differ from an earlier command's in {path}: {final}")
        merged = {c["name"]: c for c in old.get("cells") or []}
        merged.update({c["name"]: dict(c) for c in cells})
        content = {
            "command": command,
            "commands": [*[c for c in old.get("commands") or [] if c != command], command],
            "objective": objective,
            "direction": direction,
            "final": final,
            "cells": list(merged.values()),
        }
        tmp = path.with_name(f"{path.name}.tmp")
        tmp.write_text(yaml.safe_dump(content, sort_keys=False))
        tmp.replace(path)  # a report reading it never sees half a file


def publish(folder: Path, mlflow: bool) -> None:
    """Write benchmark.csv, print the summary, write the report (and log it to MLflow).

    In a child process: the report needs pandas, matplotlib and MLflow, and the sweeper's own
    process stays light. A failed report does not fail the sweep: ``tlsweep report`` redoes it.
    """
    code = (
        "import sys; from tlsweep.report.cli import main; d = sys.argv[1]; main([d, '--summary']);"
        " sys.exit(main([d, *sys.argv[2:]]))"
    )
    args = [str(folder), *(["--mlflow"] if mlflow else [])]
    try:
        proc = subprocess.run([sys.executable, "-c", code, *args], check=False)
    except OSError as e:
        log.warning(f"no benchmark report: {e}")
        return
    if proc.returncode:
        log.warning(
            f"the benchmark report failed (exit {proc.returncode}); rerun: tlsweep report {folder}"
        )
