"""The self-contained HTML report: tables, figures (inlined base64 PNG) and warnings in one file.

The page loads nothing from anywhere: it can be mailed, opened from an MLflow artifact view or
archived with a thesis. A small inline script marks ``<body data-images-ok="true">`` once every
image has decoded, so a headless browser can check the page as a reader would see it.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from datetime import datetime

from tlsweep.report.collect import Benchmark
from tlsweep.report.consistency import provenance_summary
from tlsweep.report.figure import Plot
from tlsweep.report.summary import summary_rows
from tlsweep.report.tables import Table, to_html

STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:1180px;
 padding:0 1rem;color:#1d232a;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem} h2{font-size:1.2rem;margin-top:2.2rem;
 border-bottom:1px solid #d7dce1;padding-bottom:.2rem}
.meta{color:#56606b;font-size:.9rem} code{background:#f3f5f7;padding:0 .25rem;border-radius:3px}
table{border-collapse:collapse;margin:.8rem 0;font-size:.92rem;font-variant-numeric:tabular-nums}
caption{text-align:left;font-weight:600;padding-bottom:.35rem}
th,td{padding:.3rem .7rem;border-bottom:1px solid #e3e7eb;text-align:right}
th:first-child,td:first-child{text-align:left} thead th{border-bottom:2px solid #1d232a}
.note{color:#56606b;font-size:.85rem;margin:.2rem 0}
.warn{background:#fff6e0;border-left:4px solid #e0a800;padding:.5rem 1rem}
.header{background:#eef4fb;border-left:4px solid #3b7dd8;padding:.5rem 1rem .5rem 2rem}
tr.extra th,tr.extra td{border-top:2px solid #aab4be;color:#56606b} td small{color:#56606b}
.warn li{font-family:ui-monospace,monospace;font-size:.85rem}
figure{margin:1.2rem 0} figure img{max-width:100%;border:1px solid #e3e7eb}
figcaption{font-size:.9rem;color:#56606b}
"""

CHECK_IMAGES = """
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.every(function (i) { return i.complete && i.naturalWidth > 0; });
  document.body.setAttribute('data-images', String(imgs.length));
  document.body.setAttribute('data-images-ok', String(ok));
});
"""


def render(
    bench: Benchmark,
    tables: Sequence[Table],
    plots: Sequence[Plot],
    notes: Sequence[str],
    title: str,
    header: Sequence[str] = (),
) -> str:
    """The whole page as one HTML string.

    Args:
        bench: the benchmark (its path, spec, warnings, cells).
        tables: shown under "Results", in order.
        plots: shown under "Figures", in order.
        notes: what was left out, and why (shown under "Left out").
        title: the page title.
        header: benchmark-wide cautions shown under the title, before any number.
    """
    esc = html.escape
    parts = [
        f"<h1>{esc(title)}</h1>",
        f"<p class='meta'>Benchmark <code>{esc(str(bench.path))}</code> · "
        f"command <code>{esc(str(bench.spec.get('command', '?')))}</code> · objective "
        f"<code>{esc(str(bench.spec.get('objective')))}</code> "
        f"({esc(str(bench.spec.get('direction')))}) · final seeds "
        f"{esc(_seeds(bench))} · written {datetime.now():%Y-%m-%d %H:%M}</p>",
        _header(header),
        _warnings(bench.warnings),
        "<h2>Results</h2>",
        *(to_html(t) for t in tables),
        "<h2>Cells</h2>",
        _cells_table(bench),
        "<h2>Figures</h2>",
        *(_figure(p) for p in plots),
        "<h2>Provenance</h2>",
        _provenance(bench),
    ]
    if notes:
        items = "".join(f"<li>{esc(n)}</li>" for n in notes)
        parts.append(f"<h2>Left out</h2><ul class='note'>{items}</ul>")
    body = "\n".join(p for p in parts if p)
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{esc(title)}</title><style>{STYLE}</style>"
        f"<script>{CHECK_IMAGES}</script></head>\n<body>\n{body}\n</body></html>\n"
    )


def _provenance(bench: Benchmark) -> str:
    items = "".join(
        f"<li>{html.escape(label)}: {html.escape(value.strip('`'))}</li>"
        for label, value in provenance_summary(bench.spec, bench.frame)
    )
    return f"<ul class='note'>{items}</ul>"


def _seeds(bench: Benchmark) -> str:
    final = bench.spec.get("final") or {}
    seeds, first = int(final.get("seeds", 0)), int(final.get("first_seed", 0))
    resample = ", new training subsets per seed" if final.get("resample") else ""
    return f"{seeds} ({first}..{first + seeds - 1}{resample})" if seeds else "none"


def _header(lines: Sequence[str]) -> str:
    if not lines:
        return ""
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    return f"<ul class='header'>{items}</ul>"


def _warnings(lines: Sequence[str]) -> str:
    if not lines:
        return ""
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    return f"<div class='warn'><b>{len(lines)} warning(s)</b><ul>{items}</ul></div>"


def _cells_table(bench: Benchmark) -> str:
    rows = summary_rows(bench)
    if not rows:
        return "<p class='note'>No cells.</p>"
    head = "".join(f"<th>{html.escape(h)}</th>" for h in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row.values()) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figure(plot: Plot) -> str:
    data = base64.b64encode(plot.files["png"].read_bytes()).decode("ascii")
    links = " · ".join(f"{fmt.upper()}: <code>{html.escape(p.name)}</code>"
                       for fmt, p in plot.files.items() if fmt != "png")  # fmt: skip
    return (
        f"<figure><img alt='{html.escape(plot.title)}' src='data:image/png;base64,{data}'>"
        f"<figcaption>{html.escape(plot.title)} ({links})</figcaption></figure>"
    )
