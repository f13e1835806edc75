"""The Optuna side of the tlsweep sweeper: from the command line's overrides to a benchmark.

Comma lists over config groups (``method=a,b``) are cells (see ``_cells.py``), each with its own
study, budget, search space and folder, run together by :class:`._benchmark.Benchmark`.
``hydra.sweeper.cells=false`` keeps hydra-optuna-sweeper's meaning instead: one study in which
such a list is one categorical dimension. Outside tlsweep (an app without method, encoder and
dataset groups) a sweep is one study in the sweep dir itself, as with hydra-optuna-sweeper.
"""

from __future__ import annotations

import logging
from typing import Any

import optuna
from hydra.core.plugins import Plugins
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from hydra_plugins.tlsweep_sweeper import _schedule
from hydra_plugins.tlsweep_sweeper._benchmark import Benchmark
from hydra_plugins.tlsweep_sweeper._settings import check_settings
from tlsweep.benchmark.cells import (
    cell_config,
    cell_name,
    check_stage,
    check_untuned,
    split_cells,
    stage_budget,
    sweeper_settings,
)

log = logging.getLogger(__name__)


class SweepDriver:
    """Sets up the launcher and runs one multirun (settings as in ``TlsweepSweeperConf``)."""

    def __init__(
        self,
        settings: DictConfig,
        hydra_context: HydraContext,
        task_function: TaskFunction,
        config: DictConfig,
    ) -> None:
        self.s, self.config, self.hydra_context = settings, config, hydra_context
        check_settings(settings)
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )
        self.schedule = settings.schedule
        if self.schedule == "async" and not _schedule.launcher_is_thread_safe(self.launcher):
            log.warning(
                "schedule=async needs a launcher that can run jobs from several threads "
                f"(submitit_local, submitit_slurm); {type(self.launcher).__name__} cannot, "
                "so this sweep runs in batches"
            )
            self.schedule = "batch"
        optuna.logging.set_verbosity(optuna.logging.WARNING)

    def sweep(self, arguments: list[str]) -> Any:
        """Run every cell's study and final seeds; return the studies (one, or a list)."""
        loader = self.hydra_context.config_loader
        cells, rest = split_cells(arguments, loader) if self.s.cells else ([], arguments)
        bench = Benchmark(
            self.launcher,
            self.config,
            lambda overrides: loader.load_sweep_config(self.config, overrides),
            self.s.n_jobs,
            self.schedule,
            trials_per_gpu=self.s.trials_per_gpu,
        )
        bench.sweep_dir.mkdir(parents=True, exist_ok=True)
        try:
            for cell in cells or [[]]:
                config = cell_config(self.config, loader, rest, cell) if cell else self.config
                check_stage(config)
                check_untuned(config)
                stage_budget(config)  # a split that leaves a stage no trial: before any write
                settings = OmegaConf.create(sweeper_settings(config)) if cell else self.s
                name = cell_name(config) or _slug(cell)
                log.info("cell %s: %s", name or "-", " ".join(cell) or "(no cell axes)")
                bench.add_cell(name, config, settings, [*rest, *cell])  # takes the study locks
            _check_unique([c.name for c in bench.cells])
            self._validate(bench)
            # only once every study is ours: a refused second sweeper leaves the first's alone
            OmegaConf.save(self.config, bench.sweep_dir / "multirun.yaml")
            bench.run()
        finally:
            bench.close()
        studies = [s.study for c in bench.cells for s in c.stages]
        return studies[0] if len(studies) == 1 else studies

    def _validate(self, bench: Benchmark) -> None:
        """Build every tlsweep cell on tiny shapes before any job is queued; keep what each
        cell's method declares it reads (for ``benchmark.yaml``)."""
        named = {c.name: c.config for c in bench.cells if c.is_tlsweep}
        if not named:
            return
        try:
            from tlsweep.benchmark.plan import check_cells
        except ImportError:  # a Hydra app that uses the sweeper without tlsweep's trainer
            return
        try:
            result = check_cells(named, calibrate=None)
        except RuntimeError as e:  # the checker itself broke: say so, do not block the sweep
            log.warning(f"cells not validated before launching: {e}")
            return
        for cell in bench.cells:
            cell.label_use = result["info"].get(cell.name, {}).get("label_use")
        problems = result["problems"]
        if problems:
            from hydra_plugins.tlsweep_sweeper._settings import SweeperConfigError

            listed = "; ".join(f"{name}: {why}" for name, why in problems.items())
            raise SweeperConfigError(
                f"{len(problems)} cell(s) cannot run, nothing queued: {listed}"
            )


def _slug(cell: list[str]) -> str | None:
    """A folder name for a cell of an app that is not tlsweep: its options, e.g. ``toy``."""
    return "-".join(o.split("=", 1)[1] for o in cell) or None


def _check_unique(names: list[str | None]) -> None:
    seen = [n for n in names if n]
    twice = sorted({n for n in seen if seen.count(n) > 1})
    if twice:
        from hydra_plugins.tlsweep_sweeper._settings import SweeperConfigError

        raise SweeperConfigError(
            f"cells would share a name and folder: {', '.join(twice)}; the swept options compose "
            "to the same cell (e.g. debug=smoke sets every sample size to 'smoke')"
        )
