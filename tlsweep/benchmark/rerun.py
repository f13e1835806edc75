"""``tlsweep rerun``: retrain a reported final seed from what it recorded, and compare.

    tlsweep rerun multirun/hpo --cell scratch-tiny3d-synthetic_brain-n25-s0-tpe-3fa2c1 --seed 1000
    tlsweep rerun multirun/hpo --run-id 5c1f...        # the final seed logged as that MLflow run
    tlsweep rerun multirun/hpo                         # every final seed of the benchmark

A final seed's job folder holds the overrides it ran with (``.hydra/overrides.yaml``), the
folder it ran from and its ``metrics.json`` (metrics and provenance). The rerun runs the same
overrides as a plain run, from the same folder, into ``<benchmark>/reruns/<cell>/seed<k>/``,
with the pretrained-encoder cache off (``--use-cache`` reuses it), so everything is retrained,
and without tracking (the rerun is no result of the study).
It then prints each metric side by side and what differs in the provenance (code, packages,
device, cohort or split digests). On CPU with the same code and data the metrics are
bit-identical; the exit status is 0 when they are, 1 when they are not, 2 for bad input.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tlsweep.benchmark import layout
from tlsweep.errors import ConfigError, suggest

RERUNS_DIR = "reruns"
# provenance that may legitimately differ between a run and its rerun
NOT_COMPARED = ("command",)


def parser() -> argparse.ArgumentParser:
    """The command's arguments."""
    p = argparse.ArgumentParser(
        prog="tlsweep rerun",
        description="Retrain final seeds of a benchmark from their records and compare.",
    )
    p.add_argument("path", type=Path, help="the benchmark folder (holds benchmark.yaml)")
    p.add_argument("--cell", help="the cell's name (default: every cell)")
    p.add_argument("--seed", type=int, help="the final seed (default: every final seed)")
    p.add_argument("--run-id", help="the MLflow run id of a final seed (instead of cell/seed)")
    p.add_argument("--out", type=Path, help="where the reruns go (default: PATH/reruns)")
    p.add_argument("--use-cache", action="store_true", help="reuse cached pretrained encoders")
    return p


def main(argv: list[str]) -> int:
    """Run ``tlsweep rerun``; returns the exit status."""
    args = parser().parse_args(argv)
    try:
        finals = select(args.path, args.cell, args.seed, args.run_id)
    except ConfigError as exc:
        print(f"tlsweep: error: {exc}", file=sys.stderr)
        return 2
    out = args.out or args.path / RERUNS_DIR
    identical = True
    for folder in finals:
        identical &= compare(folder, rerun(folder, out, args.use_cache))
    return 0 if identical else 1


def select(bench: Path, cell: str | None, seed: int | None, run_id: str | None) -> list[Path]:
    """The final-seed folders to rerun.

    Raises:
        ConfigError: no benchmark there, or an unknown cell, seed or run id (naming those that
            exist).
    """
    spec_path = bench / layout.SPEC_FILE
    if not spec_path.is_file():
        raise ConfigError(f"rerun path={bench}: no {layout.SPEC_FILE} (not a benchmark folder)")
    spec = yaml.safe_load(spec_path.read_text()) or {}
    cells = {str(c["name"]): bench / str(c.get("dir") or c["name"]) for c in spec.get("cells", [])}
    finals = {
        name: sorted(f for f in (folder / layout.FINAL_DIR).glob("seed*") if _ok(f))
        for name, folder in cells.items()
    }
    if run_id is not None:
        every = [f for fs in finals.values() for f in fs]
        found = [f for f in every if _record(f).get("mlflow_run_id") == run_id]
        if not found:
            raise ConfigError(
                f"--run-id {run_id}: no final seed of {bench} was logged as that run"
            )
        return found
    if cell is not None:
        if cell not in cells:
            listed = ", ".join(sorted(cells)) or "none"
            hint = suggest(cell, cells)
            raise ConfigError(f"--cell {cell}: no such cell; {hint}cells: {listed}")
        finals = {cell: finals[cell]}
    if seed is not None:
        chosen = [f for fs in finals.values() for f in fs if layout.final_seed_of(f) == seed]
        if not chosen:
            seeds = sorted({layout.final_seed_of(f) for fs in finals.values() for f in fs})
            raise ConfigError(f"--seed {seed}: no finished final seed {seed}; seeds: {seeds}")
        return chosen
    return [f for fs in finals.values() for f in fs]


def rerun(folder: Path, out: Path, use_cache: bool = False) -> Path:
    """Retrain the final seed in ``folder`` into ``out/<cell>/seed<k>``; return that folder."""
    overrides = yaml.safe_load((folder / ".hydra" / "overrides.yaml").read_text()) or []
    hydra = yaml.safe_load((folder / ".hydra" / "hydra.yaml").read_text())["hydra"]
    target = out / folder.parent.parent.name / folder.name
    shutil.rmtree(target, ignore_errors=True)
    extra = [f"hydra.run.dir={target.absolute()}", "tracking.enabled=false"]
    extra += [] if use_cache else ["pretrain.cache=false"]
    cwd = Path(hydra["runtime"]["cwd"])
    command = [sys.executable, "-m", "tlsweep.cli", *overrides, *extra]
    print(f"rerun {folder.parent.parent.name} {folder.name} -> {target}", flush=True)
    proc = subprocess.run(command, cwd=cwd if cwd.is_dir() else None, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"tlsweep: error: the rerun of {folder} failed (exit {proc.returncode})")
    return target


def _identical(a: Any, b: Any) -> bool:
    """Equal, or both NaN (a metric undefined in both runs, e.g. a constant predictor's r)."""
    return a == b or (isinstance(a, float) and isinstance(b, float) and a != a and b != b)


def compare(recorded: Path, rerun_dir: Path) -> bool:
    """Print the recorded and the rerun metrics side by side and what provenance differs.

    Returns:
        Whether every metric is bit-identical.
    """
    old, new = _record(recorded), _record(rerun_dir)
    metrics = sorted(set(old.get("metrics", {})) | set(new.get("metrics", {})))
    same = [_identical(old["metrics"].get(m), new["metrics"].get(m)) for m in metrics]
    for metric, equal in zip(metrics, same, strict=True):
        a, b = old["metrics"].get(metric), new["metrics"].get(metric)
        print(f"  {metric:<24} {a!r:>24} {b!r:>24}  {'identical' if equal else 'DIFFERENT'}")
    changed = _provenance_changes(old.get("provenance") or {}, new.get("provenance") or {})
    for line in changed:
        print(f"  provenance: {line}")
    verdict = "bit-identical" if all(same) else f"{same.count(False)} metric(s) differ"
    why = "" if all(same) or changed else " although code, packages, device and data are the same"
    print(f"  {verdict}{why}")
    return all(same)


def _provenance_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    keys = sorted((old.keys() | new.keys()) - set(NOT_COMPARED))
    return [f"{k} {old.get(k)} -> {new.get(k)}" for k in keys if old.get(k) != new.get(k)]


def _record(folder: Path) -> dict[str, Any]:
    return layout.read_record(folder) or {}


def _ok(folder: Path) -> bool:
    return layout.final_seed_of(folder) is not None and _record(folder).get("status") == "ok"
