"""The report's brain-age section: the gap's age bias before and after correction, MAE per
age band and, with a group the gap should flag (``target_task.gap_group``), how well it does,
per method and column (from the final seeds' metrics, :mod:`tlsweep.train.brain_age`), and a
figure of the test subjects' predictions and gaps (from their ``predictions.csv``).

Shown only when the final seeds recorded brain-age metrics (``target_task.age_gap``). The
corrected MAE stands beside the raw one, never instead of it: the correction is fitted on each
seed's validation subjects and moves predictions towards the true age, so it says how much of a
model's error is a linear age bias, not how accurate the model is.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from tlsweep.benchmark.layout import PREDICTIONS_FILE, final_dir
from tlsweep.report.collect import Benchmark, expected_seeds
from tlsweep.report.figure import Plot, panels, save
from tlsweep.report.render import Key, Table
from tlsweep.report.stats import ok_rows, seed_values, summarize
from tlsweep.report.tables import axes_in_use, grid
from tlsweep.train.brain_age import band_name

GAP_R, GAP_R_CORRECTED = "test/gap_r", "test/gap_r_corrected"
GAP_AUROC, GAP_AUROC_RAW = "test/gap_auroc", "test/gap_auroc_raw"
QUANTITIES = {
    "MAE": "test/mae",
    "MAE corrected": "test/mae_corrected",
    "r(gap, age)": GAP_R,
    "r corrected": GAP_R_CORRECTED,
    "slope": "bias/slope",
}
BAND = re.compile(r"^test/mae_band_(-?[0-9.]+)$")


def brain_age_tables(frame: pd.DataFrame, rows: list[str], cols: list[str]) -> list[Table]:
    """The bias table, the band table and, with a group the gap should flag, the detection
    table; none when no final seed recorded a gap."""
    if GAP_R not in frame or ok_rows(frame)[GAP_R].isna().all():
        return []
    rows = axes_in_use(frame, rows, cols)
    tables = [_bias_table(frame, rows, cols), _band_table(frame, rows, cols)]
    if GAP_AUROC_RAW in frame and ok_rows(frame)[GAP_AUROC_RAW].notna().any():
        tables.append(detection_table(frame, rows, cols))
    return tables


def detection_table(frame: pd.DataFrame, rows: list[str], cols: list[str]) -> Table:
    """How well each method's gap flags the group (``target_task.gap_group``) on test: AUROC
    of the corrected gap and Cohen's d, mean with a 95 % CI over final seeds, and the raw
    gap's AUROC."""
    table = grid(frame, "Brain age as a marker: detecting the group by its gap", rows, cols)
    table.col_axes = [*cols, "quantity"]
    names = {GAP_AUROC: "AUROC", "test/gap_d": "d", GAP_AUROC_RAW: "AUROC raw gap"}
    for key, group in ok_rows(frame).groupby([*rows, *cols], sort=False, dropna=False):
        r, c = tuple(key[: len(rows)]), tuple(key[len(rows) :])
        record = {**dict(zip(rows, r)), **dict(zip(cols, c))}
        for metric, name in names.items():
            summary = summarize(seed_values(group, metric)) if metric in group else None
            if summary is None or not summary.n:
                continue
            ci = "" if summary.n < 2 else f" [{summary.ci_low:.2f}, {summary.ci_high:.2f}]"
            table.text[(r, (*c, name))] = f"{summary.mean:.2f}{ci}"
            record |= {metric: summary.mean, f"{metric}_ci_low": summary.ci_low}
            record |= {f"{metric}_ci_high": summary.ci_high, "n_seeds": summary.n}
        table.records.append(record)
    table.col_keys = [(*c, name) for c in table.col_keys for name in names.values()]
    table.notes.append(
        "Test subjects of each final seed: AUROC of the bias-corrected gap for the group "
        "(target_task.gap_group; 0.5 is chance, 1 every member's gap above every other "
        "subject's), Cohen's d of the corrected gap (group − others, pooled sd), and the raw "
        "gap's AUROC; mean [95% CI] over final seeds. This is the use a brain-age model is "
        "built for: which method's gap best flags brains that look older than they are."
    )
    return table


def brain_age_plot(bench: Benchmark, out: Path, stem: str, notes: list[str]) -> Plot | None:
    """Predicted vs true age, and the gap vs age before and after correction, per method: the
    test subjects of every final seed, pooled over the method's cells, with a least-squares line
    per method. None (and a note) when no final seed wrote a corrected gap."""
    rows = _test_predictions(bench)
    if rows.empty:
        if GAP_R in bench.frame:
            notes.append("brain-age figure: left out (no final seed wrote a corrected gap)")
        return None
    fig, axes = panels(3)
    views = [
        ("y_pred", "predicted age", "Predicted vs true age"),
        ("gap", "gap (predicted − true)", "Brain-age gap vs age, raw"),
        ("gap_corrected", "corrected gap", "Brain-age gap vs age, corrected on validation"),
    ]
    for ax, (column, ylabel, title) in zip(axes, views, strict=True):
        for method, group in rows.groupby("method", sort=False):
            good = group[np.isfinite(group[column])]
            points = ax.scatter(good["y_true"], good[column], s=4, alpha=0.25, label=str(method))
            if len(good) > 1 and np.ptp(good["y_true"]) > 0:
                slope, intercept = np.polyfit(good["y_true"], good[column], deg=1)
                ends = np.array([good["y_true"].min(), good["y_true"].max()])
                ax.plot(ends, slope * ends + intercept, color=points.get_facecolor()[0][:3])
        low, high = rows["y_true"].min(), rows["y_true"].max()
        ax.plot([low, high], [low, high] if column == "y_pred" else [0, 0], "k--", lw=0.8)
        ax.set(xlabel="true age", ylabel=ylabel)
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, markerscale=3)
    return save(fig, out, stem, "brain_age", "Brain age: test predictions and gaps")


def _test_predictions(bench: Benchmark) -> pd.DataFrame:
    """The test rows of every final seed's ``predictions.csv`` that has a corrected gap."""
    frames = []
    for cell in bench.cells:
        for seed in expected_seeds(bench.spec):
            path = final_dir(bench.cell_dir(cell), seed) / PREDICTIONS_FILE
            if not path.is_file():
                continue
            rows = pd.read_csv(path)
            if "gap_corrected" in rows:
                frames.append(rows[rows["split"] == "test"].assign(method=cell["method"]))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _bias_table(frame: pd.DataFrame, rows: list[str], cols: list[str]) -> Table:
    table = grid(frame, "Brain age: the gap's age bias, before and after correction", rows, cols)
    table.col_axes = [*cols, "quantity"]
    columns = [(*c, q) for c in table.col_keys for q in QUANTITIES]
    values = _means(frame, rows, cols, list(QUANTITIES.values()))
    for r in table.row_keys:
        for c in table.col_keys:
            for name, metric in QUANTITIES.items():
                mean = values.get((r, c, metric))
                if mean is not None:
                    table.text[(r, (*c, name))] = f"{mean:.2f}"
            table.records.append(
                {**dict(zip(rows, r)), **dict(zip(cols, c))}
                | {metric: values.get((r, c, metric)) for metric in QUANTITIES.values()}
            )
    table.col_keys = columns
    table.notes.append(
        "Mean over the final seeds of the test set. Gap = predicted − true age; r(gap, age) "
        "below 0 is regression to the mean (young brains look old, old ones young). The "
        "correction (Smith et al. 2019; de Lange & Cole 2020) is fitted on each seed's "
        "validation subjects only and never on test; its MAE is shown beside the raw MAE, not "
        "instead of it. Slope: of the fitted line, predicted on true age (1 = no bias); the "
        "correction divides by it, so a flat fit (a model that barely tracks age) amplifies "
        "errors and its corrected MAE exceeds the raw one."
    )
    return table


def _band_table(frame: pd.DataFrame, rows: list[str], cols: list[str]) -> Table:
    bands = sorted({float(m[1]) for c in frame.columns if (m := BAND.match(c))})
    width = np.diff(bands).min() if len(bands) > 1 else None
    table = grid(frame, "Brain age: test MAE per age band", rows, cols)
    table.col_axes = [*cols, "band"]
    metrics = [f"test/mae_band_{band_name(b)}" for b in bands]
    values = _means(frame, rows, cols, metrics)
    names = {b: f"{band_name(b)}–{band_name(b + width)}" if width else band_name(b) for b in bands}
    for r in table.row_keys:
        for c in table.col_keys:
            for band, metric in zip(bands, metrics, strict=True):
                mean = values.get((r, c, metric))
                if mean is not None:
                    table.text[(r, (*c, names[band]))] = f"{mean:.1f}"
                    table.records.append(
                        {**dict(zip(rows, r)), **dict(zip(cols, c))}
                        | {"band": names[band], "test/mae": mean}
                    )
    table.col_keys = [(*c, names[b]) for c in table.col_keys for b in bands]
    table.notes.append(
        "Raw test MAE of the subjects whose true age lies in the band, mean over the final seeds "
        "(target_task.band_width); small bands at the ends of the age range hold few subjects."
    )
    return table


def _means(
    frame: pd.DataFrame, rows: list[str], cols: list[str], metrics: list[str]
) -> dict[tuple[Key, Key, str], float]:
    """Mean over final seeds (of the cells in a row × column) of each metric present."""
    out: dict[tuple[Key, Key, str], float] = {}
    for key, group in ok_rows(frame).groupby([*rows, *cols], sort=False, dropna=False):
        r, c = tuple(key[: len(rows)]), tuple(key[len(rows) :])
        for metric in metrics:
            if metric in group:
                values = seed_values(group, metric)
                if len(values):
                    out[(r, c, metric)] = summarize(values).mean
    return out
