"""The ``tlsweep`` command: a thin ``@hydra.main`` around :func:`tlsweep.run.run`.

Start-up stays light (``tlsweep --help`` imports neither torch, MONAI nor MLflow): the run module
is imported inside the task function. Configuration mistakes come out as one line naming the key,
the value and the options, with exit status 2, instead of Hydra's multi-line report.
"""

from __future__ import annotations

import os

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from tlsweep.errors import explain, fail
from tlsweep.schemas import HYDRA_VERSION_BASE


@hydra.main(version_base=HYDRA_VERSION_BASE, config_path="conf", config_name="config")
def _app(cfg: DictConfig) -> float:
    from tlsweep.run import run

    try:
        return run(cfg)
    except Exception as exc:
        message = explain(exc)
        if message is None or HydraConfig.get().mode == RunMode.MULTIRUN:
            raise  # a sweeper records the trial as failed, with the error in its log
        fail(message)  # a single run: one line, before Hydra adds its own


SUBCOMMANDS = {
    "report": "tlsweep.report.cli",
    "plan": "tlsweep.benchmark.plan",
    "rerun": "tlsweep.benchmark.rerun",
}


def share_config_store() -> None:
    """Make deep copies of Hydra's ConfigStore singleton the singleton itself.

    Hydra deep-copies its config repository for every composition and every group listing, and
    with it the process-wide ConfigStore (every registered schema). ``--help`` lists ~100 groups,
    so it spent most of its time copying the store. The copy exists so that re-initialising the
    sources does not touch the original repository; the store is not modified by that, and it
    hands out deep copies of its nodes on every load, so sharing it is safe.
    """
    from hydra.core.config_store import ConfigStore

    ConfigStore.__deepcopy__ = lambda self, memo: self  # type: ignore[attr-defined]


def main() -> None:
    """Console-script entry point: ``tlsweep [overrides]``, ``tlsweep report|plan|rerun ARGS``."""
    import sys

    if len(sys.argv) > 1 and sys.argv[1] in SUBCOMMANDS:
        from importlib import import_module

        command = import_module(SUBCOMMANDS[sys.argv[1]])
        sys.exit(command.main(sys.argv[2:]))
    # Hydra prints composition errors across several lines and exits 1; with HYDRA_FULL_ERROR it
    # raises them instead, so they can be said in one line here. Unknown errors keep the traceback.
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")
    share_config_store()
    try:
        _app()
    except Exception as exc:
        message = explain(exc)
        if message is None:
            raise
        fail(message)


if __name__ == "__main__":
    main()
