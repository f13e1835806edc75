"""One report, one truth: the Markdown, the HTML and the folder show the same tables, figures
and "Left out" lines, and a figure an earlier report made but this one did not is gone."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pandas as pd
import pytest

from tests.report.benchgen import cell_name
from tlsweep.report import page
from tlsweep.report.build import ReportOptions, markdown, write_report
from tlsweep.report.collect import load_benchmark
from tlsweep.report.figure import FIGURES


def _shown(out: Path, stem: str) -> dict[str, list[str]]:
    """Figures (PNG file names) and left-out lines of the Markdown, the HTML and the folder."""
    md = (out / f"{stem}.md").read_text()
    page_text = (out / f"{stem}.html").read_text()
    left_md = md.split("## Left out\n\n")[1].split("\n\n")[0].splitlines() if (
        "## Left out" in md) else []  # fmt: skip
    left_html = re.findall(r"<li>(.*?)</li>", page_text.split("<h2>Left out</h2>")[-1]) if (
        "<h2>Left out</h2>" in page_text) else []  # fmt: skip
    return {
        "md figures": re.findall(r"!\[[^]]*\]\(([^)]+)\)", md),
        "html figures": re.findall(r"\(PDF: <code>([^<]+)\.pdf</code>", page_text),
        "files": sorted(p.name for p in out.glob(f"{stem}-*.png")),
        "md left out": [line.removeprefix("- ") for line in left_md],
        "html left out": [html.unescape(x) for x in left_html],
    }


def _agree(shown: dict[str, list[str]]) -> None:
    html_pngs = [f"{name}.png" for name in shown["html figures"]]
    assert shown["md figures"] == html_pngs
    assert sorted(shown["md figures"]) == shown["files"]
    assert shown["md left out"] == shown["html left out"]


def test_markdown_html_and_files_agree(report_dir: Path) -> None:
    shown = _shown(report_dir, "lc")
    _agree(shown)
    assert len(shown["files"]) == len(FIGURES) and shown["md left out"] == []


@pytest.mark.slow  # two full reports
def test_a_figure_no_longer_made_is_gone_everywhere(bench_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_report(load_benchmark(bench_dir), out, ReportOptions(metric="test/mae", name="r"))
    first = _shown(out, "r")
    _agree(first)
    assert len(first["files"]) == len(FIGURES) and first["md left out"] == []

    # fewer trials in one cell: the same folder, the importance figure now left out
    path = bench_dir / cell_name("simclr", "n25") / "trials.csv"
    trials = pd.read_csv(path)
    trials[trials["number"] < 6].to_csv(path, index=False)
    write_report(load_benchmark(bench_dir), out, ReportOptions(metric="test/mae", name="r"))
    second = _shown(out, "r")
    _agree(second)
    assert "r-importance.png" not in second["files"] and not list(out.glob("r-importance.*"))
    [line] = second["md left out"]
    assert line.startswith("parameter importance: left out")
    md = (out / "r.md").read_text()
    for title in ("paired difference to scratch", "tuned − untuned twin", "mean rank and IQM",
                  "after k tuning trials"):  # fmt: skip
        assert title in md, title
    assert "ranking (best first) at k=1:" in md


def test_tables_appear_in_markdown_latex_and_html(report_dir: Path) -> None:
    md, tex = (report_dir / "lc.md").read_text(), (report_dir / "lc.tex").read_text()
    page_text = (report_dir / "lc.html").read_text()
    titles = re.findall(r"^\*\*(.+)\*\*$", md, flags=re.MULTILINE)
    assert len(titles) == 9
    assert {
        "Budget and measured compute per cell",
        "Labels and subjects each method uses",
        "Brain age: test MAE per age band",
    } <= set(titles)
    for title in titles:
        assert f"<caption>{html.escape(title)}</caption>" in page_text, title
    assert tex.count(r"\begin{tabular}") == 9
    assert (report_dir / "lc-compute.csv").is_file() and (report_dir / "lc-labels.csv").is_file()


def test_header_notes_lead_both_renderings(bench_template: Path, tmp_path: Path) -> None:
    from tlsweep.report.build import Report

    bench = load_benchmark(bench_template)
    report = Report(["validation set below 20 subjects in 2 cells"], [], [], [], {})
    assert "\n> validation set below 20 subjects in 2 cells\n" in markdown(bench, report)
    rendered = page.render(bench, [], [], [], "t", header=report.header)
    assert "<ul class='header'><li>validation set below 20 subjects in 2 cells</li>" in rendered


def test_the_brain_age_section_reads_the_final_seeds_metrics(report_dir: Path) -> None:
    bias = pd.read_csv(report_dir / "lc-brain_age.csv")
    bands = pd.read_csv(report_dir / "lc-age_bands.csv")
    row = bias[(bias["method"] == "scratch") & (bias["sample_size"] == "n25")].iloc[0]
    assert row["test/gap_r"] == pytest.approx(-0.6 + 0.01)  # seeds k = 0, 1, 2: mean of 0.01 k
    assert row["test/mae_corrected"] == pytest.approx(row["test/mae"] - 1.0)
    assert set(bands["band"]) == {"20–30", "30–40"}
    md = (report_dir / "lc.md").read_text()
    assert "fitted on each seed's validation subjects only and never on test" in md


def test_no_brain_age_section_without_its_metrics(bench_template: Path, tmp_path: Path) -> None:
    from tlsweep.report.brain_age import brain_age_tables

    frame = load_benchmark(bench_template).frame.drop(columns=["test/gap_r"])
    assert brain_age_tables(frame, ["method"], ["sample_size"]) == []
