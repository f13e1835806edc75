"""Tables: the right entry in bold (direction-aware), ties marked, well-formed LaTeX."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from tests.report.benchgen import JITTER, SEED_EFFECT, SIZES, baseline_mae
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
    tuning_table,
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
    assert re.search(r"\| simclr / tpe \| \*\*10\.\d\d ± 0\.\d\d\*\* \(gap [+-]0\.\d+\) \|", md)
    assert re.search(r"\| pretrain_freeze / tpe \| 10\.\d\d ± 0\.\d\d† \(gap [+-]0\.\d+\) \|", md)
    assert re.search(r"\| scratch / untuned \| 13\.\d\d ± 0\.\d\d \|", md)  # no gap: untuned
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
    body = lines[2:3] + lines[4:-4] + lines[-3:-2]  # header, 4 rows, the baseline row
    assert lines[-4] == r"\midrule" and lines[-3].startswith(r"\textit{baseline (mean")
    assert len(body) == 1 + 4 + 1
    for line in body:
        assert line.endswith(r"\\") and line.count("&") == 2
    code = "\n".join(lines)
    assert code.count("{") == code.count("}") and code.count("$") % 2 == 0
    assert r"pretrain\_freeze" in code and r"\textbf{" in code and r"$^{\dagger}$" in code
    assert r"{\scriptsize (gap " in code


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


def test_each_tuned_entry_carries_its_selection_gap(frame) -> None:  # noqa: ANN001
    from tlsweep.report.stats import cell_stats

    table = metric_table(frame, "test/mae", ["method"], ["sample_size"])
    stats = cell_stats(frame).set_index(["method", "tuning", "sample_size"])
    for (r, c), sub in table.sub.items():
        assert sub == f"gap {stats.loc[(*r, *c), 'selection_gap']:+.2f}", (r, c)
    assert {r for r, _ in table.sub} == {SCRATCH, SIMCLR, PF}  # untuned cells: no gap
    records = to_frame(table).set_index(["method", "tuning", "sample_size"])
    gap = records.loc[(*SIMCLR, "n25"), "selection_gap"]
    assert gap == pytest.approx(stats.loc[(*SIMCLR, "n25"), "selection_gap"])
    assert any(
        n.startswith("gap: the selection gap, the best trial's val/mae") for n in table.notes
    )
    html = to_html(table)
    assert "<br><small>gap " in html


def test_the_baseline_row(frame) -> None:  # noqa: ANN001
    table = metric_table(frame, "test/mae", ["method"], ["sample_size"])
    [(name, texts)] = table.extra_rows
    assert name == "baseline (mean predictor)"
    for size, n in SIZES.items():
        values = [baseline_mae(n, k) for k in range(3)]
        assert texts[(size,)] == f"{np.mean(values):.2f} ± {np.std(values, ddof=1):.2f}"
    assert "| _baseline (mean predictor)_ | 16." in to_markdown(table)
    assert "<tr class='extra'><th><i>baseline (mean predictor)</i></th>" in to_html(table)
    assert all((r, c) not in table.bold for r in [(name,)] for c in table.col_keys)
    assert not any("differ in training set" in n for n in table.notes)
    by_size = metric_table(frame, "test/mae", ["method", "sample_size"], ["tuning"])
    assert any("differ in training set" in n for n in by_size.notes)  # n25 and n100 averaged


def test_no_baseline_columns_no_row(frame) -> None:  # noqa: ANN001
    plain = frame.drop(columns=[c for c in frame if c.startswith("baseline/")])
    table = metric_table(plain, "test/mae", ["method"], ["sample_size"])
    assert table.extra_rows == [] and not any("baseline" in n for n in table.notes)
    assert "\\textit" not in to_latex(table)


def test_a_classification_baseline_is_the_majority_class() -> None:
    rows = [
        {"cell": f"{m}-c", "method": m, "sample_size": "n25", "n_train": 25, "final_seed": s,
         "status": "ok", "objective": "val/auroc", "best_value": 0.8, "val/auroc": 0.7,
         "test/auroc": 0.6 + 0.1 * s + (0.05 if m == "simclr" else 0.0),
         "baseline/test/auroc": 0.5}
        for m in ("scratch", "simclr") for s in (1, 2)
    ]  # fmt: skip
    table = metric_table(pd.DataFrame(rows), "test/auroc", ["method"], ["sample_size"])
    assert table.extra_rows == [
        ("baseline (majority class)", {("n25",): "0.500 ± 0.000"})
    ]  # digits of the entries
    assert table.sub[(("simclr",), ("n25",))] == "gap +0.10"  # 0.8 - 0.7: maximise, optimistic
    assert any("above 0, the tuning score was optimistic" in n for n in table.notes)


def test_tuned_vs_untuned_is_paired_by_final_seed() -> None:
    seeds = {1: 0.0, 2: 2.0, 3: -1.5}  # a large seed effect that pairing removes
    rows = [
        {"cell": f"scratch-{t}", "method": "scratch", "dataset": "d", "encoder": "e",
         "sample_size": "n25", "n_train": 25, "seed_cell": 0, "tuning": t,
         "stage": "target_only", "variant": "", "final_seed": s, "status": "ok",
         "objective": "val/mae", "best_value": 9.0 if t == "tpe" else math.nan,
         "val/mae": 10.0, "test/mae": 12.0 + effect - (1.0 + 0.1 * s if t == "tpe" else 0.0)}
        for t in ("untuned", "tpe") for s, effect in seeds.items()
    ]  # fmt: skip
    table = tuning_table(pd.DataFrame(rows), "test/mae", ["sample_size"])
    assert table is not None and table.row_keys == [("scratch", "tpe")]
    diffs = [-(1.0 + 0.1 * s) for s in seeds]  # tuned - untuned on each final seed
    half = sps.t.ppf(0.975, 2) * np.std(diffs, ddof=1) / math.sqrt(3)
    text, _, mark = table.entry(("scratch", "tpe"), ("n25",))
    low, high = np.mean(diffs) - half, np.mean(diffs) + half
    assert text.startswith(f"{np.mean(diffs):+.2f} [{low:+.2f}, {high:+.2f}]") and mark == "*"
    assert text.endswith("; 100%")
    no_twin = pd.DataFrame([r for r in rows if r["tuning"] == "tpe"])
    assert tuning_table(no_twin, "test/mae", ["sample_size"]) is None
