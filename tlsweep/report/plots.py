"""The report's figures, each saved as PNG (for the page), PDF (for ``\\includegraphics``) and SVG.

Figures are plain :class:`matplotlib.figure.Figure` objects rendered by the Agg canvas: no
pyplot, no global backend state, so the report runs headless and in threads. Every function
returns a :class:`Plot`, or None with a reason in ``notes`` when the benchmark has nothing to
show for it (one sample size, no untuned cells, ...).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from tlsweep.report.collect import Benchmark
from tlsweep.report.stats import maximize, ok_rows, summarize
from tlsweep.report.tables import axes_in_use, axis_order, label

log = logging.getLogger(__name__)
FORMATS = ("png", "pdf", "svg")


@dataclass
class Plot:
    """One saved figure: ``files`` maps a format (``png``, ``pdf``, ``svg``) to its path."""

    name: str
    title: str
    files: dict[str, Path] = field(default_factory=dict)


def save(fig: Figure, out: Path, stem: str, name: str, title: str) -> Plot:
    """Save ``fig`` as ``<out>/<stem>-<name>.{png,pdf,svg}``."""
    out.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    files = {}
    for fmt in FORMATS:
        files[fmt] = out / f"{stem}-{name}.{fmt}"
        meta = {"Date": None} if fmt == "svg" else None  # reproducible SVG files
        fig.savefig(files[fmt], dpi=150, metadata=meta)
    return Plot(name, title, files)


def _grid(n: int, width: float = 4.2, height: float = 3.0) -> tuple[Figure, list]:
    ncols = min(3, max(1, n))
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(width * ncols, height * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def learning_curve(
    frame: pd.DataFrame, metric: str, out: Path, stem: str, notes: list[str]
) -> Plot | None:
    """``metric`` against the number of labelled training subjects, one line per method."""
    good = ok_rows(frame)
    if good.empty or metric not in good:
        notes.append("learning curve: no finished final seeds")
        return None
    series = axes_in_use(frame, ["method"], ["sample_size"])
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.subplots()
    order = axis_order(frame)
    for key, group in sorted(good.groupby(series, sort=False), key=lambda kv: order(kv[0])):
        points = []
        for n, sub in group.groupby("n_train"):
            s = summarize(pd.to_numeric(sub[metric], errors="coerce"))
            points.append((float(n), s.mean, s.ci_low, s.ci_high))
        x, mean, low, high = (np.array(v, dtype=float) for v in zip(*sorted(points)))
        line = ax.plot(x, mean, marker="o", label=label(key))[0]
        ok = np.isfinite(low)
        ax.fill_between(x[ok], low[ok], high[ok], color=line.get_color(), alpha=0.2, lw=0)
    ns = sorted(good["n_train"].dropna().unique())
    if len(ns) > 1 and min(ns) > 0:
        ax.set_xscale("log")
    ax.set_xticks(ns, [str(int(n)) for n in ns])
    ax.minorticks_off()
    ax.set_xlabel("labelled training subjects (n)")
    ax.set_ylabel(f"{metric} ({'higher' if maximize(metric) else 'lower'} is better)")
    ax.legend(title=" / ".join(series), fontsize="small")
    ax.grid(alpha=0.3)
    ax.set_title(f"Learning curves: {metric}, mean and 95 % CI over final seeds", fontsize=10)
    return save(fig, out, stem, "learning_curve", "Learning curves")


def convergence(bench: Benchmark, out: Path, stem: str, notes: list[str]) -> Plot | None:
    """Per cell: each complete trial's value and the best value so far, by trial number."""
    cells = [c for c in bench.cells if str(c["name"]) in bench.trials]
    if not cells:
        notes.append("HPO convergence: no cell has a trials.csv")
        return None
    higher = str(bench.spec.get("direction", "minimize")) == "maximize"
    fig, axes = _grid(len(cells))
    for ax, cell in zip(axes, cells):
        trials = bench.trials[str(cell["name"])]
        done = trials[trials["state"] == "COMPLETE"].sort_values("number")
        values = pd.to_numeric(done["value"], errors="coerce")
        best = values.cummax() if higher else values.cummin()
        ax.scatter(done["number"], values, s=12, alpha=0.6, label="trial")
        ax.step(done["number"], best, where="post", color="C3", label="best so far")
        ax.set_title(str(cell["name"]), fontsize=8)
        ax.set_xlabel("trial")
        ax.set_ylabel(str(bench.spec.get("objective", "value")))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize="small")
    return save(fig, out, stem, "convergence", "HPO convergence per cell")


def importance(bench: Benchmark, out: Path, stem: str, notes: list[str]) -> Plot | None:
    """Per cell: Optuna's parameter importances of its study (default evaluator, PED-ANOVA)."""
    found = []
    for cell in bench.cells:
        if not int(cell.get("n_trials") or 0):
            continue  # an untuned cell has no study
        values = _importances(bench, cell, notes)
        if values:
            found.append((str(cell["name"]), values))
    if not found:
        return None
    fig, axes = _grid(len(found), height=2.2 + 0.1 * max(len(v) for _, v in found))
    for ax, (name, values) in zip(axes, found):
        params = list(values)[::-1]
        ax.barh(params, [values[p] for p in params], color="C2")
        ax.set_xlim(0, 1)
        ax.set_title(name, fontsize=8)
        ax.set_xlabel("importance")
        ax.tick_params(axis="y", labelsize=8)
    return save(fig, out, stem, "importance", "Parameter importance per cell")


def _importances(bench: Benchmark, cell: dict, notes: list[str]) -> dict[str, float] | None:
    import optuna

    name = str(cell["name"])
    trials = bench.trials.get(name)
    complete = 0 if trials is None else int((trials["state"] == "COMPLETE").sum())
    params = [] if trials is None else [c for c in trials if str(c).startswith("params_")]
    if complete < 2 or len(params) < 2:
        notes.append(
            f"parameter importance: {name} skipped ({complete} complete trials, "
            f"{len(params)} parameters; needs ≥ 2 of each)"
        )
        return None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.load_study(
            study_name=str(cell.get("study_name") or name), storage=_storage(bench, cell)
        )
        return optuna.importance.get_param_importances(study)
    except Exception as exc:  # noqa: BLE001 - a broken study must not sink the whole report
        notes.append(f"parameter importance: {name} skipped ({type(exc).__name__}: {exc})")
        return None


def _storage(bench: Benchmark, cell: dict) -> object:
    """The cell's study storage: its journal in the cell folder (so a moved benchmark folder
    still works), else the storage string recorded in ``benchmark.yaml``."""
    from hydra_plugins.tlsweep_sweeper.storage import open_journal

    journal = bench.cell_dir(cell) / "optuna_journal.log"
    spec = str(journal) if journal.is_file() else str(cell.get("storage") or "")
    if "://" in spec:
        return spec
    if not Path(spec).is_file():
        raise FileNotFoundError(f"no study storage at {spec or journal}")
    return open_journal(spec)  # repairs a torn tail (with a backup) before reading


def cost(frame: pd.DataFrame, out: Path, stem: str, notes: list[str]) -> Plot | None:
    """Per cell: wall time of the tuning trials and of the final reruns, stacked."""
    if frame.empty:
        notes.append("cost: no cells")
        return None
    per_cell = frame.groupby("cell", sort=False).agg(
        tuning=("trials_wall_s", "first"), final=("wall_s", lambda s: s.fillna(0).sum())
    )
    top = float((per_cell["tuning"].fillna(0) + per_cell["final"]).max())
    unit, scale = ("h", 3600.0) if top > 3 * 3600 else ("min", 60.0) if top > 180 else ("s", 1.0)
    fig = Figure(figsize=(7.0, 1.2 + 0.32 * len(per_cell)))
    ax = fig.subplots()
    names = list(per_cell.index)[::-1]
    tuning = per_cell.loc[names, "tuning"].fillna(0).to_numpy() / scale
    final = per_cell.loc[names, "final"].to_numpy() / scale
    ax.barh(names, tuning, label="tuning trials", color="C0")
    ax.barh(names, final, left=tuning, label="final seeds", color="C1")
    ax.set_xlabel(f"wall time ({unit}, summed over jobs)")
    ax.tick_params(axis="y", labelsize=7)
    ax.legend(fontsize="small", loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2)
    return save(fig, out, stem, "cost", "Cost per cell")


TWIN_AXES = ("method", "encoder", "dataset", "sample_size", "seed_cell", "stage")


def tuned_vs_untuned(
    frame: pd.DataFrame, metric: str, out: Path, stem: str, notes: list[str]
) -> Plot | None:
    """Each untuned cell's ``metric`` (mean, 95 % CI) beside its tuned twins (same other axes)."""
    good = ok_rows(frame)
    untuned = good[good["tuning"] == "untuned"]
    pairs = []
    for key, group in untuned.groupby(list(TWIN_AXES), sort=False, dropna=False):
        twins = good[(good["tuning"] != "untuned")]
        for axis, value in zip(TWIN_AXES, key):
            twins = twins[twins[axis] == value]
        for tuning, twin in twins.groupby("tuning"):
            pairs.append((f"{key[0]} {key[3]} vs {tuning}", group[metric], twin[metric]))
    if not pairs:
        notes.append("tuned vs untuned: no untuned cell with a tuned twin")
        return None
    fig = Figure(figsize=(max(5.0, 1.1 * len(pairs) + 2), 4.0))
    ax = fig.subplots()
    for i, (_, plain, tuned) in enumerate(pairs):
        for dx, values, color, name in (
            (-0.12, plain, "C7", "untuned"),
            (0.12, tuned, "C0", None),
        ):
            s = summarize(pd.to_numeric(values, errors="coerce"))
            err = [[s.mean - s.ci_low], [s.ci_high - s.mean]] if math.isfinite(s.ci_low) else None
            ax.errorbar(i + dx, s.mean, yerr=err, fmt="o", color=color, capsize=3,
                        label=(name or "tuned") if i == 0 else None)  # fmt: skip
    ax.set_xticks(range(len(pairs)), [p[0] for p in pairs], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(metric)
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    ax.set_title(f"Tuned vs untuned: {metric}, mean and 95 % CI", fontsize=10)
    return save(fig, out, stem, "tuned_vs_untuned", "Tuned vs untuned")


def all_plots(bench: Benchmark, metric: str, out: Path, stem: str) -> tuple[list[Plot], list[str]]:
    """Every figure the benchmark supports, and one note per figure or cell left out."""
    notes: list[str] = []
    made = [
        learning_curve(bench.frame, metric, out, stem, notes),
        convergence(bench, out, stem, notes),
        importance(bench, out, stem, notes),
        cost(bench.frame, out, stem, notes),
        tuned_vs_untuned(bench.frame, metric, out, stem, notes),
    ]
    for note in notes:
        log.info(note)
    return [p for p in made if p is not None], notes
