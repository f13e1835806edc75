"""The documentation: a short README that links into the docs, links that lead somewhere, and
(slow) the Sphinx site itself, built nitpicky with warnings as errors as ``make docs`` does.

The fast tests read Markdown only; the tests of the build's own extensions (``docs/_ext``) and the
build need Sphinx, which ``make install`` brings with the ``docs`` extra.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import ROOT

DOCS = ROOT / "docs"
GENERATED = ("_build", "api/generated", "results/reports")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
INCLUDE = re.compile(r"```\{include\} (\S+)\n((?::[\w-]+:.*\n)*)```")


def pages() -> list[Path]:
    """README.md and every hand-written Markdown page of the docs (not the generated ones)."""
    written = [
        p for p in DOCS.rglob("*.md") if not any(p.is_relative_to(DOCS / g) for g in GENERATED)
    ]
    return [ROOT / "README.md", *sorted(written)]


def without_blocks(text: str) -> str:
    """``text`` without code blocks: fenced ones (but MyST directives) and indented ones."""
    text = re.sub(r"(?ms)^```(?!\{).*?^```", "", text)
    return re.sub(r"(?m)^(?: {4}|\t).*$", "", text)


def prose(text: str) -> str:
    """``text`` without code: code blocks and code spans."""
    return re.sub(r"`[^`\n]*`", "", without_blocks(text))


def slug(heading: str) -> str:
    """The anchor GitHub and MyST (``myst_heading_anchors``) give a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The section anchors of a Markdown page (headings of its included parts too)."""
    text = page.read_text()
    for target, options in INCLUDE.findall(text):
        text += "\n" + included_text((page.parent / target).resolve(), options)
    return {slug(h) for h in re.findall(r"(?m)^#{1,6} (.+)$", without_blocks(text))}


def included_text(source: Path, options: str) -> str:
    """The part of ``source`` an include directive with ``options`` takes."""
    text = source.read_text()
    start = re.search(r":start-after: (.+)", options)
    end = re.search(r":end-before: (.+)", options)
    if start:
        text = text.split(start.group(1).strip(), 1)[1]
    if end:
        text = text.split(end.group(1).strip(), 1)[0]
    return text


def broken_links(page: Path) -> list[str]:
    """Each relative link of ``page`` whose file, or section of a Markdown file, is missing."""
    broken = []
    for target in LINK.findall(prose(page.read_text())):
        if re.match(r"[a-z]+:", target):  # a URL
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target} (no such section)")
    return broken


def test_the_readme_is_short() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 220, f"README.md has {len(lines)} lines; move text into docs/"


def test_the_readme_links_to_every_guide_page() -> None:
    linked = {Path(t.partition("#")[0]) for t in LINK.findall((ROOT / "README.md").read_text())}
    for page in sorted((DOCS / "guide").glob("*.md")):
        if page.stem != "quickstart":  # the README's own set-up and tour
            assert page.relative_to(ROOT) in linked, f"README.md does not link to {page}"


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_leads_somewhere(page: Path) -> None:
    assert broken_links(page) == []


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_include_finds_its_file_and_markers(page: Path) -> None:
    for target, options in INCLUDE.findall(page.read_text()):
        source = (page.parent / target).resolve()
        assert source.is_file(), f"{page}: includes {target}, which does not exist"
        for marker in re.findall(r":(?:start-after|end-before): (.+)", options):
            assert marker.strip() in source.read_text(), f"{page}: {source} lacks {marker}"


def test_a_broken_link_and_a_missing_section_are_caught(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other\n\n## A `code` section\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n[ok](other.md) [ok](other.md#a-code-section) [here](#page) "
        "[web](https://example.org) `[in code](nowhere.md)`\n\n"
        "[gone](missing.md) [no section](other.md#nope)\n\n    [indented](nowhere.md)\n"
    )
    assert broken_links(page) == ["missing.md (no such file)", "other.md#nope (no such section)"]


# ---- the build's extensions (docs/_ext) and the build itself: these need Sphinx


def extension(name: str) -> ModuleType:
    """A module of ``docs/_ext`` (or ``docs/conf.py``), imported from its file."""
    pytest.importorskip("sphinx")
    path = DOCS / "_ext" / f"{name}.py" if name != "conf" else DOCS / "conf.py"
    spec = importlib.util.spec_from_file_location(f"_docs_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_each_report_gets_a_page_with_its_own_figures(tmp_path: Path) -> None:
    reports = extension("tlsweep_reports")
    src, out = tmp_path / "reports", tmp_path / "docs"
    src.mkdir()
    for name in ("packing.md", "packing-epochs6.md", "packing-epochs6.png", "packing.png"):
        (src / name).write_text("# x\n")
    (src / "orphan-plot.png").write_text("")
    pages = reports.write_pages(src, out)
    assert [p.name for p in pages] == ["packing.md", "packing-epochs6.md"]
    packing = (out / reports.PAGES / "packing.md").read_text()
    assert "{include} ../../../reports/packing.md" in packing
    assert "packing.png)" in packing and "packing-epochs6.png" not in packing
    assert ":relative-images:" in packing

    (src / "packing.md").write_text("# x\n\n![speed](packing.png)\n")  # a report that links it
    reports.write_pages(src, out)
    assert "packing.png)" not in (out / reports.PAGES / "packing.md").read_text()

    (src / "packing.md").unlink()  # a report that is gone loses its page; a new one gets one
    (src / "scaling.md").write_text("# y\n")
    pages = reports.write_pages(src, out)
    assert sorted(p.name for p in (out / reports.PAGES).glob("*.md")) == [
        "packing-epochs6.md",
        "scaling.md",
    ]


def test_a_name_resolves_where_the_module_got_it() -> None:
    names = extension("tlsweep_names")
    import tlsweep.tracking.store  # noqa: F401 (imports ConfigError; MlflowClient for typing only)

    assert names.qualified("ConfigError", "tlsweep.tracking.store") == "tlsweep.errors.ConfigError"
    assert names.qualified("MlflowClient", "tlsweep.tracking.store") == (
        "mlflow.tracking.MlflowClient"
    )
    store_constant = names.qualified("PROBE_SECONDS", "tlsweep.tracking.store")
    assert store_constant == "tlsweep.tracking.store.PROBE_SECONDS"
    assert names.exists(store_constant)
    assert not names.exists("tlsweep.tracking.store.NO_SUCH_NAME")
    assert not names.exists("this")  # a word is never imported as a top-level module
    assert names.qualified("Nowhere", "tlsweep.tracking.store") == "Nowhere"


def test_words_before_a_colon_stay_prose() -> None:
    conf = extension("conf")
    returns = [":returns: the training config, sorted.", ":rtype: The flat identity"]
    conf._words_not_types(None, "function", "f", None, {}, returns)
    assert returns == [":returns: The flat identity: the training config, sorted."]
    attribute = ["one logit per class.", "", ":type: Width of the output"]
    conf._words_not_types(None, "property", "p", None, {}, attribute)
    assert attribute == ["Width of the output: one logit per class.", ""]


@pytest.mark.slow
def test_the_site_builds_without_a_warning(tmp_path: Path) -> None:
    pytest.importorskip("sphinx")
    out = tmp_path / "html"
    command = ["-m", "sphinx", "-E", "-W", "--keep-going", "-n", "-q", "-b", "html"]
    done = subprocess.run(
        [sys.executable, *command, str(DOCS), str(out)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-4000:]
    for report in sorted((ROOT / "reports").glob("*.md")):
        assert (out / "results" / "reports" / f"{report.stem}.html").is_file(), report.name
    assert (out / "api" / "generated" / "tlsweep.run.html").is_file()
    results = (out / "results" / "index.html").read_text()
    assert 'href="reports/learning_curve-small.html"' in results
