"""Does the winner depend on the tuning budget? The expected best validation score after k trials.

The expected-validation-performance curve of Dodge et al. (2019, "Show your work"), from the
trials a benchmark already ran: for each tuned cell with n complete trials, the expected best
objective value among k of them, k = 1..n. The report uses the estimator that draws the k trials
*without* replacement (the expected best of a random size-k subset of the n trials,
``Σ_i v_(i) C(i−1, k−1) / C(n, k)`` over the values sorted worst to best): it is unbiased for the
expected best of k i.i.d. trials and equals the observed best at k = n. Dodge et al. draw with
replacement (``Σ_i v_(i) [(i/n)^k − ((i−1)/n)^k]``), which under-states the best of k as k nears
n; :func:`expected_best` computes both. The trials are treated as exchangeable: the later trials
of a TPE study were guided by the earlier ones, so for k < n the curve describes random subsets
of the trials that were run, not a shorter TPE run.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import gammaln

from tlsweep.report.collect import Benchmark
from tlsweep.report.figure import Plot, panels, save
from tlsweep.report.render import Key, Table, label
from tlsweep.report.tables import axes_in_use, axis_order, decimals

BUDGETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)  # the table's k, plus each panel's largest


def expected_best(values: object, higher: bool, replace: bool = False) -> np.ndarray:
    """The expected best of k of ``values`` (finite ones), for k = 1..n.

    Args:
        values: one cell's complete trials' objective values.
        higher: whether larger is better (the best is the maximum), else the minimum.
        replace: draw the k trials with replacement (Dodge et al. 2019) instead of without
            (the unbiased estimator, see the module docstring).

    Returns:
        ``out[k - 1]`` = E[best of k]; empty without finite values.
    """
    v = np.sort(np.asarray(values, dtype=float)[np.isfinite(np.asarray(values, dtype=float))])
    v = v if higher else v[::-1]  # worst to best
    n = v.size
    i, k = np.arange(1, n + 1)[None, :], np.arange(1, n + 1)[:, None]
    if replace:
        weights = (i / n) ** k - ((i - 1) / n) ** k
    else:
        ok = i >= k
        log_w = _log_comb(i - 1, np.where(ok, k - 1, 0)) - _log_comb(n, k)
        weights = np.where(ok, np.exp(np.where(ok, log_w, 0.0)), 0.0)
    return weights @ v


def _log_comb(a: np.ndarray | int, b: np.ndarray) -> np.ndarray:
    return gammaln(a + 1) - gammaln(b + 1) - gammaln(np.maximum(a - b, 0) + 1)


def cell_curves(bench: Benchmark, rows: list[str], cols: list[str]) -> pd.DataFrame:
    """One line per tuned cell and k: ``rows`` and ``cols`` axes, ``cell``, ``k``, ``n`` (its
    complete trials) and ``expected_best`` (of the benchmark's objective, without replacement).
    """
    higher = str(bench.spec.get("direction", "minimize")) == "maximize"
    firsts = bench.frame.groupby("cell", sort=False).first()
    lines = []
    for cell, trials in bench.trials.items():
        if cell not in firsts.index or "value" not in trials:
            continue
        done = trials[trials["state"] == "COMPLETE"]
        curve = expected_best(pd.to_numeric(done["value"], errors="coerce"), higher)
        axes = {a: firsts.at[cell, a] for a in (*rows, *cols)}
        lines += [
            {**axes, "cell": cell, "k": k, "n": curve.size, "expected_best": float(best)}
            for k, best in enumerate(curve, start=1)
        ]
    return pd.DataFrame(lines, columns=[*rows, *cols, "cell", "k", "n", "expected_best"])


def _by_panel(curves: pd.DataFrame, rows: list[str], cols: list[str]) -> dict[Key, dict]:
    """Panel (column key) → row key → its curve (``expected_best`` indexed by k)."""
    out: dict[Key, dict[Key, pd.Series]] = {}
    for key, group in curves.groupby([*rows, *cols], sort=False, dropna=False):
        r, c = tuple(key[: len(rows)]), tuple(key[len(rows) :])
        out.setdefault(c, {})[r] = group.set_index("k")["expected_best"]
    return out


def rankings(curves: pd.DataFrame, rows: list[str], cols: list[str], higher: bool) -> list[str]:
    """Per panel with two rows or more: the ranking at k = 1 and at the largest k all rows
    reached, and the budgets at which it changes."""
    lines = []
    for c, lines_of in _by_panel(curves, rows, cols).items():
        if len(lines_of) < 2:
            continue
        top = min(int(s.index.max()) for s in lines_of.values())
        orders = {k: _order(lines_of, k, higher) for k in range(1, top + 1)}
        changes = [k for k in range(2, top + 1) if orders[k] != orders[k - 1]]
        ranked = [", ".join(label(r) for r in orders[k]) for k in (1, top)]
        verdict = (
            f"the ranking changes at k = {', '.join(map(str, changes))}"
            if changes
            else f"the same at every budget k = 1..{top}"
        )
        lines.append(
            f"{label(c) or 'all'}: ranking (best first) at k=1: {ranked[0]}; at k={top}: "
            f"{ranked[1]}; {verdict}."
        )
    return lines


def _order(lines_of: dict[Key, pd.Series], k: int, higher: bool) -> list[Key]:
    """The row keys, best first by their expected best at ``k`` (ties by name)."""
    sign = -1.0 if higher else 1.0
    return sorted(lines_of, key=lambda r: (sign * float(lines_of[r].loc[k]), label(r)))


def budget_table(bench: Benchmark, rows: list[str], cols: list[str]) -> Table | None:
    """Expected best objective after k trials per row × (column, k), the rankings below."""
    rows = axes_in_use(bench.frame, rows, cols)
    curves = cell_curves(bench, rows, cols)
    if curves.empty:
        return None
    objective = str(bench.spec.get("objective", "value"))
    higher = str(bench.spec.get("direction", "minimize")) == "maximize"
    panels_of = _by_panel(curves, rows, cols)
    order = axis_order(bench.frame)
    col_keys = []
    for c in sorted(panels_of, key=order):
        top = max(int(s.index.max()) for s in panels_of[c].values())
        col_keys += [(*c, f"k={k}") for k in sorted({*(b for b in BUDGETS if b < top), top})]
    row_keys = sorted({r for p in panels_of.values() for r in p}, key=order)
    title = f"Expected best {objective} after k tuning trials (budget curve)"
    table = Table(title, rows, [*cols, "trials"], row_keys, col_keys)
    digits = decimals([float(curves["expected_best"].std())])
    for c in col_keys:
        _fill(table, c, panels_of[c[:-1]], int(c[-1][2:]), higher, digits)
    table.records = curves.to_dict("records")
    table.notes += [_note(objective), *rankings(curves, rows, cols, higher)]
    return table


def _fill(table: Table, c: Key, lines_of: dict, k: int, higher: bool, digits: int) -> None:
    reached = {r: float(s.loc[k]) for r, s in lines_of.items() if k in s.index}
    for r, value in reached.items():
        table.text[(r, c)] = f"{value:.{digits}f}"
    if len(reached) > 1:
        best = (max if higher else min)(reached, key=reached.__getitem__)
        table.bold.add((best, c))


def _note(objective: str) -> str:
    return (
        f"Expected best {objective} among k of the cell's complete trials drawn without "
        "replacement (unbiased; Dodge et al. 2019 draw with replacement), bold: the best row per "
        "column; – where the cell ran fewer trials. The trials are taken as exchangeable (TPE's "
        "later trials were guided by earlier ones), so k < n describes subsets of the trials run."
    )


def budget_plot(bench: Benchmark, rows: list[str], cols: list[str], out: Path, stem: str,
                notes: list[str]) -> Plot | None:  # fmt: skip
    """The budget curves: one panel per column key, one line per row key."""
    rows = axes_in_use(bench.frame, rows, cols)
    curves = cell_curves(bench, rows, cols)
    if curves.empty:
        notes.append("budget curve: no cell has complete tuning trials")
        return None
    order = axis_order(bench.frame)
    panels_of = _by_panel(curves, rows, cols)
    fig, axes = panels(len(panels_of))
    for ax, c in zip(axes, sorted(panels_of, key=order)):
        for r in sorted(panels_of[c], key=order):
            line = panels_of[c][r]
            ax.plot(line.index, line.to_numpy(), marker="o", ms=3, label=label(r))
        ax.set_title(f"{' / '.join(cols)} = {label(c)}", fontsize=9)
        ax.set_xlabel("tuning trials k")
        ax.set_ylabel(f"expected best {bench.spec.get('objective', 'value')}")
        ax.grid(alpha=0.3)
        top = int(curves["k"].max())
        ax.set_xticks(range(1, top + 1, max(1, math.ceil(top / 10))))
    axes[0].legend(title=" / ".join(rows), fontsize="small")
    return save(fig, out, stem, "budget_curve", "Budget curve: expected best after k trials")
