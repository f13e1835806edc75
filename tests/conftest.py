"""Shared fixtures: a session cache with the smoke cohort, config composition, markers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

ROOT = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip ``gpu`` tests where CUDA is missing."""
    import importlib.util

    has_cuda = False
    if importlib.util.find_spec("torch") is not None:
        import torch

        has_cuda = torch.cuda.is_available()
    for item in items:
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(pytest.mark.skip(reason="needs CUDA"))


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for the whole session: the smoke cohort is generated once.

    ``TLSWEEP_TEST_CACHE`` keeps it across sessions (handy locally; CI starts clean).
    """
    keep = os.environ.get("TLSWEEP_TEST_CACHE")
    path = Path(keep) if keep else tmp_path_factory.mktemp("cache")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def make_cfg(cache_dir: Path, tmp_path: Path):  # noqa: ANN201
    """Compose the packaged config with overrides, as the CLI would (tracking off by default)."""

    def _make(*overrides: str, tracking: bool = False) -> DictConfig:
        with initialize_config_module(version_base="1.3", config_module="tlsweep.conf"):
            cfg = compose(
                "config",
                overrides=[
                    f"cache_dir={cache_dir}",
                    f"output_dir={tmp_path / 'run'}",
                    f"tracking.enabled={str(tracking).lower()}",
                    f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}",
                    "train.progress=false",
                    *overrides,
                ],
                return_hydra_config=True,
            )
        HydraConfig.instance().set_config(cfg)  # as in a real run: runtime.choices, output_dir
        with open_dict(cfg):
            del cfg["hydra"]
        return cfg

    return _make


def readable(cell: str) -> str:
    """A cell's name without its identity hash (``scratch-...-s0-tpe-3fa2c1`` -> ``...-tpe``)."""
    return cell.rsplit("-", 1)[0]


def cell_folder(bench: Path, name: str) -> Path:
    """The one folder in ``bench`` of the cell whose readable name is ``name``."""
    found = [p for p in bench.iterdir() if p.is_dir() and readable(p.name) == name]
    assert len(found) == 1, f"{name}: {sorted(p.name for p in bench.iterdir())}"
    return found[0]


def cli_env(cache_dir: Path) -> dict[str, str]:
    """Environment for CLI subprocesses: shared cache, no colour, no user conf."""
    env = {**os.environ, "TLSWEEP_CACHE": str(cache_dir), "NO_COLOR": "1"}
    env.pop("HYDRA_FULL_ERROR", None)
    env.pop("TLSWEEP_CONF", None)
    return env


def run_cli(
    *args: str, cwd: Path, cache_dir: Path, env: dict | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    """``tlsweep ARGS`` in a subprocess, in ``cwd``, with :func:`cli_env` (plus ``env``)."""
    return subprocess.run(
        [sys.executable, "-m", "tlsweep.cli", *args],
        cwd=cwd,
        env={**cli_env(cache_dir), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """A real MLflow tracking server on 127.0.0.1 (sqlite backend, proxied artifacts).

    Started once per session and stopped by PID; ``MLFLOW_TEST_SERVER`` reuses a running one.
    """
    import shutil
    import signal
    import subprocess
    import time
    import urllib.request

    if os.environ.get("MLFLOW_TEST_SERVER"):
        yield os.environ["MLFLOW_TEST_SERVER"]
        return
    root = tmp_path_factory.mktemp("mlflow")
    port = _free_port()
    mlflow = shutil.which("mlflow") or str(Path(os.sys.executable).parent / "mlflow")
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    log = (root / "server.log").open("w")
    proc = subprocess.Popen(
        [
            mlflow,
            "server",
            "--backend-store-uri",
            f"sqlite:///{root / 'mlflow.db'}",
            "--artifacts-destination",
            str(root / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{uri}/health", timeout=2)
            break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError((root / "server.log").read_text()) from None
            time.sleep(0.5)
    else:
        os.killpg(proc.pid, signal.SIGTERM)
        raise RuntimeError(
            "MLflow server did not become ready:\n" + (root / "server.log").read_text()
        )
    yield uri
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)
