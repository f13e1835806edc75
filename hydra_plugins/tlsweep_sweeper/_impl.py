"""The Optuna side of the tlsweep sweeper: study, ask, launch through Hydra, tell, outputs.

One driver runs a study with ask/tell. Each trial becomes a Hydra job whose overrides are the
sampled params plus ``++trial.number/study_name/storage``, so the job can open the same storage
to report intermediate values and be pruned (``tlsweep.hpo.pruning.TrialReporter``). The study
lives in ``storage`` (default: a journal file in the sweep dir) under a name derived from the
command line, so rerunning a command resumes it: trials left RUNNING by a dead sweeper are told
FAIL (marked interrupted, re-queued per ``retry_failed``) and the sweep asks until ``n_trials``
trials are COMPLETE or PRUNED. One sweeper per study at a time.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from hydra.core.plugins import Plugins
from hydra.errors import CompactHydraException
from hydra.types import HydraContext, TaskFunction
from hydra.utils import get_class, get_method, instantiate
from omegaconf import DictConfig, OmegaConf
from optuna.samplers import GridSampler
from optuna.trial import TrialState

from hydra_plugins.tlsweep_sweeper import _grid, _schedule
from hydra_plugins.tlsweep_sweeper._outcome import Outcome, outcome
from hydra_plugins.tlsweep_sweeper._outputs import LOG_ATTR, shell_command, write_outputs
from hydra_plugins.tlsweep_sweeper._progress import Progress
from hydra_plugins.tlsweep_sweeper._settings import (
    SweeperConfigError,
    as_list,
    check_settings,
    default_study_name,
    objective_name,
    param_lines,
    sampler_label,
)
from hydra_plugins.tlsweep_sweeper._space import build_space, format_value, grid_values
from hydra_plugins.tlsweep_sweeper._storage import PRUNER_ATTR, open_storage, storage_spec

log = logging.getLogger(__name__)

ERROR_ATTR, INTERRUPTED_ATTR = "tlsweep:error", "tlsweep:interrupted"
RETRY_OF_ATTR, ATTEMPT_ATTR, STEP_ATTR = "tlsweep:retry_of", "tlsweep:attempt", "tlsweep:step"
DONE = (TrialState.COMPLETE, TrialState.PRUNED)


class SweepAbortedError(CompactHydraException):
    """Too many trials failed: the sweep stopped early."""


@dataclass
class Pending:
    """A trial that was asked and handed to the launcher."""

    trial: optuna.Trial
    overrides: list[str]


class SweepDriver:
    """Runs one study for :class:`TlsweepSweeper` (settings as in ``TlsweepSweeperConf``)."""

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
        self.directions = as_list(settings.direction)
        self.schedule = settings.schedule
        if self.schedule == "async" and not _schedule.launcher_is_thread_safe(self.launcher):
            log.warning(
                "schedule=async needs a launcher that can run jobs from several threads "
                f"(submitit_local, submitit_slurm); {type(self.launcher).__name__} cannot, "
                "so this sweep runs in batches"
            )
            self.schedule = "batch"
        optuna.logging.set_verbosity(optuna.logging.WARNING)

    def sweep(self, arguments: list[str]) -> optuna.Study:
        """Run the study until ``n_trials`` trials are done; see the module docstring."""
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        self.space = build_space(
            param_lines(self.s.search_space_defaults), param_lines(self.s.params), arguments
        )
        self.storage = storage_spec(self.s.storage, sweep_dir)
        study = self._open_study()
        self.study = study
        self.grid = _grid_points(study, self.space, self.s.grid_points)
        self.target = min(self.s.n_trials, len(self.grid)) if self.grid else self.s.n_trials
        self._recover_interrupted()
        self.running, self.step, self.stopping = 0, 0, False
        self.progress = Progress(
            sampler_label(study.sampler), self.target, objective_name(self.config)
        )
        run = _schedule.run_async if self.schedule == "async" else _schedule.run_batches
        try:
            run(self._next_batch, self._launch, self._settle, self.s.n_jobs)
        finally:
            self.progress.close()
            write_outputs(study, sweep_dir, self.storage, self._command)
        self._report_end()
        return study

    # ---- study ----

    def _open_study(self) -> optuna.Study:
        name = self.s.study_name or default_study_name(self.config)
        storage = open_storage(self.storage)
        pruner = _build(self.s.pruner) if self.s.pruner else optuna.pruners.NopPruner()
        if len(self.directions) > 1 and not isinstance(pruner, optuna.pruners.NopPruner):
            raise SweeperConfigError("pruning needs one objective; set hydra.sweeper.pruner=null")
        try:
            study = optuna.create_study(
                storage=storage,
                study_name=name,
                directions=self.directions,
                pruner=pruner,
                load_if_exists=True,
            )
        except ValueError as e:
            raise SweeperConfigError(f"cannot open study {name!r} in {self.storage}: {e}") from e
        n_old = len(study.get_trials(deepcopy=False))
        if n_old:
            log.info(f"resuming study {name!r} ({n_old} trials) from {self.storage}")
        study.sampler = self._build_sampler(n_old)
        study.set_user_attr(PRUNER_ATTR, _container(self.s.pruner))
        return study

    def _build_sampler(self, n_old: int) -> optuna.samplers.BaseSampler:
        cfg = _container(self.s.sampler) or {}
        cfg.setdefault("_target_", "optuna.samplers.TPESampler")
        if cfg.get("seed") is not None:
            # a resumed study must not replay the first session's random draws
            cfg["seed"] = int(cfg["seed"]) + n_old
        if issubclass(get_class(cfg["_target_"]), GridSampler):
            axes = {
                k: grid_values(d, self.s.grid_points) for k, d in self.space.distributions.items()
            }
            return _grid.AskTellGridSampler(axes, seed=cfg.get("seed"))
        return _build(cfg)

    def _recover_interrupted(self) -> None:
        storage = self.study._storage
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            log.warning(f"trial {t.number} was left running by an earlier sweep: FAIL, retried")
            storage.set_trial_user_attr(t._trial_id, INTERRUPTED_ATTR, True)
            self.study.tell(t.number, state=TrialState.FAIL)
            self._maybe_retry(t)

    # ---- the loop ----

    def _next_batch(self, k: int) -> list[Pending]:
        batch: list[Pending] = []
        done = self._n_done()
        while len(batch) < k and not self.stopping and done + self.running < self.target:
            pending = self._ask()
            if pending is None:
                break
            batch.append(pending)
            self.running += 1
        if batch and self.schedule == "batch":
            self.step += 1
            for p in batch:
                p.trial.set_user_attr(STEP_ATTR, self.step)
        self._show()
        return batch

    def _ask(self) -> Pending | None:
        if self.grid:
            point = _grid.next_point(self.grid, self.study.get_trials(), self.s.retry_failed)
            if point is None:
                return None
            self.study.enqueue_trial(point)
        trial = self.study.ask(self.space.distributions)
        extra = _custom_overrides(self.s.custom_search_space, self.config, trial)
        overrides = self.space.overrides(trial.params) + extra + self._trial_overrides(trial)
        try:
            self.hydra_context.config_loader.load_sweep_config(self.config, overrides)
        except Exception as e:
            self.study.tell(trial, state=TrialState.FAIL)
            raise SweeperConfigError(f"trial {trial.number} does not compose: {e}") from e
        return Pending(trial, overrides)

    def _trial_overrides(self, trial: optuna.Trial) -> list[str]:
        return [
            f"++trial.number={trial.number}",
            f"++trial.study_name={format_value(self.study.study_name)}",
            f"++trial.storage={format_value(self.storage)}",
        ]

    def _launch(self, batch: list[Pending]) -> list[Any]:
        first = batch[0].trial.number
        numbers = [p.trial.number for p in batch]
        # job index = trial number, so job dirs match trial numbers across resumed sessions
        groups = (
            [batch] if numbers == list(range(first, first + len(batch))) else [[p] for p in batch]
        )
        results: list[Any] = []
        for group in groups:
            try:
                jobs = [p.overrides for p in group]
                results.extend(self.launcher.launch(jobs, initial_job_idx=group[0].trial.number))
            except Exception as e:  # the job died or the cluster refused it
                results.extend([e] * len(group))
        return results

    def _settle(self, pending: Pending, result: Any) -> None:
        self.running -= 1
        trial, out = pending.trial, outcome(result, len(self.directions))
        storage = self.study._storage
        if storage.get_trial(trial._trial_id).state.is_finished():
            log.debug(f"trial {trial.number} was already told by its job")
        else:
            _tell(self.study, trial, out)
            if out.state == TrialState.FAIL:
                log.warning(f"trial {trial.number} failed: {out.error} (log: {out.log})")
                self._maybe_retry(storage.get_trial(trial._trial_id))
        if len(self._failed()) > self.s.max_failure_rate * self.target:
            self.stopping = True
        self._show()

    def _maybe_retry(self, frozen: optuna.trial.FrozenTrial) -> None:
        attempt = frozen.user_attrs.get(ATTEMPT_ATTR, 0)
        if self.grid or attempt >= self.s.retry_failed or not frozen.params:
            return  # a grid re-offers failed points itself (see _grid)
        root = frozen.user_attrs.get(RETRY_OF_ATTR, frozen.number)
        attrs = {RETRY_OF_ATTR: root, ATTEMPT_ATTR: attempt + 1}
        self.study.enqueue_trial(frozen.params, user_attrs=attrs)

    # ---- bookkeeping and reporting ----

    def _n_done(self) -> int:
        return len(self.study.get_trials(deepcopy=False, states=DONE))

    def _failed(self) -> list[optuna.trial.FrozenTrial]:
        fails = self.study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
        return [t for t in fails if not t.user_attrs.get(INTERRUPTED_ATTR)]

    def _show(self) -> None:
        best = None
        if len(self.directions) == 1 and self._n_complete():
            b = self.study.best_trial
            best = f"{b.value:.4g} (trial {b.number})"
        elif self._n_complete():
            best = f"{len(self.study.best_trials)} on the Pareto front"
        self.progress.update(self._n_done(), self.running, len(self._failed()), best)

    def _n_complete(self) -> int:
        return len(self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))

    def _command(self, params: Mapping[str, Any]) -> str:
        argv0 = sys.argv[0] if sys.argv and sys.argv[0] else "python"
        program = f"python {argv0}" if argv0.endswith(".py") else Path(argv0).name
        return shell_command(program, self.space.overrides(params))

    def _report_end(self) -> None:
        failed = self._failed()
        done = self._n_done()
        if self.stopping:
            listed = "; ".join(
                f"#{t.number} {t.user_attrs.get(ERROR_ATTR, '')} "
                f"(log: {t.user_attrs.get(LOG_ATTR)})"
                for t in failed
            )
            raise SweepAbortedError(
                f"Sweep stopped: {len(failed)} failed trials exceed max_failure_rate="
                f"{self.s.max_failure_rate} of n_trials={self.target} ({done} done). "
                f"Failed trials: {listed}. Raise hydra.sweeper.max_failure_rate to tolerate more; "
                "rerunning the same command resumes the study."
            )
        if done < self.target:
            log.warning(f"the grid is exhausted with {done}/{self.target} trials done")
        log.info(
            f"{done} trials done, {len(failed)} failed; results in {self.config.hydra.sweep.dir}"
        )


def _tell(study: optuna.Study, trial: optuna.Trial, out: Outcome) -> None:
    if out.log:
        trial.set_user_attr(LOG_ATTR, out.log)
    if out.error:
        trial.set_user_attr(ERROR_ATTR, out.error)
    if out.state == TrialState.COMPLETE:
        study.tell(trial, out.values)
    else:
        study.tell(trial, state=out.state)


def _container(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node


def _build(cfg: Any) -> Any:
    return instantiate(cfg, _convert_="all")


def _grid_points(study: optuna.Study, space: Any, grid_points: int) -> list[dict[str, Any]]:
    if not isinstance(study.sampler, GridSampler):
        return []
    return space.grid(grid_points)


def _custom_overrides(path: str | None, config: DictConfig, trial: optuna.Trial) -> list[str]:
    if not path:
        return []
    extra = get_method(path)(config, trial) or {}
    return [f"{k}={format_value(v)}" for k, v in extra.items()]
