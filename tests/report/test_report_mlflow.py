"""``tlsweep report --mlflow`` against a real MLflow store: benchmark run above the cells."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.report.benchgen import cell_name, make_benchmark
from tlsweep.report.cli import main
from tlsweep.report.collect import load_benchmark
from tlsweep.report.stats import cell_stats


@pytest.mark.slow
def test_cells_become_children_of_one_benchmark_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(tmp_path)  # a sqlite store keeps its artifacts in ./mlruns

    from tlsweep.tracking.hierarchy import study_parent_run

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    bench_dir = make_benchmark(tmp_path / "bench", methods=("scratch", "simclr"), tracking_uri=uri)
    bench = load_benchmark(bench_dir)
    client = MlflowClient(tracking_uri=uri)
    study_runs = {}
    for cell in bench.cells:  # the study parents the trials created, as the tracker makes them
        run_id = study_parent_run(
            uri, "tlsweep-report-test", cell["name"], cell["storage"], tmp_path / "locks"
        )
        study_runs[cell["name"]] = run_id

    assert main([str(bench_dir), "--mlflow"]) == 0
    assert main([str(bench_dir), "--mlflow"]) == 0  # written again: the same benchmark run
    exp = client.get_experiment_by_name("tlsweep-report-test").experiment_id
    found = client.search_runs([exp], "tags.`tlsweep.role` = 'benchmark'")
    assert len(found) == 1
    bench_run = found[0]
    assert bench_run.data.tags["tlsweep.benchmark"] == str(bench_dir.absolute())
    artifacts = {a.path for a in client.list_artifacts(bench_run.info.run_id, "report")}
    assert {"report/report.html", "report/report.tex", "report/report-learning_curve.pdf"} <= (
        artifacts
    )
    stats = cell_stats(bench.frame, ["test/mae"]).set_index("cell")
    for name, run_id in study_runs.items():
        run = client.get_run(run_id)
        assert run.data.tags["mlflow.parentRunId"] == bench_run.info.run_id
        assert run.data.metrics["best_val"] == pytest.approx(stats.loc[name, "best_value"])
        for field in ("mean", "sd", "ci_low", "ci_high"):
            assert run.data.metrics[f"test/mae_{field}"] == pytest.approx(
                stats.loc[name, f"test/mae_{field}"]
            )
    results = {a.path for a in client.list_artifacts(study_runs[cell_name("simclr", "n25")])}
    assert "results" in results
