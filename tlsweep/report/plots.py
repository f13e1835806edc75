"""The report's figures, each saved as PNG (for the page), PDF (for ``\\includegraphics``) and SVG.

Drawn and saved through :mod:`tlsweep.report.figure`. Every function returns a :class:`Plot`,
or None with a reason in ``notes`` when the benchmark has nothing to show for it (one sample
size, no untuned cells, too few trials for parameter importance, ...): the report lists those
notes under "Left out", in the Markdown and the HTML alike.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from tlsweep.report.brain_age import brain_age_plot
from tlsweep.report.budget_curve import budget_plot
from tlsweep.report.collect import Benchmark
from tlsweep.report.figure import Plot, panels, save
from tlsweep.report.stats import CELL_AXES, maximize, ok_rows, paired_differences, summarize
from tlsweep.report.tables import axes_in_use, axis_order, label

__all__ = ["MIN_IMPORTANCE_TRIALS", "Plot", "all_plots"]

log = logging.getLogger(__name__)
MIN_IMPORTANCE_TRIALS = 10  # fewer complete trials per cell: importances are noise


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
    fig, axes = panels(len(cells))
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
    """Per tuned cell: Optuna's parameter importances of its study (default evaluator,
    PED-ANOVA); only when every tuned cell has ≥ :data:`MIN_IMPORTANCE_TRIALS` complete trials,
    else no figure and one note saying why."""
    tuned = [c for c in bench.cells if int(c.get("n_trials") or 0)]  # untuned: no study
    if not tuned:
        notes.append("parameter importance: no tuned cell")
        return None
    complete = {str(c["name"]): _complete(bench, str(c["name"])) for c in tuned}
    fewest = min(complete, key=complete.__getitem__)
    if complete[fewest] < MIN_IMPORTANCE_TRIALS:
        notes.append(
            f"parameter importance: left out ({fewest} has {complete[fewest]} complete trials; "
            f"needs ≥ {MIN_IMPORTANCE_TRIALS} in every tuned cell, below that the importances "
            "are noise)"
        )
        return None
    found = [(str(c["name"]), _importances(bench, c, notes)) for c in tuned]
    found = [(name, values) for name, values in found if values]
    if not found:
        return None
    fig, axes = panels(len(found), height=2.2 + 0.1 * max(len(v) for _, v in found))
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
    trials = bench.trials[name]
    params = [c for c in trials if str(c).startswith("params_")]
    if len(params) < 2:
        notes.append(f"parameter importance: {name} skipped ({len(params)} parameter; needs ≥ 2)")
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


def _complete(bench: Benchmark, name: str) -> int:
    trials = bench.trials.get(name)
    return 0 if trials is None else int((trials["state"] == "COMPLETE").sum())


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


def tuned_vs_untuned(
    frame: pd.DataFrame, metric: str, out: Path, stem: str, notes: list[str]
) -> Plot | None:
    """Each tuned cell's paired difference (mean, 95 % CI over shared final seeds) to its
    untuned twin (same method and other axes): the numbers of
    :func:`~tlsweep.report.tables.tuning_table`."""
    diffs = paired_differences(frame, metric, "untuned", axis="tuning", match=CELL_AXES)
    if not diffs.empty and not diffs["paired"].all():
        notes.append("tuned vs untuned: twins judged on different test sets are not shown")
    diffs = diffs[diffs["paired"].astype(bool)] if not diffs.empty else diffs
    if diffs.empty:
        notes.append("tuned vs untuned: no untuned cell with a tuned twin")
        return None
    shown = ["method", *(a for a in CELL_AXES[1:] if a in diffs and diffs[a].nunique() > 1)]
    names = [" ".join(str(d[a]) for a in shown) for _, d in diffs.iterrows()]
    fig = Figure(figsize=(max(5.0, 0.9 * len(diffs) + 2), 4.0))
    ax = fig.subplots()
    ci = diffs[["ci_low", "ci_high"]].to_numpy(dtype=float)
    mean = diffs["mean"].to_numpy(dtype=float)
    err = np.nan_to_num(np.abs(ci - mean[:, None]).T)  # no CI with one shared seed
    ax.errorbar(range(len(diffs)), mean, yerr=err, fmt="o", color="C0", capsize=3)
    ax.axhline(0.0, color="C7", lw=1)
    ax.set_xlim(-0.5, len(diffs) - 0.5)
    ax.set_xticks(range(len(diffs)), names, rotation=30, ha="right", fontsize=8)
    better = "higher" if maximize(metric) else "lower"
    ax.set_ylabel(f"tuned − untuned {metric} ({better} is better)")
    ax.grid(alpha=0.3)
    ax.set_title(f"Tuned − untuned: {metric}, paired, 95 % CI", fontsize=10)
    return save(fig, out, stem, "tuned_vs_untuned", "Tuned − untuned, paired by final seed")


def all_plots(
    bench: Benchmark,
    metric: str,
    out: Path,
    stem: str,
    rows: list[str] | None = None,
    cols: list[str] | None = None,
) -> tuple[list[Plot], list[str]]:
    """Every figure the benchmark supports, and one note per figure or cell left out (the
    budget curve is drawn per ``rows`` × ``cols`` like the main table)."""
    notes: list[str] = []
    rows, cols = rows or ["method"], cols or ["sample_size"]
    made = [
        learning_curve(bench.frame, metric, out, stem, notes),
        convergence(bench, out, stem, notes),
        importance(bench, out, stem, notes),
        cost(bench.frame, out, stem, notes),
        tuned_vs_untuned(bench.frame, metric, out, stem, notes),
        budget_plot(bench, rows, cols, out, stem, notes),
        brain_age_plot(bench, out, stem, notes),
    ]
    for note in notes:
        log.info(note)
    return [p for p in made if p is not None], notes
