"""``tlsweep report --mlflow``: the benchmark as an MLflow run above its cells' study runs.

One benchmark run per benchmark folder (tag ``tlsweep.benchmark=<abs path>``, reused when the
report is written again) holds the report files as artifacts. Each cell's study parent run
(tags ``tlsweep.role=study``, ``tlsweep.study=<study name>`` and, from the sweeper,
``tlsweep.storage``) gets the cell's best validation value and final test statistics as
metrics, its results files as artifacts, and becomes a child of the benchmark run. Written with
``MlflowClient`` and explicit run ids, as in :mod:`tlsweep.tracking.mlflow_tracker`.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import yaml

from tlsweep.errors import ConfigError
from tlsweep.report.collect import RESULTS_FILE, TRIALS_FILE, Benchmark
from tlsweep.report.stats import cell_stats

log = logging.getLogger(__name__)
STAT_FIELDS = ("mean", "sd", "ci_low", "ci_high", "n")


def tracking_target(bench: Benchmark, uri: str | None = None) -> tuple[str, str]:
    """The tracking URI and experiment the benchmark's runs logged to.

    Read from the first job config found (``<cell>/<job>/.hydra/config.yaml``); a relative
    ``sqlite:///`` path is resolved against that job's working directory. ``uri`` overrides.

    Raises:
        ConfigError: no job config names a tracking URI and ``uri`` is None.
    """
    for cell in bench.cells:
        folder = bench.cell_dir(cell)
        for config in sorted(folder.glob("*/.hydra/config.yaml")) + sorted(
            folder.glob("final/*/.hydra/config.yaml")
        ):
            tracking = (yaml.safe_load(config.read_text()) or {}).get("tracking") or {}
            if tracking.get("uri"):
                found = _absolute_sqlite(str(tracking["uri"]), config.parent)
                return uri or found, str(tracking.get("experiment") or "tlsweep")
    if uri:
        return uri, "tlsweep"
    raise ConfigError(
        f"--mlflow: no job config with tracking.uri under {bench.path}; pass --tracking-uri"
    )


def _absolute_sqlite(uri: str, hydra_dir: Path) -> str:
    prefix = "sqlite:///"
    if not uri.startswith(prefix) or uri.startswith(prefix + "/"):
        return uri
    hydra_file = hydra_dir / "hydra.yaml"
    cwd = None
    if hydra_file.is_file():
        cwd = ((yaml.safe_load(hydra_file.read_text()) or {}).get("hydra") or {}).get("runtime")
        cwd = (cwd or {}).get("cwd")
    return prefix + str(Path(cwd or Path.cwd()) / uri[len(prefix) :])


def log_benchmark(
    bench: Benchmark, files: list[Path], metrics: list[str], uri: str | None = None
) -> str:
    """Log the report to MLflow (see the module docstring) and return the benchmark run id."""
    from tlsweep.tracking.mlflow_tracker import experiment_id
    from tlsweep.tracking.store import open_client

    uri, experiment = tracking_target(bench, uri)
    client = open_client(uri)
    exp = experiment_id(client, experiment)
    run_id = benchmark_run(client, exp, bench)
    for path in files:
        client.log_artifact(run_id, str(path), artifact_path="report")
    if (bench.path / "benchmark.csv").is_file():
        client.log_artifact(run_id, str(bench.path / "benchmark.csv"))
    stats = cell_stats(bench.frame, metrics)
    for cell in bench.cells:
        row = stats[stats["cell"] == cell["name"]]
        study_run = find_study_run(client, exp, cell)
        if study_run is None or row.empty:
            log.warning("MLflow: no study run for cell %s; not linked", cell["name"])
            continue
        _log_cell(client, study_run, run_id, bench, cell, row.iloc[0].to_dict(), metrics)
    client.set_terminated(run_id, status="FINISHED")
    return run_id


def benchmark_run(client: Any, exp: str, bench: Benchmark) -> str:
    """The benchmark's run in ``exp``: the one tagged with its path, else a new one."""
    query = f"tags.`tlsweep.role` = 'benchmark' and tags.`tlsweep.benchmark` = '{_q(bench.path)}'"
    runs = client.search_runs([exp], filter_string=query, max_results=1)
    if runs:
        return runs[0].info.run_id
    tags = {"tlsweep.role": "benchmark", "tlsweep.benchmark": str(bench.path)}
    tags["tlsweep.command"] = str(bench.spec.get("command", ""))[:5000]
    run = client.create_run(exp, run_name=f"benchmark-{bench.path.name}", tags=tags)
    return run.info.run_id


def find_study_run(client: Any, exp: str, cell: dict[str, Any]) -> str | None:
    """The study parent run of ``cell``: by study name and storage, else by name alone."""
    name = str(cell.get("study_name") or cell["name"])
    query = f"tags.`tlsweep.role` = 'study' and tags.`tlsweep.study` = '{_q(name)}'"
    queries = [query]
    if cell.get("storage"):
        queries.insert(0, f"{query} and tags.`tlsweep.storage` = '{_q(cell['storage'])}'")
    for q in queries:
        runs = client.search_runs([exp], filter_string=q, max_results=1)
        if runs:
            return runs[0].info.run_id
    return None


def _log_cell(
    client: Any,
    run_id: str,
    parent: str,
    bench: Benchmark,
    cell: dict[str, Any],
    row: dict[str, Any],
    metrics: list[str],
) -> None:
    from tlsweep.tracking.mlflow_tracker import log_values

    values = {"best_val": row["best_value"], "selection_gap": row["selection_gap"]}
    for metric in metrics:
        values |= {f"{metric}_{f}": row.get(f"{metric}_{f}", math.nan) for f in STAT_FIELDS}
    log_values(client, run_id, {k: v for k, v in values.items() if _finite(v)})
    client.set_tag(run_id, "mlflow.parentRunId", parent)
    client.set_tag(run_id, "tlsweep.benchmark", str(bench.path))
    for name in (RESULTS_FILE, TRIALS_FILE):
        if (bench.cell_dir(cell) / name).is_file():
            client.log_artifact(run_id, str(bench.cell_dir(cell) / name), artifact_path="results")


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _q(value: object) -> str:
    """Quote a value for an MLflow filter string."""
    return str(value).replace("\\", "\\\\").replace("'", "\\'")
