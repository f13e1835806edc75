"""A cell's final seeds: what each one runs, and which of those on disk still count.

Final seed ``k`` reruns the cell's selected configuration with ``seed=k`` (and, with
``final.resample``, ``split.draw=k``), judged once on test; its job writes ``metrics.json``
recording the trial it reran and its overrides. A seed on disk counts only while it reran the
current selection with the overrides this code would give it now; otherwise it is set aside in
``final/superseded/`` (kept for the record, never reported) and run again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tlsweep.benchmark import layout

REPLACED = ("seed", "split.draw")  # what a final seed sets itself


def final_overrides(selected: list[str], seed: int, resample: bool) -> list[str]:
    """The overrides of final seed ``seed`` given the selected configuration's overrides."""
    overrides = [o for o in selected if _key(o) not in REPLACED]
    overrides.append(f"seed={seed}")
    if resample:
        overrides.append(f"split.draw={seed}")
    return overrides


def final_record(folder: Path) -> dict[str, Any] | None:
    """A final seed's ``metrics.json``, or None when it is missing or unreadable."""
    return layout.read_record(folder)


def counts(record: dict[str, Any] | None, trial: int | None, overrides: list[str]) -> bool:
    """Whether a final seed's record is a finished rerun of ``trial`` with ``overrides``."""
    if record is None or record.get("status") != "ok" or record.get("trial") != trial:
        return False
    params = record.get("params") or {}
    return all(params.get(_key(o)) == o.split("=", 1)[1] for o in overrides)


def set_aside(cell: Path, seed: int, trial: int | None) -> Path:
    """Move final seed ``seed`` of the cell in folder ``cell`` (a rerun of ``trial``) to
    ``final/superseded/``; return where it went."""
    moved = layout.superseded_dir(cell, seed, trial)
    moved.parent.mkdir(parents=True, exist_ok=True)
    layout.final_dir(cell, seed).rename(moved)
    return moved


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")
