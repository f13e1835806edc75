"""Shared fixtures: a session cache with the smoke cohort, config composition, markers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
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
            )
        with open_dict(cfg):
            pass
        return cfg

    return _make


def cli_env(cache_dir: Path) -> dict[str, str]:
    """Environment for CLI subprocesses: shared cache, no colour, no user conf."""
    env = {**os.environ, "TLSWEEP_CACHE": str(cache_dir), "NO_COLOR": "1"}
    env.pop("HYDRA_FULL_ERROR", None)
    env.pop("TLSWEEP_CONF", None)
    return env
