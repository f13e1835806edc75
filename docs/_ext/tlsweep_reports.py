"""Sphinx extension: one results page per committed report, generated at build time.

Each ``reports/<name>.md`` becomes ``results/reports/<name>``: the report included as written
(its provenance footer too, and the figures it links) followed by the figures it does not link,
the PNGs named ``<name>.png`` or ``<name>-*.png`` (a figure belongs to the report with the
longest matching name, so ``packing-epochs6.png`` would not land on ``packing``). The pages are
written into the source tree before Sphinx reads it (git-ignored; rewritten only when their text
changes, so incremental builds stay incremental), and a page whose report is gone is removed: a
newly committed report shows up without editing the docs. A Markdown link to
``reports/<name>.md`` from a docs page (which works on GitHub) becomes a link to that report's
page in the site.
"""

from __future__ import annotations

import os
from pathlib import Path

from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.transforms import SphinxTransform

#: where the generated pages go, relative to the docs source folder
PAGES = Path("results") / "reports"


def report_figures(reports: Path) -> dict[str, list[Path]]:
    """Each report's figures: ``{report stem: [png, ...]}`` for every ``reports/*.md``."""
    stems = sorted((p.stem for p in reports.glob("*.md")), key=len, reverse=True)
    figures: dict[str, list[Path]] = {stem: [] for stem in stems}
    for png in sorted(reports.glob("*.png")):
        owner = next((s for s in stems if png.stem == s or png.stem.startswith(f"{s}-")), None)
        if owner is not None:
            figures[owner].append(png)
    return figures


def page_text(report: Path, figures: list[Path], page_dir: Path) -> str:
    """The MyST source of one report's page, with paths relative to ``page_dir``."""

    def rel(path: Path) -> str:
        return Path(os.path.relpath(path, page_dir)).as_posix()

    lines = [
        f"<!-- generated from reports/{report.name} by docs/_ext/tlsweep_reports.py -->",
        "",
        f"```{{include}} {rel(report)}",
        ":relative-images:",  # the report's own figure links are relative to reports/
        "```",
    ]
    text = report.read_text(encoding="utf-8")
    unlinked = [png for png in figures if f"]({png.name})" not in text]
    if unlinked:
        lines += ["", "## Figures"]
    for png in unlinked:
        lines += ["", f"![{png.stem}]({rel(png)})"]
    return "\n".join(lines) + "\n"


def write_pages(reports: Path, srcdir: Path) -> list[Path]:
    """Write (or refresh) one page per report under ``srcdir/PAGES``; drop orphaned pages.

    Returns:
        The pages, one per report, in name order.
    """
    out = srcdir / PAGES
    out.mkdir(parents=True, exist_ok=True)
    pages = []
    for stem, figures in sorted(report_figures(reports).items()):
        page = out / f"{stem}.md"
        text = page_text(reports / f"{stem}.md", figures, out)
        if not page.is_file() or page.read_text() != text:
            page.write_text(text)
        pages.append(page)
    for stale in set(out.glob("*.md")) - set(pages):
        stale.unlink()
    return pages


class ReportLinks(SphinxTransform):
    """Point a link to ``reports/<name>.md`` (outside the docs, so MyST leaves it unresolvable)
    at the report's page, so the same Markdown link works on GitHub and in the site."""

    default_priority = 5

    def apply(self, **kwargs: object) -> None:
        reports = Path(self.config.tlsweep_reports_dir).resolve()
        for node in list(self.document.findall(addnodes.pending_xref)):
            if node.get("refdomain") != "doc" or node.get("reftype") != "myst":
                continue
            path = (Path(self.env.srcdir) / f"{node['reftarget']}.md").resolve()
            if path.parent == reports:
                node["reftarget"] = (PAGES / path.stem).as_posix()


def _on_builder_inited(app: Sphinx) -> None:
    write_pages(Path(app.config.tlsweep_reports_dir), Path(app.srcdir))


def setup(app: Sphinx) -> dict[str, object]:
    """Register the ``tlsweep_reports_dir`` setting, the page generator and the link rewrite."""
    app.add_config_value("tlsweep_reports_dir", "", "env", types=[str])
    app.connect("builder-inited", _on_builder_inited)
    app.add_transform(ReportLinks)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
