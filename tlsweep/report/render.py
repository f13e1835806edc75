"""A report table and its renderings: Markdown, LaTeX (booktabs), HTML and tidy CSV records.

A :class:`Table` is a grid of formatted entries keyed by (row key, column key) with emphasis
flags (bold, a mark such as a dagger), an optional second line per entry (``sub``: the selection
gap of the metric table) and reference rows below the grid (``extra_rows``: the mean-predictor
baseline) that take part in no comparison. The functions that fill tables live in
:mod:`tlsweep.report.tables`, :mod:`tlsweep.report.aggregate` and
:mod:`tlsweep.report.budget_curve`; this module draws them, and holds the two conventions they
share: the order of axis values (:func:`axis_order`) and the decimals shown (:func:`decimals`).
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

TIE = "†"
SIGNIFICANT = "*"
Key = tuple[Any, ...]


@dataclass
class Table:
    """A grid of formatted entries with emphasis flags, renderable in several formats.

    Attributes:
        title: shown above the grid.
        row_axes: the axes named by a row key (their names head the first column).
        col_axes: the axes named by a column key.
        row_keys: the rows, in order.
        col_keys: the columns, in order.
        text: the entry of (row key, column key); ``"–"`` where absent.
        bold: entries shown in bold.
        mark: a superscript per entry (:data:`TIE`, :data:`SIGNIFICANT`).
        sub: a short second part per entry, shown after the mark in smaller type.
        extra_rows: (label, column key → text) rows below the grid, set apart by a rule.
        records: the tidy CSV lines.
        notes: lines shown below the table.
    """

    title: str
    row_axes: list[str]
    col_axes: list[str]
    row_keys: list[Key]
    col_keys: list[Key]
    text: dict[tuple[Key, Key], str] = field(default_factory=dict)
    bold: set[tuple[Key, Key]] = field(default_factory=set)
    mark: dict[tuple[Key, Key], str] = field(default_factory=dict)
    sub: dict[tuple[Key, Key], str] = field(default_factory=dict)
    extra_rows: list[tuple[str, dict[Key, str]]] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def entry(self, r: Key, c: Key) -> tuple[str, bool, str]:
        """(text, bold, mark) of one entry; ``"–"`` where the grid has no value."""
        return self.text.get((r, c), "–"), (r, c) in self.bold, self.mark.get((r, c), "")


def label(key: Key) -> str:
    """A row or column key as text (``simclr / tpe``)."""
    return " / ".join(str(v) for v in key)


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


def decimals(sds: list[float]) -> int:
    """Decimals that show two significant digits of a typical sd (1 to 4)."""
    finite = [s for s in sds if isinstance(s, float) and math.isfinite(s) and s > 0]
    if not finite:
        return 2
    return int(min(4, max(1, 1 - math.floor(math.log10(float(np.median(finite)))))))


def to_markdown(table: Table) -> str:
    """GitHub-flavoured Markdown, with the notes below the table."""
    head = [" / ".join(table.row_axes), *(label(c) for c in table.col_keys)]
    lines = [f"**{table.title}**", "", _md_row(head), _md_row(["---"] * len(head))]
    for r in table.row_keys:
        cells = []
        for c in table.col_keys:
            text, bold, mark = table.entry(r, c)
            sub = table.sub.get((r, c))
            cells.append((f"**{text}**" if bold else text) + mark + (f" ({sub})" if sub else ""))
        lines.append(_md_row([label(r), *cells]))
    for name, texts in table.extra_rows:
        lines.append(_md_row([f"_{name}_", *(texts.get(c, "–") for c in table.col_keys)]))
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
            body += {TIE: r"$^{\dagger}$", SIGNIFICANT: r"$^{*}$"}.get(mark, "")
            sub = table.sub.get((r, c))
            cells.append(body + (f" {{\\scriptsize ({_tex(sub)})}}" if sub else ""))
        lines.append(" & ".join([_tex(label(r)), *cells]) + r" \\")
    if table.extra_rows:
        lines.append("\\midrule")
    for name, texts in table.extra_rows:
        cells = [_tex(texts.get(c, "–")).replace("±", r"$\pm$") for c in table.col_keys]
        lines.append(" & ".join([f"\\textit{{{_tex(name)}}}", *cells]) + r" \\")
    return "\n".join([*lines, "\\bottomrule", "\\end{tabular}", ""])


def to_html(table: Table) -> str:
    """An HTML ``<table>`` with a caption and the notes below it."""
    esc = html.escape
    head = "".join(f"<th>{esc(label(c))}</th>" for c in table.col_keys)
    body = []
    for r in table.row_keys:
        cells = []
        for c in table.col_keys:
            text, bold, mark = table.entry(r, c)
            inner = esc(text) + (f"<sup>{esc(mark)}</sup>" if mark else "")
            inner = f"<b>{inner}</b>" if bold else inner
            sub = table.sub.get((r, c))
            cells.append(f"<td>{inner}{f'<br><small>{esc(sub)}</small>' if sub else ''}</td>")
        body.append(f"<tr><th>{esc(label(r))}</th>{''.join(cells)}</tr>")
    for name, texts in table.extra_rows:
        cells = "".join(f"<td>{esc(texts.get(c, '–'))}</td>" for c in table.col_keys)
        body.append(f"<tr class='extra'><th><i>{esc(name)}</i></th>{cells}</tr>")
    notes = "".join(f"<p class='note'>{esc(n)}</p>" for n in table.notes)
    return (
        f"<table><caption>{esc(table.title)}</caption><thead><tr>"
        f"<th>{esc(' / '.join(table.row_axes))}</th>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>{notes}"
    )


def to_frame(table: Table) -> pd.DataFrame:
    """The tidy records (one line per entry) for the CSV file."""
    return pd.DataFrame(table.records)


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", r"\|") for c in cells) + " |"


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_"}
_TEX |= {"{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def _tex(text: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in str(text))
