"""Opening MLflow stores: a fresh sqlite store first-touched by 8 processes at once, bad URIs.

The race test starts real processes that each import everything, then wait behind a file
barrier so that all of them open the fresh store in the same instant, as the trials of a
parallel sweep do. Without the guard in :mod:`tlsweep.tracking.store` they migrate the schema
concurrently and the store breaks (set ``TLSWEEP_TEST_UNGUARDED=1`` to see it happen).
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from tests.barrier import run_together
from tlsweep.errors import ConfigError
from tlsweep.tracking import store
from tlsweep.tracking.mlflow_tracker import Tracker
from tlsweep.tracking.store import open_client

N_WORKERS = 8
N_STEPS = 5

WORKER = r"""
import os, sys, time
from pathlib import Path

uri, folder, index = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
import mlflow.store.tracking.sqlalchemy_store  # the slow imports, before the barrier
import tlsweep.tracking.store
from tlsweep.tracking.mlflow_tracker import Tracker

if os.environ.get("TLSWEEP_TEST_UNGUARDED"):  # shows the race the guard prevents
    tlsweep.tracking.store._prepare = lambda uri: None
(folder / f"ready-{index}").touch()
while not (folder / "go").exists():
    time.sleep(0.001)
with Tracker(uri, "race", f"worker-{index}", {"worker": index}) as tracker:
    for step in range(int(sys.argv[4])):
        tracker.log_metrics({"loss": 1.0 / (step + 1), "index": float(index)}, step=step)
    note = folder / f"note-{index}.txt"
    note.write_text(f"worker {index}\n")
    tracker.log_artifact(note)
"""


def _start_together(uri: str, folder: Path) -> list[subprocess.CompletedProcess]:
    """Run N_WORKERS worker processes that open ``uri`` at the same moment."""
    args = [[uri, str(folder), str(i), str(N_STEPS)] for i in range(N_WORKERS)]
    results = run_together(WORKER, args, folder, timeout=180)
    for i, result in enumerate(results):
        assert (folder / f"ready-{i}").exists(), result.stdout
    return results


@pytest.mark.slow
def test_eight_processes_first_touching_a_fresh_store(tmp_path: Path) -> None:
    db = tmp_path / "not-yet" / "mlflow.db"  # neither the file nor its folder exists
    uri = f"sqlite:///{db}"
    results = _start_together(uri, tmp_path)
    failed = [r.stdout[-2000:] for r in results if r.returncode != 0]
    assert not failed, "\n---\n".join(failed)

    with Tracker(uri, "race", "later", {}) as later:  # the store is usable afterwards
        later.log_metrics({"loss": 0.5}, step=0)
    client = open_client(uri)
    experiment = client.get_experiment_by_name("race")
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    assert sorted(r.info.run_name for r in runs) == sorted(
        [f"worker-{i}" for i in range(N_WORKERS)] + ["later"]
    )
    for mlrun in runs:
        assert mlrun.info.status == "FINISHED"
        if mlrun.info.run_name == "later":
            continue
        index = int(mlrun.data.tags["worker"])
        history = client.get_metric_history(mlrun.info.run_id, "loss")
        assert sorted(m.step for m in history) == list(range(N_STEPS))
        assert mlrun.data.metrics["index"] == index
        local = client.download_artifacts(mlrun.info.run_id, f"note-{index}.txt", str(tmp_path))
        assert Path(local).read_text() == f"worker {index}\n"


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: nobody listens there


class FakeClock:
    """Stands in for the store module's ``time``: sleeping advances it and nothing waits."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_dead_server_fails_fast_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    # The probe's own clock, not the wall clock: a loaded machine neither fails nor passes this.
    clock = FakeClock()
    monkeypatch.setattr(store, "time", clock)

    def no_client(uri: str) -> None:  # MLflow's client would retry a dead server for minutes
        pytest.fail(f"an MLflow client was built for the dead server {uri}")

    monkeypatch.setattr(store, "_client", no_client)
    uri = f"http://127.0.0.1:{_dead_port()}"
    with pytest.raises(ConfigError) as caught:
        Tracker(uri, "exp", "run", {})
    assert clock.now < 15, f"gave up after {clock.now} s of retries"
    message = str(caught.value)
    assert f"tracking.uri={uri}" in message and "\n" not in message


@pytest.mark.slow  # starts processes: the slow tier
def test_live_server_passes_the_probe(mlflow_server: str, tmp_path: Path) -> None:
    note = tmp_path / "note.txt"
    note.write_text("served\n")
    with Tracker(mlflow_server, "probe", "live", {}) as tracker:
        tracker.log_metrics({"loss": 1.0}, step=0)
        tracker.log_artifact(note)
    client = open_client(mlflow_server)
    assert client.get_run(tracker.run_id).info.status == "FINISHED"
    local = client.download_artifacts(tracker.run_id, "note.txt", str(tmp_path / "back"))
    assert Path(local).read_text() == "served\n"


def test_unknown_scheme_names_the_options() -> None:
    with pytest.raises(ConfigError) as caught:
        open_client("sqlit:///mlflow.db")
    message = str(caught.value)
    assert message.startswith("tracking.uri=sqlit:///mlflow.db: unknown scheme 'sqlit'")
    assert "did you mean 'sqlite'?" in message and "http" in message


def test_store_under_a_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    uri = f"sqlite:///{tmp_path / 'a-file' / 'runs' / 'mlflow.db'}"
    with pytest.raises(ConfigError) as caught:
        open_client(uri)
    message = str(caught.value)
    assert message.startswith(f"tracking.uri={uri}: cannot create the folder")
    assert str(tmp_path / "a-file" / "runs") in message and "\n" not in message


def test_store_that_is_a_folder_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "mlflow.db").mkdir()
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with pytest.raises(ConfigError, match=r"cannot open the MLflow store") as caught:
        open_client(uri)
    assert "\n" not in str(caught.value)
