"""Where a benchmark's runs hang in MLflow: study parent runs, finals, the selected trial.

benchmark run (``tlsweep report --mlflow``) → one parent run per study, named after its cell
→ the study's trials and the cell's final-seed runs. A study's parent is found by the study's
name *and* storage, so the same command run in another folder starts a new parent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tlsweep.tracking.mlflow_tracker import experiment_id
from tlsweep.tracking.store import open_client

PARENT_LOCK = ".mlflow_parent.lock"


def study_parent_run(uri: str, experiment: str, study: str, storage: str, lock_dir: Path) -> str:
    """The run id of the study's parent run, created once however many jobs ask at once."""
    from filelock import FileLock

    client = open_client(uri)
    exp = experiment_id(client, experiment)
    lock_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(lock_dir / PARENT_LOCK)):
        query = (
            f"tags.`tlsweep.study` = '{study}' and tags.`tlsweep.role` = 'study' "
            f"and tags.`tlsweep.storage` = '{storage}'"
        )
        runs = client.search_runs([exp], filter_string=query, max_results=1)
        if runs:
            return runs[0].info.run_id
        tags = {"tlsweep.study": study, "tlsweep.role": "study", "tlsweep.storage": storage}
        run = client.create_run(exp, run_name=study, tags=tags)
        # A container for the trials, not a process: it is done as soon as it exists.
        client.set_terminated(run.info.run_id, status="FINISHED")
        return run.info.run_id


def end_stale(client: Any, run_id: str) -> None:
    """Mark a run that an attempt left RUNNING (it died before its first checkpoint) KILLED."""
    try:
        run = client.get_run(run_id)
    except Exception:  # noqa: BLE001 - gone, or from another store: nothing to end
        return
    if run.info.status == "RUNNING":
        client.set_terminated(run_id, status="KILLED")


def tag_selected(client: Any, experiment: str, study: str, trial: int) -> None:
    """Tag the MLflow run of the study's selected trial ``tlsweep.selected=true``."""
    query = (
        f"tags.`tlsweep.study` = '{study}' and tags.`tlsweep.role` = 'trial' "
        f"and tags.`tlsweep.trial` = '{trial}'"
    )
    for run in client.search_runs([experiment], filter_string=query):
        client.set_tag(run.info.run_id, "tlsweep.selected", "true")
