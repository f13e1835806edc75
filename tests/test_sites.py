"""Site-held-out evaluation (``split.held_out_sites``): the report's table, the cell identity,
and one sweep end to end (``plan``'s per-site counts, the trials, the final seeds, the report).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import cell_folder, run_cli
from tlsweep.benchmark import layout
from tlsweep.benchmark.identity import training_config
from tlsweep.report.sites import external_metric, site_table


def _frame(external: bool = True) -> pd.DataFrame:
    """Two methods × three final seeds with a known per-seed external/internal ratio."""
    rows = []
    for method, base, ratio in (("scratch", 10.0, 2.0), ("simclr", 12.0, 1.5)):
        for seed in range(3):
            internal = base + seed
            row = {
                "method": method, "sample_size": "n25", "n_train": 25, "final_seed": 1000 + seed,
                "status": "ok", "test/mae": internal,
            }  # fmt: skip
            if external:
                row["test_external/mae"] = internal * (ratio + 0.1 * seed)
                row["baseline/test_external/mae"] = 15.0
            rows.append(row)
    return pd.DataFrame(rows)


def test_the_site_table_shows_internal_external_and_the_per_seed_ratio() -> None:
    table = site_table(_frame(), "test/mae", ["method"], ["sample_size"])
    assert table is not None
    records = {r["method"]: r for r in table.records}
    assert records["scratch"]["test/mae"] == pytest.approx(11.0)
    assert records["scratch"]["test_external/mae"] == pytest.approx(np.mean([20, 23.1, 26.4]))
    assert records["scratch"]["ratio"] == pytest.approx(2.1)  # mean of 2.0, 2.1, 2.2
    assert records["simclr"]["ratio"] == pytest.approx(1.6)
    assert records["simclr"]["baseline/test_external/mae"] == 15.0
    assert table.text[(("scratch",), ("n25", "external / internal"))] == "2.10 ± 0.10"


def test_no_external_test_set_means_no_site_table() -> None:
    assert site_table(_frame(external=False), "test/mae", ["method"], ["sample_size"]) is None
    assert external_metric("test/pearson_r") == "test_external/pearson_r"


def test_the_held_out_sites_name_a_cell_only_when_set() -> None:
    """The new keys at their defaults leave every earlier cell name and checkpoint valid."""
    base = {"split": {"seed": 0}, "dataset": {"n_subjects": 600}}
    default = {
        "split": {"seed": 0, "held_out_sites": []},
        "dataset": {"n_subjects": 600, "site_column": "site"},
    }
    assert training_config(default) == training_config(base)
    held = {**default, "split": {"seed": 0, "held_out_sites": ["site-C"]}}
    assert training_config(held)["split.held_out_sites"] == ["site-C"]


SITES = (
    "hpo=random",
    "debug=smoke",
    "method=scratch",
    "split.held_out_sites=[site-C]",
    "split.source_fraction=0.1",  # the smoke cohort is small: room for the training roles
    "hydra.sweeper.n_trials=2",
    "final.seeds=2",
    "hydra.sweep.dir=bench",
)
SITE_LINE = re.compile(r"^sites: \S+: (site-\w) (held out|in), (\d+) subjects: (.*)$", re.M)


@pytest.mark.slow
def test_a_sweep_with_a_held_out_site_scores_it_on_every_final_seed_only(
    tmp_path: Path, cache_dir: Path
) -> None:
    planned = run_cli("plan", "--no-calibrate", *SITES, cwd=tmp_path, cache_dir=cache_dir)
    assert planned.returncode == 0, planned.stderr[-2000:]
    lines = {
        site: (held, int(n), used) for site, held, n, used in SITE_LINE.findall(planned.stdout)
    }
    assert lines["site-C"][0] == "held out" and lines["site-A"][0] == "in"

    result = run_cli("-m", *SITES, cwd=tmp_path, cache_dir=cache_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    bench = tmp_path / "bench"
    cell = cell_folder(bench, "scratch-tiny3d-synthetic_brain-smoke-s0-random")
    rows = pd.read_csv(bench / layout.CSV_FILE)
    assert len(rows) == 2 and rows["test_external/mae"].notna().all()
    assert rows["baseline/test_external/mae"].notna().all()

    # what plan counted is what the final seed's split artifact holds (both ends of the seam)
    splits = pd.read_csv(layout.final_dir(cell, 1000) / layout.SPLITS_FILE)
    external = splits[splits.role == "test_external"]
    assert len(external) == lines["site-C"][1]
    assert f"test_external {len(external)}" in lines["site-C"][2]
    train = int(re.search(r"train (\d+)", lines["site-A"][2])[1])
    (cohort,) = (cache_dir / "synthetic_brain").glob("n72-*/participants.tsv")
    table = pd.read_csv(cohort, sep="\t")
    site_of = table.set_index("participant_id")["site"]
    assert (site_of[splits[splits.role == "train"].participant_id] == "site-A").sum() == train
    assert set(site_of[external.participant_id]) == {"site-C"}

    trials = [p for p in cell.iterdir() if (p / layout.METRICS_FILE).is_file()]
    assert trials, sorted(p.name for p in cell.iterdir())
    for trial in trials:  # a tuning trial never has an external (or internal) test subject
        metrics = json.loads((trial / layout.METRICS_FILE).read_text())["metrics"]
        assert not [k for k in metrics if k.startswith(("test", "baseline/test"))]
        roles = set(pd.read_csv(trial / layout.SPLITS_FILE).role)
        assert roles.isdisjoint({"test", "test_external"})

    report = run_cli("report", str(bench), "--out", "rep", cwd=tmp_path, cache_dir=cache_dir)
    assert report.returncode == 0, report.stderr[-2000:]
    name = next((tmp_path / "rep").glob("*-sites.csv"))
    sites = pd.read_csv(name)
    per_seed = rows["test_external/mae"] / rows["test/mae"]
    assert sites["ratio"].iloc[0] == pytest.approx(per_seed.mean())
    markdown = next((tmp_path / "rep").glob("*.md")).read_text()
    assert "Internal vs site-held-out test (mae)" in markdown
