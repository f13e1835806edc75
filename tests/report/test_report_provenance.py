"""What the rows recorded decides what the report may combine, and what its header says."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.report.benchgen import FIRST_SEED, cell_name
from tlsweep.benchmark import layout
from tlsweep.report.build import ReportOptions, write_report
from tlsweep.report.collect import load_benchmark
from tlsweep.report.tables import paired_table


def _edit_final(bench: Path, cell: str, seed: int, **provenance: object) -> None:
    path = layout.final_dir(bench / cell, seed) / layout.METRICS_FILE
    record = json.loads(path.read_text())
    record["provenance"] |= provenance
    path.write_text(json.dumps(record))


def _edit_spec(bench: Path, edit) -> None:  # noqa: ANN001 - a function of the spec dict
    path = bench / layout.SPEC_FILE
    spec = yaml.safe_load(path.read_text())
    edit(spec)
    path.write_text(yaml.safe_dump(spec, sort_keys=False))


def test_the_report_header_shows_the_commands_and_what_produced_the_rows(
    bench_dir: Path, tmp_path: Path
) -> None:
    _edit_spec(bench_dir, lambda s: s.update(commands=["tlsweep -m a", "tlsweep -m b"]))
    bench = load_benchmark(bench_dir)
    write_report(bench, tmp_path / "out", ReportOptions(metric="test/mae", name="r"))
    text = (tmp_path / "out" / "r.md").read_text()
    section = text[text.index("## Provenance") :]
    assert "- command: `tlsweep -m a`" in section and "- command: `tlsweep -m b`" in section
    assert "- cohort synthetic_brain: cohort0" in section and "- test sets: test0" in section
    assert "version" not in bench.warnings
    assert "Provenance" in (tmp_path / "out" / "r.html").read_text()


def test_rows_of_different_code_or_cohorts_are_reported_with_a_warning(bench_dir: Path) -> None:
    _edit_final(bench_dir, cell_name("simclr", "n25"), FIRST_SEED, git_commit="0" * 40)
    _edit_final(bench_dir, cell_name("scratch", "n25"), FIRST_SEED + 1, cohort_digest="other")
    warnings = load_benchmark(bench_dir).warnings
    assert any(w.startswith("the rows combine 2 code versions") for w in warnings), warnings
    assert any("2 cohorts for dataset synthetic_brain" in w for w in warnings), warnings


def test_methods_judged_on_different_test_sets_are_not_paired(bench_dir: Path) -> None:
    for k in range(3):
        _edit_final(bench_dir, cell_name("simclr", "n25"), FIRST_SEED + k, split_test="other")
    frame = load_benchmark(bench_dir).frame
    table = paired_table(frame[frame["tuning"] == "tpe"], "test/mae", "scratch", ["sample_size"])
    assert table is not None
    texts = {k: v for k, v in table.text.items() if "simclr" in str(k)}
    assert sorted(texts.values())[1] == "unpaired"  # n25: unpaired; n100 still paired
    assert any(n.startswith("unpaired: simclr and scratch") for n in table.notes)


def test_two_configurations_under_one_row_are_shown_apart(bench_dir: Path) -> None:
    twin = cell_name("simclr", "n25")

    def edit(spec: dict) -> None:  # the same axes as simclr n25, another identity
        entry = next(c for c in spec["cells"] if c["name"] == twin)
        spec["cells"].append(entry | {"name": "twin", "dir": twin, "config_hash": "f" * 64})

    _edit_spec(bench_dir, edit)
    bench = load_benchmark(bench_dir)
    rows = bench.frame[bench.frame["cell"].isin([twin, "twin"])]
    own = rows.loc[rows["cell"] == twin, "cell_hash"].iloc[0][:6]
    assert set(rows["variant"]) == {f"[{own}]", "[ffffff]"}
    assert any("share their axes but not their configuration" in w for w in bench.warnings)


def test_results_of_an_older_tlsweep_are_reported_with_a_warning(bench_dir: Path) -> None:
    def strip(spec: dict) -> None:
        for cell in spec["cells"]:
            cell.pop("config_hash"), cell.pop("variant")

    _edit_spec(bench_dir, strip)
    for path in bench_dir.glob(f"*/{layout.FINAL_DIR}/*/{layout.METRICS_FILE}"):
        record = json.loads(path.read_text())
        record.pop("provenance")
        path.write_text(json.dumps(record))
    bench = load_benchmark(bench_dir)
    assert len(bench.frame) == 8 * 3 and (bench.frame["status"] == "ok").all()
    assert any(
        "recorded no configuration identity (an older tlsweep)" in w for w in bench.warnings
    )
    assert "the final seeds recorded no provenance (an older tlsweep)" in bench.warnings
