"""One Optuna study of a benchmark: open or resume it, ask trials, tell their outcomes.

A :class:`CellStudy` is one cell's tuning (or the source-side stage of a two-stage cell). It
owns the study and its search space; the :mod:`._benchmark` driver decides when to ask it for a
trial and hands every result back to :meth:`CellStudy.settle`. A study lives in ``storage``
(default: a journal file in the cell's folder) under the cell's name, so rerunning a command
resumes it: trials left RUNNING by a dead sweeper are told FAIL (marked interrupted, re-queued
per ``retry_failed``) and the study asks until ``n_trials`` trials are COMPLETE or PRUNED. A
failed trial is retried per ``retry_failed``; a configuration that failed for good counts once
against ``max_failure_rate`` (see ``_outcome.final_failures``), and a study also ends, without
stopping the sweep, once ``n_trials`` configurations failed (all failures tolerated). While a
sweeper runs a study it holds the study's lock (:mod:`._lock`): a second one is refused.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf
from optuna.samplers import GridSampler
from optuna.trial import FrozenTrial, TrialState

from hydra_plugins.tlsweep_sweeper import _grid
from hydra_plugins.tlsweep_sweeper._custom import custom_overrides
from hydra_plugins.tlsweep_sweeper._lock import StudyLock, claim
from hydra_plugins.tlsweep_sweeper._outcome import (
    ATTEMPT_ATTR,
    INTERRUPTED_ATTR,
    RETRY_OF_ATTR,
    Outcome,
    final_failures,
    outcome,
)
from hydra_plugins.tlsweep_sweeper._outputs import LOG_ATTR, write_outputs
from hydra_plugins.tlsweep_sweeper._progress import study_label
from hydra_plugins.tlsweep_sweeper._settings import (
    SweeperConfigError,
    as_list,
    check_settings,
)
from hydra_plugins.tlsweep_sweeper._space import (
    build_space,
    format_value,
    grid_values,
    param_lines,
)
from hydra_plugins.tlsweep_sweeper.storage import PRUNER_ATTR, open_storage, storage_spec
from tlsweep.benchmark.cells import startup_trials
from tlsweep.benchmark.jobs import JobInfo
from tlsweep.errors import explain

log = logging.getLogger(__name__)

ERROR_ATTR, STEP_ATTR = "tlsweep:error", "tlsweep:step"
STARTUP_ATTR = "tlsweep:n_startup_trials"  # the start-up in effect for the latest session
DONE = (TrialState.COMPLETE, TrialState.PRUNED)


@dataclass
class Pending:
    """A job that was handed to the launcher: a trial of a study, or a final-seed rerun.

    ``overrides`` are the job's config overrides; ``job`` is what it is told through its
    environment (the driver adds the slot and the machine share when it launches it).
    """

    overrides: list[str]
    subdir: str
    job: JobInfo
    study: CellStudy | None = None
    trial: optuna.Trial | None = None
    seed: int | None = None
    owner: Any = field(default=None, repr=False)
    index: int = 0


class CellStudy:
    """One study over one search space (see the module docstring).

    Args:
        settings: the sweeper's settings for this cell (``TlsweepSweeperConf`` fields).
        config: the cell's composed config (used to check each trial composes).
        compose: overrides -> composed config (Hydra's ``load_sweep_config`` for this run).
        arguments: the command-line sweep overrides of this cell (sweeps and fixed values).
        folder: the study's folder (journal, outputs, trial job dirs below it).
        subdir: ``folder`` relative to the sweep dir, the prefix of the trials' job dirs.
        study_name: the study's name in its storage.
        space_defaults: the lowest-priority search space (e.g. the method's declared one).
        cell: the cell's readable name, passed to its jobs (None outside tlsweep).
        role: the :class:`JobInfo` role of its trials (``trial`` or ``source``).
        directions: one ``minimize``/``maximize`` per objective (default: the settings').
        n_trials: the budget (default: the settings').

    Attributes:
        fixed: overrides every trial gets after ``arguments`` (e.g. stage 1's best).
        startup: the sampler's random start-up trials (``n_startup_trials``, fitted to
            ``n_trials`` when null), or None for a sampler without a start-up phase.
    """

    def __init__(
        self,
        settings: DictConfig,
        config: DictConfig,
        compose: Callable[[list[str]], Any],
        arguments: list[str],
        folder: Path,
        subdir: str,
        study_name: str,
        space_defaults: dict[str, Any] | None,
        cell: str | None = None,
        role: str = "trial",
        directions: list[str] | None = None,
        n_trials: int | None = None,
    ) -> None:
        check_settings(settings)
        self.s, self.config, self.compose = settings, config, compose
        self.folder, self.subdir, self.cell, self.role = folder, subdir, cell, role
        self.directions = directions or as_list(settings.direction)
        self.space = build_space(
            param_lines(space_defaults), param_lines(settings.params), arguments
        )
        self.storage = storage_spec(settings.storage, folder)
        self.fixed: list[str] = []
        self.running, self.step, self.stopping = 0, 0, False
        self.n_trials = settings.n_trials if n_trials is None else n_trials
        self.startup = startup_trials(_container(settings.sampler), self.n_trials)
        # before the study is touched: a second sweeper would FAIL the first one's trials
        self.lock: StudyLock | None = claim(folder, study_name)
        try:
            self.study = self._open(study_name)
            self.grid = _grid_points(self.study, self.space, settings.grid_points)
            self.target = min(self.n_trials, len(self.grid)) if self.grid else self.n_trials
            self._recover_interrupted()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Release the study's lock (once; the study stays readable)."""
        if self.lock is not None:
            self.lock, lock = None, self.lock
            lock.release()

    # ---- study ----

    def _open(self, name: str) -> optuna.Study:
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
        if self.startup is not None:
            study.set_user_attr(STARTUP_ATTR, self.startup)
        study.set_user_attr(PRUNER_ATTR, _container(self.s.pruner))
        objective = OmegaConf.select(self.config, "objective", default=None)
        if self.role == "source":
            objective = OmegaConf.select(self.config, "hpo.source_objective", default=None)
        if isinstance(objective, str) and len(self.directions) == 1:
            with warnings.catch_warnings():  # experimental in Optuna 4, and stable in use
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                study.set_metric_names([objective])  # optuna-dashboard: not "Objective 0"
        return study

    def _build_sampler(self, n_old: int) -> optuna.samplers.BaseSampler:
        cfg = _container(self.s.sampler) or {}
        cfg.setdefault("_target_", "optuna.samplers.TPESampler")
        if self.startup is not None:
            cfg["n_startup_trials"] = self.startup  # null: fitted to this study's n_trials
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

    # ---- asking and telling ----

    def wants_more(self) -> bool:
        """Whether another trial should be asked now: fewer than ``n_trials`` are done or could
        have failed for good, so a study tolerating every failure (``max_failure_rate=1``) ends.
        """
        done_or_failed = max(self.n_done(), len(self.failed()))
        return not self.stopping and done_or_failed + self.running < self.target

    def finished(self) -> bool:
        """Whether the study has nothing running and needs nothing more."""
        return self.running == 0 and not self.wants_more()

    def ask(self) -> Pending | None:
        """Ask one trial and build its job's overrides, or None when a grid is exhausted."""
        if self.grid:
            point = _grid.next_point(self.grid, self.study.get_trials(), self.s.retry_failed)
            if point is None:
                self.target = self.n_done() + self.running  # nothing left to offer
                return None
            self.study.enqueue_trial(point)
        trial = self.study.ask(self.space.distributions)
        extra = custom_overrides(self.s.custom_search_space, self.config, trial, self.space)
        overrides = self.space.overrides(trial.params) + self.fixed + extra
        try:
            self.compose(overrides)
        except Exception as e:
            self.study.tell(trial, state=TrialState.FAIL)
            why = explain(e) or " ".join(str(e).split())  # one line, "did you mean" for a key
            raise SweeperConfigError(f"trial {trial.number} does not compose: {why}") from e
        # a retried trial runs in its predecessor's folder, so it resumes from its checkpoint
        folder = trial.user_attrs.get(RETRY_OF_ATTR, trial.number)
        subdir = f"{self.subdir}/{folder}" if self.subdir else str(folder)
        job = JobInfo(
            role=self.role,
            cell=self.cell,
            study=self.study.study_name,
            storage=self.storage,
            trial=trial.number,
        )
        self.running += 1
        return Pending(overrides, subdir, job, study=self, trial=trial)

    def settle(self, pending: Pending, result: Any) -> Outcome:
        """Tell the study how ``pending``'s job ended (a ``JobReturn`` or an exception)."""
        self.running -= 1
        trial, out = pending.trial, outcome(result, len(self.directions))
        assert trial is not None
        storage = self.study._storage
        if storage.get_trial(trial._trial_id).state.is_finished():
            log.debug(f"trial {trial.number} was already told by its job")
        else:
            _tell(self.study, trial, out)
            if out.state == TrialState.FAIL:
                log.warning(f"trial {trial.number} failed: {out.error} (log: {out.log})")
                self._maybe_retry(storage.get_trial(trial._trial_id))
        failed = len(self.failed())
        if failed > self.s.max_failure_rate * max(self.target, 1):
            self.stopping = True
        elif failed and failed >= self.target:  # only max_failure_rate=1 tolerates this many
            log.warning(f"{failed} configurations failed, n_trials={self.target}: no more asked")
        return out

    def _maybe_retry(self, frozen: FrozenTrial) -> None:
        attempt = frozen.user_attrs.get(ATTEMPT_ATTR, 0)
        if self.grid or attempt >= self.s.retry_failed or not frozen.params:
            return  # a grid re-offers failed points itself (see _grid)
        root = frozen.user_attrs.get(RETRY_OF_ATTR, frozen.number)
        attrs = {RETRY_OF_ATTR: root, ATTEMPT_ATTR: attempt + 1}
        self.study.enqueue_trial(frozen.params, user_attrs=attrs)

    # ---- bookkeeping ----

    def n_done(self) -> int:
        return len(self.study.get_trials(deepcopy=False, states=DONE))

    def n_complete(self) -> int:
        return len(self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))

    def failed(self) -> list[FrozenTrial]:
        """The last attempt of each configuration that failed for good (see ``final_failures``)."""
        trials = self.study.get_trials(deepcopy=False)
        return final_failures(trials, bool(self.grid), self.s.retry_failed)

    def best(self) -> FrozenTrial | None:
        """The best COMPLETE trial (single objective), or None."""
        if len(self.directions) != 1 or not self.n_complete():
            return None
        return self.study.best_trial

    def best_overrides(self) -> list[str]:
        """The selected configuration as overrides: the fixed ones plus the best params."""
        best = self.best()
        return self._ov({} if best is None else best.params)

    def best_param_overrides(self) -> list[str]:
        """The best trial's sampled params alone, as overrides (stage 1's gift to stage 2)."""
        best = self.best()
        params = {} if best is None else best.params
        return [f"{self.space.keys.get(k, k)}={format_value(v)}" for k, v in params.items()]

    def best_label(self, objective: str) -> str | None:
        """E.g. ``"best val/mae=4.21 (trial 5)"``, or the size of the Pareto front."""
        return study_label(self.study, objective)

    def write_outputs(self, command: Callable[[list[str]], str]) -> None:
        write_outputs(self.study, self.folder, self.storage, lambda p: command(self._ov(p)))

    def _ov(self, params: dict[str, Any]) -> list[str]:
        return self.space.overrides(params) + self.fixed

    def abort_message(self) -> str | None:
        """Why this study stopped early, or None."""
        if not self.stopping:
            return None
        listed = "; ".join(
            f"#{t.number} {t.user_attrs.get(ERROR_ATTR, '')} (log: {t.user_attrs.get(LOG_ATTR)})"
            for t in self.failed()
        )
        where = f"{self.cell}: " if self.cell else ""
        return (
            f"{where}{len(self.failed())} failed trials exceed "
            f"max_failure_rate={self.s.max_failure_rate} of n_trials={self.target} "
            f"({self.n_done()} done). Failed trials: {listed}"
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
