"""The Hydra-facing sweeper class: stores its settings and hands the work to ``_impl``.

Hydra imports every public module under ``hydra_plugins`` at start-up, so this one imports only
hydra, omegaconf and the stdlib; Optuna loads when a sweep is set up.
"""

from __future__ import annotations

import logging
from typing import Any

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

# registers the ConfigStore nodes
from hydra_plugins.tlsweep_sweeper import config as _config  # noqa: F401

log = logging.getLogger(__name__)


class TlsweepSweeper(Sweeper):
    """Hyperparameter search with Optuna over Hydra overrides.

    Args:
        **settings: the fields of ``TlsweepSweeperConf`` (``config.py``).
    """

    def __init__(self, **settings: Any) -> None:
        super().__init__()
        self.settings = OmegaConf.create(
            {
                k: OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v
                for k, v in settings.items()
            }
        )
        self._driver: Any = None

    def setup(
        self,
        *,
        hydra_context: HydraContext,
        task_function: TaskFunction,
        config: DictConfig,
    ) -> None:
        """Instantiate the launcher and the Optuna driver (see Hydra's ``Sweeper``)."""
        from hydra_plugins.tlsweep_sweeper._impl import SweepDriver

        self.hydra_context = hydra_context
        self.task_function = task_function
        self.config = config
        self._driver = SweepDriver(
            settings=self.settings,
            hydra_context=hydra_context,
            task_function=task_function,
            config=config,
        )
        self.launcher = self._driver.launcher

    def sweep(self, arguments: list[str]) -> Any:
        """Run the sweep over the command line's ``arguments`` (see ``_impl.SweepDriver``).

        Returns:
            The ``optuna.Study`` of a single study, or the list of the cells' studies.
        """
        return self._driver.sweep(arguments)
