"""What each cell was given: its trials per stage, epochs and measured compute.

Budgets are trials, stated per stage (``hpo.budget``: stage 1 of ``source_then_target`` on top
of ``n_trials`` or out of it, :data:`tlsweep.benchmark.cells.BUDGET_MEANING`); what else a cell
spent is measured, not budgeted: the time of its pretrainings, its tuning trials and its final
seeds, in hours on the device the jobs ran on. Everything comes from the benchmark folder: the
cells' entries in ``benchmark.yaml`` (trials, start-up trials), each
cell's ``cell.yaml`` (epochs, validation size), the studies' ``trials.csv`` (states, durations),
the final seeds' ``metrics.json`` (``wall_s``, the device) and each job's log, whose line
``pretrained encoder KEY: cache miss, 12.345 s pretraining`` (written by
:func:`tlsweep.methods.assemble.pretrained_encoder`) says what pretraining that job did; a hit
costs nothing there. Nothing here imports torch.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from tlsweep.benchmark.cells import BUDGET_MEANING
from tlsweep.benchmark.layout import (
    CELL_FILE,
    JOB_LOG,
    METRICS_FILE,
    STAGE1_DIR,
    TRIALS_FILE,
    final_dir,
)
from tlsweep.checks import small_validation
from tlsweep.report.collect import Benchmark, expected_seeds
from tlsweep.report.tables import Table

PRETRAINED = re.compile(r"pretrained encoder \S+: cache \w+, ([0-9.]+) s pretraining")
STATES = ("COMPLETE", "PRUNED", "FAIL")
PARTS = ("pretraining", "tuning", "final seeds")


@dataclass
class CellBudget:
    """One cell's trials, epochs and measured compute.

    Attributes:
        name: the cell.
        stage: ``hpo.stage``.
        budget: ``hpo.budget`` (``additional`` for cells recorded before it existed).
        trials: stage (1 or 2) → trials per state (COMPLETE, PRUNED, FAIL); no stage 1: absent.
        planned: stage → trials the study was to run (``benchmark.yaml``).
        startup: stage → random start-up trials of its sampler (None: no start-up phase).
        epochs: ``train.epochs``; ``pretrain_epochs``: ``pretrain.epochs`` when it pretrains.
        seconds: part (:data:`PARTS`) → measured seconds; pretraining is part of the others.
        device: ``GPU`` or ``CPU`` (what the jobs recorded), or None when none did.
        n_val: ``sample_size.n_val``.
    """

    name: str
    stage: str
    budget: str
    trials: dict[int, dict[str, int]] = field(default_factory=dict)
    planned: dict[int, int] = field(default_factory=dict)
    startup: dict[int, int | None] = field(default_factory=dict)
    epochs: int | None = None
    pretrain_epochs: int | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    device: str | None = None
    n_val: int | None = None

    @property
    def total_trials(self) -> int:
        """COMPLETE and PRUNED trials of both stages: what counts against the budget."""
        return sum(t["COMPLETE"] + t["PRUNED"] for t in self.trials.values())


def cell_budgets(bench: Benchmark) -> list[CellBudget]:
    """One :class:`CellBudget` per cell of ``bench.spec``, in its order."""
    return [_cell_budget(bench, cell) for cell in bench.cells]


def budget_header(bench: Benchmark) -> str:
    """The line above the budget table: each ``hpo.budget`` in use and what it means."""
    budgets = sorted({str(c.get("budget") or "additional") for c in bench.cells})
    stated = "; ".join(
        f"hpo.budget={b}{' (the default)' if b == 'additional' else ''}: {BUDGET_MEANING[b]}"
        for b in budgets
        if b in BUDGET_MEANING
    )
    return (
        f"Budgets are tuning trials: {stated}. Pretraining and unlabelled batches count in no "
        "budget: their compute is inside the measured hours of the trials and final seeds."
    )


def seeds_note(bench: Benchmark) -> str | None:
    """What the final seeds vary, so what a cell's ± and interval cover (None: no final seeds)."""
    final = bench.spec.get("final") or {}
    seeds = int(final.get("seeds") or 0)
    if not seeds:
        return None
    first = int(final.get("first_seed") or 0)
    which = f"{seeds} final seeds ({first}–{first + seeds - 1})" if seeds > 1 else "1 final seed"
    if final.get("resample"):
        return (
            f"{which}, each drawing new training and validation subjects (final.resample; the "
            "same draws for every method and sample size, one fixed test set): the spread covers "
            "the draw of the labelled subjects and initialisation."
        )
    return (
        f"{which} on one draw of the training and validation subjects (final.resample=false): "
        "the spread covers initialisation only, not which subjects were labelled."
    )


def compute_table(bench: Benchmark) -> Table:
    """Per cell: trials per stage (complete/pruned/failed), their total, the random start-up,
    epochs, and measured hours of pretraining, tuning and final seeds."""
    budgets = cell_budgets(bench)
    columns = [
        "stage 1 trials", "stage 2 trials", "total trials", "random start-up", "epochs",
        "pretraining epochs", *(f"{part} h" for part in PARTS), "device",
    ]  # fmt: skip
    table = Table(
        title="Budget and measured compute per cell",
        row_axes=["cell"],
        col_axes=["quantity"],
        row_keys=[(b.name,) for b in budgets],
        col_keys=[(c,) for c in columns],
        notes=[
            budget_header(bench),
            "Trials: complete/pruned/failed; total: complete and pruned of both stages. Random "
            "start-up: trials the sampler draws at random before its model, of the stage's "
            "trials. Hours: wall time of the jobs on their device; pretraining (cache misses "
            "only) is part of the tuning and final-seed hours.",
        ],
    )
    for b in budgets:
        texts = _row_texts(b)
        for column, text in zip(columns, texts, strict=True):
            table.text[((b.name,), (column,))] = text
        table.records.append(_record(b))
    return table


def header_notes(bench: Benchmark) -> list[str]:
    """Benchmark-wide cautions, one line each, for the top of the report: validation sets
    below :data:`tlsweep.checks.SMALL_VALIDATION` subjects, and studies whose whole budget was
    their sampler's random start-up (random search, whatever ``hpo`` says)."""
    return [*validation_warnings(bench), *random_search_notes(bench)]


def validation_warnings(bench: Benchmark) -> list[str]:
    """One line per small validation size (:func:`tlsweep.checks.small_validation`), naming
    how many cells, and their sample sizes, it concerns."""
    small: dict[str, list[dict[str, Any]]] = {}
    for cell in bench.cells:
        n_val = _identity(bench, cell).get("sample_size.n_val")
        warning = small_validation(None if n_val is None else int(n_val))
        if warning:
            small.setdefault(warning, []).append(cell)
    return [f"{_cells(cells, len(bench.cells))}: {warning}" for warning, cells in small.items()]


def random_search_notes(bench: Benchmark) -> list[str]:
    """One line when some cells' studies never left their random start-up."""
    random = [
        b for b in cell_budgets(bench)
        if any(s is not None and s >= b.planned[k] > 0 for k, s in b.startup.items())
    ]  # fmt: skip
    if not random:
        return []
    names = {b.name: b for b in random}
    cells = [c for c in bench.cells if str(c["name"]) in names]
    return [
        f"{_cells(cells, len(bench.cells))}: the sampler's random start-up "
        "(n_startup_trials) was the whole budget of a study, so that study is random search"
    ]


def _cells(cells: list[dict[str, Any]], total: int) -> str:
    """E.g. ``4 of 8 cells (sample_size n25)``."""
    sizes = sorted({str(c["sample_size"]) for c in cells if c.get("sample_size")})
    where = f" (sample_size {', '.join(sizes)})" if sizes else ""
    return f"{len(cells)} of {total} cells{where}"


# ---- reading one cell ----


def _cell_budget(bench: Benchmark, cell: dict[str, Any]) -> CellBudget:
    folder, identity = bench.cell_dir(cell), _identity(bench, cell)
    use = cell.get("label_use") or {}
    budget = CellBudget(
        name=str(cell["name"]),
        stage=str(cell.get("stage") or "target_only"),
        budget=str(cell.get("budget") or "additional"),
        epochs=_int(identity.get("train.epochs")),
        n_val=_int(identity.get("sample_size.n_val")),
    )
    if use.get("stage1_roles") or not use:  # a pretraining method, or not recorded
        budget.pretrain_epochs = _int(identity.get("pretrain.epochs"))
    stage1 = int(cell.get("stage1_trials") or 0)
    if stage1:
        budget.planned[1], budget.startup[1] = stage1, cell.get("stage1_startup_trials")
        budget.trials[1] = _states(folder / STAGE1_DIR / TRIALS_FILE)
    budget.planned[2], budget.startup[2] = (
        int(cell.get("n_trials") or 0),
        cell.get("startup_trials"),
    )
    budget.trials[2] = _states(folder / TRIALS_FILE)
    finals = [final_dir(folder, s) for s in expected_seeds(bench.spec)]
    jobs = [*_trial_dirs(folder / STAGE1_DIR), *_trial_dirs(folder), *finals]
    budget.seconds = {
        "pretraining": sum(pretraining_seconds(job) for job in jobs),
        "tuning": _duration(folder / STAGE1_DIR / TRIALS_FILE) + _duration(folder / TRIALS_FILE),
        "final seeds": sum(_metrics(job).get("wall_s") or 0.0 for job in finals),
    }
    budget.device = _device([*finals, *jobs])
    return budget


def _identity(bench: Benchmark, cell: dict[str, Any]) -> dict[str, Any]:
    path = bench.cell_dir(cell) / CELL_FILE
    if not path.is_file():
        return {}
    return (yaml.safe_load(path.read_text()) or {}).get("identity") or {}


def _states(path: Path) -> dict[str, int]:
    counts = dict.fromkeys(STATES, 0)
    if path.is_file():
        for state, n in pd.read_csv(path)["state"].value_counts().items():
            if state in counts:
                counts[str(state)] = int(n)
    return counts


def _duration(path: Path) -> float:
    if not path.is_file():
        return 0.0
    return float(pd.to_numeric(pd.read_csv(path)["duration_s"]).fillna(0).sum())


def _trial_dirs(folder: Path) -> list[Path]:
    """A study's trial job folders (named by trial number) under ``folder``."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and p.name.isdigit())


def pretraining_seconds(job: Path) -> float:
    """Seconds the job spent pretraining, from its log (0 on a cache hit or without a log)."""
    log = job / JOB_LOG
    if not log.is_file():
        return 0.0
    return sum(float(m[1]) for m in PRETRAINED.finditer(log.read_text(errors="replace")))


def _metrics(job: Path) -> dict[str, Any]:
    path = job / METRICS_FILE
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except json.JSONDecodeError:
        return {}


def _device(jobs: list[Path]) -> str | None:
    """``GPU`` if any job ran on CUDA, ``CPU`` if jobs recorded only CPUs, None if none did."""
    devices = {str((_metrics(j).get("placement") or {}).get("device") or "") for j in jobs}
    devices.discard("")
    if not devices:
        return None
    return "GPU" if any(d.startswith("cuda") for d in devices) else "CPU"


# ---- formatting ----


def _row_texts(b: CellBudget) -> list[str]:
    def trials(stage: int) -> str:
        t = b.trials.get(stage)
        return "/".join(str(t[s]) for s in STATES) if t is not None else "–"

    hours = [_hours(b.seconds.get(part)) for part in PARTS]
    return [
        trials(1), trials(2), str(b.total_trials), _startup(b), _text(b.epochs),
        _text(b.pretrain_epochs), *hours, b.device or "–",
    ]  # fmt: skip


def _startup(b: CellBudget) -> str:
    """E.g. ``2 of 2 (random search); 2 of 4``: stage 1 first, when there is one."""
    parts = []
    for stage in sorted(b.planned):
        startup, planned = b.startup.get(stage), b.planned[stage]
        if startup is None:
            parts.append("–")
            continue
        random = " (random search)" if startup >= planned else ""
        parts.append(f"{min(startup, planned)} of {planned}{random}")
    return "; ".join(parts)


def _record(b: CellBudget) -> dict[str, Any]:
    record: dict[str, Any] = {"cell": b.name, "stage": b.stage, "budget": b.budget}
    for stage, counts in b.trials.items():
        record |= {f"stage{stage}_{s.lower()}": n for s, n in counts.items()}
        record[f"stage{stage}_startup"] = b.startup.get(stage)
    record |= {"total_trials": b.total_trials, "epochs": b.epochs, "device": b.device}
    record |= {"pretrain_epochs": b.pretrain_epochs, "n_val": b.n_val}
    return record | {f"{part.replace(' ', '_')}_s": s for part, s in b.seconds.items()}


def _hours(seconds: float | None) -> str:
    return "–" if seconds is None or math.isnan(seconds) else f"{seconds / 3600:.3g}"


def _text(value: int | None) -> str:
    return "–" if value is None else str(value)


def _int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


__all__ = [
    "CellBudget", "budget_header", "cell_budgets", "compute_table", "header_notes",
    "pretraining_seconds", "random_search_notes", "seeds_note", "validation_warnings",
]  # fmt: skip
