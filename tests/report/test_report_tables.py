"""Tables: the right entry in bold (direction-aware), ties marked, well-formed LaTeX."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from tests.report.benchgen import JITTER, SEED_EFFECT
from tlsweep.errors import ConfigError
from tlsweep.report.collect import load_benchmark
from tlsweep.report.tables import (
    TIE,
    metric_table,
    paired_table,
    to_frame,
    to_html,
    to_latex,
    to_markdown,
)

SIMCLR, PF = ("simclr", "tpe"), ("pretrain_freeze", "tpe")
SCRATCH, UNTUNED = ("scratch", "tpe"), ("scratch", "untuned")


@pytest.fixture(scope="module")
def frame(bench_template: Path):  # noqa: ANN201
    return load_benchmark(bench_template).frame


def test_best_is_bold_and_close_ones_are_ties(frame) -> None:  # noqa: ANN001
    table = metric_table(frame, "test/mae", ["method"], ["sample_size"])
    assert table.row_axes == ["method", "tuning"]  # tuning varies, so it joins the rows
    assert table.col_keys == [("n25",), ("n100",)]  # by n_train, not alphabetically
    for col in table.col_keys:
        assert table.bold == {(SIMCLR, c) for c in table.col_keys}
        assert table.mark.get((PF, col)) == TIE
        assert (SCRATCH, col) not in table.mark and (UNTUNED, col) not in table.mark
    # the tie by hand: pretrain_freeze - simclr per seed, 95 % t-interval contains 0
    diffs = [0.1 + JITTER["pretrain_freeze"][k] - JITTER["simclr"][k] for k in range(3)]
    half = sps.t.ppf(0.975, 2) * np.std(diffs, ddof=1) / math.sqrt(3)
    assert abs(np.mean(diffs)) < half
    text, bold, mark = table.entry(SIMCLR, ("n25",))
    mean = np.mean([10.0 + SEED_EFFECT[k] + JITTER["simclr"][k] for k in range(3)])
    assert bold and text.startswith(f"{mean:.2f} ± ")


def test_bold_follows_the_metric_direction(frame) -> None:  # noqa: ANN001
    table = metric_table(frame, "test/r2", ["method"], ["sample_size"])
    assert table.bold == {(SIMCLR, c) for c in table.col_keys}  # the highest R², not the lowest


def test_renderings(frame) -> None:  # noqa: ANN001
    table = metric_table(frame, "test/mae", ["method"], ["sample_size"])
    md = to_markdown(table)
    assert re.search(r"\| simclr / tpe \| \*\*10\.\d\d ± 0\.\d\d\*\* \|", md)
    assert re.search(r"\| pretrain_freeze / tpe \| 10\.\d\d ± 0\.\d\d† \|", md)
    html = to_html(table)
    assert "<b>10." in html and "<sup>†</sup>" in html
    records = to_frame(table)
    assert records[records["best"]]["method"].unique().tolist() == ["simclr"]
    assert records["tie_with_best"].sum() == 2


def test_latex_is_booktabs_and_balanced(frame) -> None:  # noqa: ANN001
    tex = to_latex(metric_table(frame, "test/mae", ["method"], ["sample_size"]))
    lines = [line for line in tex.splitlines() if line and not line.startswith("%")]
    assert lines[0] == r"\begin{tabular}{lcc}" and lines[-1] == r"\end{tabular}"
    assert [lines[1], lines[3], lines[-2]] == [r"\toprule", r"\midrule", r"\bottomrule"]
    body = lines[2:3] + lines[4:-2]
    assert len(body) == 1 + 4
    for line in body:
        assert line.endswith(r"\\") and line.count("&") == 2
    code = "\n".join(lines)
    assert code.count("{") == code.count("}") and code.count("$") % 2 == 0
    assert r"pretrain\_freeze" in code and r"\textbf{" in code and r"$^{\dagger}$" in code


def test_paired_table(frame) -> None:  # noqa: ANN001
    table = paired_table(frame, "test/mae", "scratch", ["sample_size"])
    assert table is not None and set(table.row_keys) == {SIMCLR, PF}
    diffs = [JITTER["simclr"][k] - JITTER["scratch"][k] - 2.0 for k in range(3)]
    text, _, mark = table.entry(SIMCLR, ("n25",))
    assert text.startswith(f"{np.mean(diffs):+.2f} [") and mark == "*"
    assert text.endswith("; 100%") and "; p=" in text  # simclr beats scratch on every seed
    assert any("Holm-adjusted over the 4 comparisons shown" in n for n in table.notes)
    assert paired_table(frame, "test/mae", "no_such_method", ["sample_size"]) is None


def test_axes_are_configurable_and_checked(frame) -> None:  # noqa: ANN001
    swapped = metric_table(frame, "test/mae", ["sample_size"], ["method"])
    assert [k[0] for k in swapped.row_keys] == ["n25", "n25", "n100", "n100"]
    assert swapped.col_keys == [("scratch",), ("pretrain_freeze",), ("simclr",)]  # baseline 1st
    with pytest.raises(ConfigError, match="did you mean 'encoder'"):
        metric_table(frame, "test/mae", ["encodr"], ["sample_size"])
    with pytest.raises(ConfigError, match="both in rows and cols"):
        metric_table(frame, "test/mae", ["method"], ["method"])
