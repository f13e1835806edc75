"""Read a benchmark folder into one table: one row per cell × final seed (``benchmark.csv``).

The folder is what one ``tlsweep -m ...`` multirun leaves (see :mod:`tlsweep.benchmark.layout`):
``benchmark.yaml`` names the expected cells and final seeds; each cell folder holds the study's
``optimization_results.yaml`` and ``trials.csv`` and one ``final/seed<k>/metrics.json`` per
final seed. Whatever is missing becomes a row with ``status=missing`` and a warning; cells and
seeds found on disk but not expected are left out of the table, with a warning, so every method
is judged on the same seeds.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from tlsweep.benchmark.layout import (
    CSV_FILE,
    FINAL_DIR,
    METRICS_FILE,
    RESULTS_FILE,
    SPEC_FILE,
    STAGE1_DIR,
    TRIALS_FILE,
    final_dir,
    final_seed_of,
)
from tlsweep.errors import ConfigError
from tlsweep.report.consistency import check_rows
from tlsweep.report.stats import BASELINE_PREFIX

log = logging.getLogger(__name__)

AXES = ("method", "encoder", "dataset", "sample_size", "seed_cell", "tuning", "stage", "variant")
LEADING = (
    "cell", "method", "encoder", "dataset", "sample_size", "n_train", "seed_cell", "tuning",
    "stage", "variant", "final_seed", "resample", "objective", "direction", "best_trial",
    "best_value", "best_params",
)  # fmt: skip
TRAILING = (
    "wall_s", "trials_complete", "trials_pruned", "trials_failed", "trials_wall_s",
    "stage1_trials_complete", "status", "cell_hash", "final_trial",
)  # fmt: skip
# then the provenance columns, as each final seed recorded them (tlsweep.benchmark.provenance)
INTEGERS = (
    "n_train", "seed_cell", "final_seed", "best_trial", "trials_complete", "trials_pruned",
    "trials_failed", "stage1_trials_complete", "final_trial",
)  # fmt: skip


@dataclass
class Benchmark:
    """A benchmark folder as read by :func:`load_benchmark`.

    Attributes:
        path: the folder.
        spec: ``benchmark.yaml`` as a dict.
        frame: one row per expected cell × expected final seed (the ``benchmark.csv`` columns).
        trials: cell name → its ``trials.csv`` (cells without one are absent).
        warnings: one line per missing or unexpected cell, seed or file.
    """

    path: Path
    spec: dict[str, Any]
    frame: pd.DataFrame
    trials: dict[str, pd.DataFrame] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def cells(self) -> list[dict[str, Any]]:
        """The expected cells, as listed in ``benchmark.yaml``."""
        return list(self.spec.get("cells") or [])

    def cell_dir(self, cell: dict[str, Any]) -> Path:
        """The folder of ``cell`` (its ``dir`` is relative to the benchmark folder)."""
        return self.path / str(cell.get("dir") or cell["name"])


def read_spec(path: Path) -> dict[str, Any]:
    """Read ``<path>/benchmark.yaml``.

    Raises:
        ConfigError: the folder or the file is missing, or the file is not a benchmark spec.
    """
    if not path.is_dir():
        raise ConfigError(f"report path={path}: no such folder")
    spec_path = path / SPEC_FILE
    if not spec_path.is_file():
        raise ConfigError(
            f"report path={path}: no {SPEC_FILE} (not a benchmark folder; "
            "it is written when `tlsweep -m ...` starts)"
        )
    spec = yaml.safe_load(spec_path.read_text())
    if not isinstance(spec, dict) or not isinstance(spec.get("cells"), list):
        raise ConfigError(f"{spec_path}: cells: missing or not a list")
    return spec


def expected_seeds(spec: dict[str, Any]) -> list[int]:
    """``first_seed .. first_seed + seeds - 1`` from the spec's ``final`` section."""
    final = spec.get("final") or {}
    first = int(final.get("first_seed", 0))
    return list(range(first, first + int(final.get("seeds", 0))))


def load_benchmark(path: str | Path) -> Benchmark:
    """Read a benchmark folder (see the module docstring).

    Raises:
        ConfigError: ``path`` is not a benchmark folder.
    """
    path = Path(path).absolute()
    spec = read_spec(path)
    bench = Benchmark(path=path, spec=spec, frame=pd.DataFrame())
    seeds = expected_seeds(spec)
    rows: list[dict[str, Any]] = []
    for cell in bench.cells:
        rows += _cell_rows(bench, cell, seeds)
    _warn_extra_cells(bench)
    frame = _order_columns(pd.DataFrame(rows))
    bench.frame = check_rows(frame, bench.warnings)
    for column in INTEGERS:  # NaN where missing would make them floats (5.0) in the CSV
        bench.frame[column] = pd.to_numeric(bench.frame[column]).astype("Int64")
    for line in bench.warnings:
        log.warning(line)
    return bench


def write_csv(bench: Benchmark, path: Path | None = None) -> Path:
    """Write ``benchmark.csv`` (to the benchmark folder unless ``path`` is given), atomically."""
    path = path or bench.path / CSV_FILE
    tmp = path.with_name(f".{path.name}.tmp")
    bench.frame.to_csv(tmp, index=False)
    tmp.replace(path)
    return path


def _cell_rows(bench: Benchmark, cell: dict[str, Any], seeds: list[int]) -> list[dict[str, Any]]:
    name = str(cell["name"])
    folder = bench.cell_dir(cell)
    if not folder.is_dir():
        bench.warnings.append(f"cell {name}: folder {folder.name}/ missing")
    base = _cell_base(bench, cell) | _results(bench, cell, folder) | _trial_counts(bench, cell)
    base["stage1_trials_complete"] = _count_complete(folder / STAGE1_DIR / TRIALS_FILE)
    rows = [_final_row(bench, name, base, final_dir(folder, s), s) for s in seeds]
    _warn_extra_seeds(bench, name, folder / FINAL_DIR, seeds)
    # final.seeds=0: the cell still gets its row (best val and trial counts, no test metrics)
    return rows or [base | {"final_seed": None, "status": "missing"}]


def _cell_base(bench: Benchmark, cell: dict[str, Any]) -> dict[str, Any]:
    final = bench.spec.get("final") or {}
    base = {"cell": str(cell["name"])}
    base |= {k: cell.get(k) for k in ("method", "encoder", "dataset", "sample_size", "n_train")}
    base |= {"seed_cell": cell.get("seed"), "tuning": cell.get("tuning")}
    base |= {"stage": cell.get("stage", "target_only"), "resample": bool(final.get("resample"))}
    base |= {"variant": cell.get("variant") or "", "cell_hash": cell.get("config_hash")}
    base |= {"objective": bench.spec.get("objective"), "direction": bench.spec.get("direction")}
    return base


def _results(bench: Benchmark, cell: dict[str, Any], folder: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"best_trial": None, "best_value": math.nan, "best_params": None}
    path = folder / RESULTS_FILE
    if not path.is_file():
        if int(cell.get("n_trials") or 0) > 0 and folder.is_dir():
            bench.warnings.append(f"cell {cell['name']}: {RESULTS_FILE} missing")
        return out
    results = yaml.safe_load(path.read_text()) or {}
    out["best_trial"] = results.get("best_trial")
    out["best_value"] = _float(results.get("best_value"))
    params = results.get("best_params")
    out["best_params"] = json.dumps(params, sort_keys=True) if params is not None else None
    return out


def _trial_counts(bench: Benchmark, cell: dict[str, Any]) -> dict[str, Any]:
    name, path = str(cell["name"]), bench.cell_dir(cell) / TRIALS_FILE
    counts = {"trials_complete": 0, "trials_pruned": 0, "trials_failed": 0, "trials_wall_s": 0.0}
    if not path.is_file():
        if int(cell.get("n_trials") or 0) > 0 and bench.cell_dir(cell).is_dir():
            bench.warnings.append(f"cell {name}: {TRIALS_FILE} missing")
        return counts
    trials = pd.read_csv(path)
    bench.trials[name] = trials
    states = trials["state"].value_counts()
    counts["trials_complete"] = int(states.get("COMPLETE", 0))
    counts["trials_pruned"] = int(states.get("PRUNED", 0))
    counts["trials_failed"] = int(states.get("FAIL", 0))
    counts["trials_wall_s"] = float(pd.to_numeric(trials["duration_s"]).fillna(0).sum())
    return counts


def _count_complete(path: Path) -> int:
    if not path.is_file():
        return 0
    return int((pd.read_csv(path)["state"] == "COMPLETE").sum())


def _final_row(
    bench: Benchmark, name: str, base: dict[str, Any], folder: Path, seed: int
) -> dict[str, Any]:
    row = base | {"final_seed": seed, "wall_s": math.nan, "status": "missing"}
    path = folder / METRICS_FILE
    if not path.is_file():
        bench.warnings.append(f"cell {name}: final seed {seed} missing ({path.parent.name}/)")
        return row
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        bench.warnings.append(f"cell {name}: final seed {seed}: unreadable {METRICS_FILE} ({exc})")
        return row
    if data.get("cell") not in (None, name):
        bench.warnings.append(f"cell {name}: final seed {seed} belongs to cell {data['cell']}")
    metrics = {k: _float(v) for k, v in (data.get("metrics") or {}).items()}
    ok = data.get("status", "ok") == "ok"
    if not ok:
        bench.warnings.append(f"cell {name}: final seed {seed} failed ({data.get('status')})")
    row |= metrics | {"wall_s": _float(data.get("wall_s")), "status": "ok" if ok else "failed"}
    return row | {"final_trial": data.get("trial")} | (data.get("provenance") or {})


def _warn_extra_seeds(bench: Benchmark, name: str, final: Path, seeds: list[int]) -> None:
    if not final.is_dir():
        return
    found = {p.name for p in final.iterdir() if p.is_dir() and final_seed_of(p) is not None}
    extra = sorted(found - {final_dir(final.parent, s).name for s in seeds})
    if extra:
        bench.warnings.append(
            f"cell {name}: unexpected final seed folders {', '.join(extra)} ignored "
            f"(expected seeds {seeds[0] if seeds else '-'}..{seeds[-1] if seeds else '-'})"
        )


def _warn_extra_cells(bench: Benchmark) -> None:
    known = {bench.cell_dir(c).name for c in bench.cells}
    for sub in sorted(p for p in bench.path.iterdir() if p.is_dir() and p.name not in known):
        if any((sub / f).exists() for f in (RESULTS_FILE, TRIALS_FILE, FINAL_DIR)):
            bench.warnings.append(f"cell folder {sub.name}/ is not in {SPEC_FILE}; ignored")


def _order_columns(frame: pd.DataFrame) -> pd.DataFrame:
    for column in (*LEADING, *TRAILING):
        if column not in frame:
            frame[column] = None
    metrics = sorted(c for c in frame if c.startswith("val/"))
    metrics += sorted(c for c in frame if c.startswith("test/"))
    metrics += sorted(c for c in frame if c.startswith("test_external/"))
    metrics += sorted(c for c in frame if c.startswith(BASELINE_PREFIX))  # the trivial predictor
    rest = [c for c in frame if c not in {*LEADING, *TRAILING, *metrics}]
    return frame[[*LEADING, *metrics, *TRAILING, *rest]]


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan
