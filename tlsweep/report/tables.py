"""The thesis tables: test metric mean ± sd per method × sample size, and paired differences.

A :class:`Table` is built once from ``benchmark.csv`` rows and rendered as Markdown, LaTeX
(booktabs) or HTML; its tidy ``records`` are the CSV. In the metric table the best mean of each
column is bold (lower is better for errors, higher for scores) and an entry whose paired
difference to that best one has a 95 % CI containing 0 gets a dagger: a tie within the noise.
"""

from __future__ import annotations

import html
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tlsweep.errors import ConfigError, bad_option
from tlsweep.report.stats import (
    CELL_AXES,
    Summary,
    maximize,
    ok_rows,
    paired_differences,
    paired_summary,
    seed_values,
    summarize,
)

TIE = "†"
SIGNIFICANT = "*"
Key = tuple[Any, ...]


@dataclass
class Table:
    """A grid of formatted entries with emphasis flags, renderable in several formats."""

    title: str
    row_axes: list[str]
    col_axes: list[str]
    row_keys: list[Key]
    col_keys: list[Key]
    text: dict[tuple[Key, Key], str] = field(default_factory=dict)
    bold: set[tuple[Key, Key]] = field(default_factory=set)
    mark: dict[tuple[Key, Key], str] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def entry(self, r: Key, c: Key) -> tuple[str, bool, str]:
        """(text, bold, mark) of one entry; ``"–"`` where the grid has no value."""
        return self.text.get((r, c), "–"), (r, c) in self.bold, self.mark.get((r, c), "")


def axes_in_use(frame: pd.DataFrame, rows: list[str], cols: list[str]) -> list[str]:
    """``rows`` plus every other cell axis that takes several values (so no cells merge)."""
    if set(rows) & set(cols):
        raise ConfigError(f"report axes: {sorted(set(rows) & set(cols))} both in rows and cols")
    for axis in (*rows, *cols):
        if axis not in frame:
            raise bad_option("report axis", axis, [a for a in CELL_AXES if a in frame])
    varying = [a for a in CELL_AXES if a in frame and frame[a].nunique(dropna=False) > 1]
    return rows + [a for a in varying if a not in rows and a not in cols]


def metric_table(
    frame: pd.DataFrame, metric: str, rows: list[str], cols: list[str], confidence: float = 0.95
) -> Table:
    """``metric`` mean ± sd over final seeds per ``rows`` × ``cols`` (see the module doc)."""
    rows = axes_in_use(frame, rows, cols)
    good = ok_rows(frame)
    table = _grid(frame, f"{metric} (mean ± sd over final seeds)", rows, cols)
    values: dict[tuple[Key, Key], pd.Series] = {}
    summaries: dict[tuple[Key, Key], Summary] = {}
    for key, group in good.groupby([*rows, *cols], sort=False, dropna=False):
        rc = (tuple(key[: len(rows)]), tuple(key[len(rows) :]))
        values[rc] = seed_values(group, metric)
        summaries[rc] = summarize(values[rc], confidence)
    digits = _decimals([s.sd for s in summaries.values()])
    higher = maximize(metric)
    for c in table.col_keys:
        present = [r for r in table.row_keys if math.isfinite(summaries.get((r, c), _NAN).mean)]
        best = _best(present, c, summaries, higher)
        for r in present:
            s = summaries[(r, c)]
            table.text[(r, c)] = f"{s.mean:.{digits}f} ± {s.sd:.{digits}f}"
            tie = r != best and paired_summary(values[(r, c)], values[(best, c)]).contains(0.0)
            if r == best:
                table.bold.add((r, c))
            if tie:
                table.mark[(r, c)] = TIE
            table.records.append(
                {
                    **_named(rows, r),
                    **_named(cols, c),
                    "metric": metric,
                    **asdict(s),
                    "best": r == best,
                    "tie_with_best": tie,
                }  # fmt: skip
            )
    better = "higher" if higher else "lower"
    table.notes.append(
        f"Bold: best mean per column ({better} is better). {TIE}: the paired difference to the "
        f"column's best has a {confidence:.0%} CI containing 0 (same final seeds)."
    )
    return table


def paired_table(
    frame: pd.DataFrame, metric: str, baseline: str, cols: list[str], confidence: float = 0.95
) -> Table | None:
    """Each method's paired difference to ``baseline`` on ``metric``: mean [95 % CI].

    Returns:
        The table, or None when ``baseline`` is not a method of the benchmark.
    """
    if baseline not in set(frame["method"]):
        return None
    cols = [c for c in cols if c != "method"] or ["sample_size"]
    diffs = paired_differences(frame, metric, baseline)
    rows = axes_in_use(frame, ["method"], cols)
    title = f"{metric}: paired difference to {baseline} (mean [{confidence:.0%} CI])"
    table = _grid(frame[frame["method"] != baseline], title, rows, cols)
    digits = _decimals(diffs["sd"].tolist())
    unpaired = diffs[~diffs["paired"].astype(bool)] if not diffs.empty else diffs
    for _, d in diffs.iterrows():
        r, c = tuple(d[a] for a in rows), tuple(d[a] for a in cols)
        if not d["paired"]:
            table.text[(r, c)] = "unpaired"
            continue
        table.text[(r, c)] = (
            f"{d['mean']:+.{digits}f} [{d['ci_low']:+.{digits}f}, {d['ci_high']:+.{digits}f}]"
            f"; p={_p(d['p_holm'])}; {_share(d['p_better'])}"
        )
        excludes = (d["ci_low"] > 0) or (d["ci_high"] < 0)
        if excludes:
            table.mark[(r, c)] = SIGNIFICANT
        table.records.append({**d.to_dict(), "metric": metric, "ci_excludes_0": bool(excludes)})
    table.notes.append(
        f"Method − {baseline} on the same final seeds; {SIGNIFICANT}: the CI excludes 0. "
        f"p: paired t-test, Holm-adjusted over the {int(diffs['paired'].sum())} comparisons "
        f"shown; %: P(method better than {baseline}), the share of final seeds on which it is."
    )
    if not unpaired.empty:
        table.notes.append(
            f"unpaired: {', '.join(sorted(set(unpaired['method'])))} and {baseline} were judged "
            "on different test sets (their recorded test digests differ), so no paired "
            "difference is shown; compare their means in the table above"
        )
    return table


def _p(value: float) -> str:
    return "–" if not math.isfinite(value) else (f"{value:.2g}" if value >= 0.001 else "<0.001")


def _share(value: float) -> str:
    return "–" if not math.isfinite(value) else f"{value:.0%}"


def to_markdown(table: Table) -> str:
    """GitHub-flavoured Markdown, with the notes below the table."""
    head = [" / ".join(table.row_axes), *(label(c) for c in table.col_keys)]
    lines = [f"**{table.title}**", "", _md_row(head), _md_row(["---"] * len(head))]
    for r in table.row_keys:
        cells = []
        for c in table.col_keys:
            text, bold, mark = table.entry(r, c)
            cells.append((f"**{text}**" if bold else text) + mark)
        lines.append(_md_row([label(r), *cells]))
    return "\n".join([*lines, "", *table.notes, ""])


def to_latex(table: Table) -> str:
    """A booktabs ``tabular`` to ``\\input`` inside a ``table`` float."""
    spec = "l" + "c" * len(table.col_keys)
    head = [_tex(" / ".join(table.row_axes)), *(_tex(label(c)) for c in table.col_keys)]
    lines = [f"% {_tex(table.title)}", *(f"% {_tex(n)}" for n in table.notes)]
    lines += [f"\\begin{{tabular}}{{{spec}}}", "\\toprule", " & ".join(head) + r" \\", "\\midrule"]
    for r in table.row_keys:
        cells = []
        for c in table.col_keys:
            text, bold, mark = table.entry(r, c)
            body = _tex(text).replace("±", r"$\pm$")
            body = f"\\textbf{{{body}}}" if bold else body
            cells.append(body + {TIE: r"$^{\dagger}$", SIGNIFICANT: r"$^{*}$"}.get(mark, ""))
        lines.append(" & ".join([_tex(label(r)), *cells]) + r" \\")
    return "\n".join([*lines, "\\bottomrule", "\\end{tabular}", ""])


def to_html(table: Table) -> str:
    """An HTML ``<table>`` with a caption and the notes below it."""
    head = "".join(f"<th>{html.escape(label(c))}</th>" for c in table.col_keys)
    body = []
    for r in table.row_keys:
        cells = []
        for c in table.col_keys:
            text, bold, mark = table.entry(r, c)
            inner = html.escape(text) + (f"<sup>{html.escape(mark)}</sup>" if mark else "")
            cells.append(f"<td>{'<b>' + inner + '</b>' if bold else inner}</td>")
        body.append(f"<tr><th>{html.escape(label(r))}</th>{''.join(cells)}</tr>")
    axes = html.escape(" / ".join(table.row_axes))
    notes = "".join(f"<p class='note'>{html.escape(n)}</p>" for n in table.notes)
    return (
        f"<table><caption>{html.escape(table.title)}</caption><thead><tr><th>{axes}</th>{head}"
        f"</tr></thead><tbody>{''.join(body)}</tbody></table>{notes}"
    )


def to_frame(table: Table) -> pd.DataFrame:
    """The tidy records (one line per entry) for the CSV file."""
    return pd.DataFrame(table.records)


_NAN = Summary(0, math.nan, math.nan, math.nan, math.nan)


def _grid(frame: pd.DataFrame, title: str, rows: list[str], cols: list[str]) -> Table:
    good = ok_rows(frame)
    order = axis_order(frame)
    row_keys = sorted({tuple(k) for k in good[rows].itertuples(index=False)}, key=order)
    col_keys = sorted({tuple(k) for k in good[cols].itertuples(index=False)}, key=order)
    return Table(title, rows, cols, row_keys, col_keys)


def axis_order(frame: pd.DataFrame):  # noqa: ANN202
    """Sort key for axis values: sample sizes by n_train, ``scratch`` first, others by name."""
    sizes = dict(zip(frame["sample_size"], frame["n_train"]))

    def key(values: Key) -> tuple:
        return tuple(
            (0, float(sizes[v]), "") if v in sizes and pd.notna(sizes[v])
            else (0 if v in ("scratch", "untuned") else 1, 0.0, str(v))
            for v in values
        )  # fmt: skip

    return key


def _best(rows: list[Key], c: Key, summaries: dict, higher: bool) -> Key | None:
    if not rows:
        return None
    means = [summaries[(r, c)].mean for r in rows]
    return rows[int(np.argmax(means) if higher else np.argmin(means))]


def _decimals(sds: list[float]) -> int:
    """Decimals that show two significant digits of a typical sd (1 to 4)."""
    finite = [s for s in sds if isinstance(s, float) and math.isfinite(s) and s > 0]
    if not finite:
        return 2
    return int(min(4, max(1, 1 - math.floor(math.log10(float(np.median(finite)))))))


def _named(axes: list[str], key: Key) -> dict[str, Any]:
    return dict(zip(axes, key))


def label(key: Key) -> str:
    return " / ".join(str(v) for v in key)


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", r"\|") for c in cells) + " |"


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_"}
_TEX |= {"{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def _tex(text: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in str(text))
