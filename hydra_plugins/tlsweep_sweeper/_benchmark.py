"""A benchmark: every cell tuned with the same budget on validation, then judged once on test.

``tlsweep -m hpo=tpe method=scratch,simclr sample_size=n25,n100`` is four cells. Each cell gets
a readable name (``simclr-tiny3d-synthetic_brain-n25-s0-tpe``), a folder of that name under the
sweep dir, and a study of that name (a user's ``study_name`` becomes a prefix). All cells share
the ``n_jobs`` slots: the driver asks the cell with the fewest jobs started, so a cluster never
idles at one cell's tail, and every cell still gets exactly ``n_trials``. When a cell's study is
done, its best configuration is rerun with ``final.seeds`` seeds (the same seeds for every cell,
so methods compare paired), each judged once on the test split. A two-stage cell
(``hpo.stage=source_then_target``) first tunes its pretraining on a source-side objective, then
its fine-tuning with that stage's best fixed; ``hpo.budget`` says whether stage 1's trials come
on top of ``n_trials`` or out of it (:func:`tlsweep.benchmark.cells.stage_budget`). Rerunning
the command resumes every study and skips finished final seeds. The folder layout is
:mod:`tlsweep.benchmark.layout`.
"""

from __future__ import annotations

import dataclasses
import heapq
import logging
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from hydra_plugins.tlsweep_sweeper import _schedule
from hydra_plugins.tlsweep_sweeper._cell import Cell
from hydra_plugins.tlsweep_sweeper._progress import Progress
from hydra_plugins.tlsweep_sweeper._settings import (
    SweeperConfigError,
    default_study_name,
    objective_name,
    sampler_label,
)
from hydra_plugins.tlsweep_sweeper._study import STEP_ATTR, CellStudy, Pending
from hydra_plugins.tlsweep_sweeper.storage import storage_spec
from tlsweep.benchmark import layout, spec
from tlsweep.benchmark.cells import stage, stage_budget
from tlsweep.benchmark.record import check_study, claim_folder

log = logging.getLogger(__name__)


class Benchmark:
    """Runs all cells of one multirun through one launcher (see the module docstring).

    Args:
        launcher: the Hydra launcher (shared by all cells).
        master: the multirun's primary config.
        compose: overrides -> a composed job config (Hydra's ``load_sweep_config``).
        n_jobs: jobs in flight at once.
        schedule: ``batch`` or ``async``.
        trials_per_gpu: jobs that share one GPU (each job's slot picks its GPU).
    """

    def __init__(
        self,
        launcher: Any,
        master: DictConfig,
        compose: Callable[[list[str]], Any],
        n_jobs: int,
        schedule: str,
        trials_per_gpu: int = 1,
    ) -> None:
        self.launcher, self.master, self.compose = launcher, master, compose
        self.n_jobs, self.schedule, self.trials_per_gpu = n_jobs, schedule, trials_per_gpu
        self.free_slots = list(range(n_jobs))  # a heap: the lowest free slot goes first
        self.sweep_dir = Path(str(master.hydra.sweep.dir))
        self.cells: list[Cell] = []
        self.n_launched = 0
        # jobs sharing this machine's CPUs: local launchers run n_jobs at once on it, while
        # each SLURM job has its own allocation
        self.parallel_jobs = n_jobs if _is_local(launcher) else 1

    def add_cell(
        self, name: str | None, config: DictConfig, settings: DictConfig, arguments: list[str]
    ) -> Cell:
        """Add one cell and open (or resume) its studies."""
        subdir = name or ""
        folder = self.sweep_dir / subdir if name else self.sweep_dir
        cell = Cell(name, config, folder, subdir)
        if name is None:
            study_name = settings.study_name or default_study_name(config)
        else:
            study_name = f"{settings.study_name}-{name}" if settings.study_name else name
        if cell.record is not None:
            storage_spec(
                settings.storage, folder
            )  # a storage that cannot be made: nothing written
            claim_folder(folder, cell.record)  # another configuration's folder is refused
        try:
            self._open_studies(cell, settings, study_name, arguments)
        except BaseException:
            cell.close()
            raise
        self.cells.append(cell)
        return cell

    def _open_studies(
        self, cell: Cell, settings: DictConfig, study_name: str, arguments: list[str]
    ) -> None:
        """Open (or resume) the cell's studies in order; each must record the cell's identity."""
        config, name, folder, subdir = cell.config, cell.name, cell.folder, cell.subdir
        mode = stage(config)
        own = dict(settings.search_space_defaults or {})
        pretrain = dict(OmegaConf.select(config, "method.pretrain_search_space", default={}) or {})
        if mode != "target_only" and not pretrain:
            log.info(f"{name}: the method has no pretraining to tune; hpo.stage={mode} ignored")
        common = {"config": config, "compose": self.compose, "arguments": arguments, "cell": name}
        # stage 1's trials, and whether they come out of n_trials (hpo.budget=shared)
        budget = stage_budget(config) if mode == "source_then_target" and pretrain else None
        if budget is not None:
            cell.stages.append(
                CellStudy(
                    settings,
                    folder=layout.stage1_dir(folder),
                    subdir=f"{subdir}/{layout.STAGE1_DIR}",
                    study_name=f"{study_name}-{layout.STAGE1_DIR}",
                    space_defaults=pretrain,
                    role="source",
                    directions=["minimize"],
                    n_trials=budget.stage1,
                    **common,
                )
            )
        if mode == "joint":
            own = {**pretrain, **own}
        cell.stages.append(
            CellStudy(
                settings,
                folder=folder,
                subdir=subdir,
                study_name=study_name,
                space_defaults=own,
                n_trials=None if budget is None else budget.stage2,
                **common,
            )
        )
        for study in cell.stages if cell.record is not None else []:
            where = f"{study.study.study_name!r} in {study.storage}"
            for key, value in check_study(study.study.user_attrs, cell.record, where).items():
                study.study.set_user_attr(key, value)

    def close(self) -> None:
        """Release every study's lock (``run`` does it; call it when ``run`` is never reached)."""
        for cell in self.cells:
            cell.close()

    def run(self) -> None:
        """Launch every cell's jobs until all studies and final seeds are done."""
        uri = str(OmegaConf.select(self.master, "tracking.uri", default=""))
        if "slurm" in type(self.launcher).__name__.lower() and uri.startswith("sqlite"):
            log.warning(
                f"tracking.uri={uri} on SLURM: sqlite on a network file system is unsafe with "
                "jobs on several nodes; use an MLflow server (tracking.uri=http://host:5000)"
            )
        if any(c.is_tlsweep for c in self.cells):
            self._write_benchmark_yaml()
        first = self.cells[0].stages[-1]
        self.progress = Progress(
            sampler_label(first.study.sampler),
            sum(s.target for c in self.cells for s in c.stages),
            objective_name(self.master),
        )
        run = _schedule.run_async if self.schedule == "async" else _schedule.run_batches
        try:
            run(self._next_batch, self._launch, self._settle, self.n_jobs)
        finally:
            self.progress.close()
            for cell in self.cells:
                for study in cell.stages:
                    study.write_outputs(self._command)
            self.close()
        self._report()

    # ---- the loop ----

    def _next_batch(self, k: int) -> list[Pending]:
        batch: list[Pending] = []
        while len(batch) < k:
            grown = False
            for cell in sorted(self.cells, key=lambda c: c.started):
                if len(batch) >= k:
                    break
                job = cell.next_job()
                if job is not None:
                    job.index, self.n_launched = self.n_launched, self.n_launched + 1
                    job.job = dataclasses.replace(
                        job.job,
                        slot=heapq.heappop(self.free_slots),
                        trials_per_gpu=self.trials_per_gpu,
                        parallel_jobs=self.parallel_jobs,
                    )
                    batch.append(job)
                    cell.started += 1
                    grown = True
            if not grown:
                break
        if batch and self.schedule == "batch":
            studies = {id(p.study): p.study for p in batch if p.study is not None}
            for study in studies.values():
                study.step += 1
            for p in batch:
                if p.trial is not None:
                    p.trial.set_user_attr(STEP_ATTR, p.study.step)
        self._show()
        return batch

    def _launch(self, batch: list[Pending]) -> list[Any]:
        """Launch ``batch``; one result (a ``JobReturn`` or an exception) per job.

        A submitit launcher raises for its whole batch when one job dies (e.g. ``scancel``),
        which would fail its siblings while they still run; it can launch from threads, so each
        job of a batch gets its own call there, and only the dead job fails.
        """
        if len(batch) > 1 and _schedule.launcher_is_thread_safe(self.launcher):
            with ThreadPoolExecutor(len(batch), thread_name_prefix="tlsweep-job") as pool:
                return [r[0] for r in pool.map(lambda p: self._launch([p]), batch)]
        jobs = [launch_overrides(p) for p in batch]
        try:
            return list(self.launcher.launch(jobs, initial_job_idx=batch[0].index))
        except Exception as e:  # the job died or the cluster refused it
            return [e] * len(batch)

    def _settle(self, pending: Pending, result: Any) -> None:
        if pending.job.slot is not None:
            heapq.heappush(self.free_slots, pending.job.slot)
        if pending.study is not None:
            pending.study.settle(pending, result)
        else:
            pending.owner.settle_final(pending, result)
        self._show()

    # ---- reporting ----

    def _show(self) -> None:
        studies = [s for c in self.cells for s in c.stages]
        done = sum(s.n_done() for s in studies)
        running = sum(s.running for s in studies) + sum(len(c.finals_running) for c in self.cells)
        failed = sum(len(s.failed()) for s in studies)
        best = studies[0].best_label(self.progress.objective) if len(studies) == 1 else None
        seeds = sum(len(c.seeds) for c in self.cells)
        finals = sum(len(c.finals_done) for c in self.cells)
        extra = f"final seeds {finals}/{seeds}" if seeds else None
        self.progress.update(done, running, failed, best, extra)

    def _command(self, overrides: list[str]) -> str:
        from hydra_plugins.tlsweep_sweeper._outputs import shell_command

        argv0 = sys.argv[0] if sys.argv and sys.argv[0] else "python"
        program = f"python {argv0}" if argv0.endswith(".py") else Path(argv0).name
        return shell_command(program, overrides)

    def _write_benchmark_yaml(self) -> None:
        """Record this command and its cells in the benchmark's spec (:mod:`..spec`)."""
        final = OmegaConf.select(self.cells[0].config, "final", default=None)
        # the whole command line, so the spec's commands rerun as they ran (-m, the sweep dir)
        given = [o for o in self.master.hydra.overrides.hydra if not o.startswith("hydra.mode=")]
        spec.record_command(
            self.sweep_dir,
            self._command(["-m", *given, *self.master.hydra.overrides.task]),
            [c.summary() for c in self.cells if c.is_tlsweep],
            objective=objective_name(self.master),
            direction=str(OmegaConf.select(self.master, "direction", default="minimize")),
            final=OmegaConf.to_container(final) if final is not None else None,
        )

    def _report(self) -> None:
        aborted = [m for c in self.cells for s in c.stages if (m := s.abort_message())]
        if any(c.is_tlsweep and c.seeds for c in self.cells):
            tracked = OmegaConf.select(self.master, "tracking.enabled", default=False)
            spec.publish(self.sweep_dir, mlflow=bool(tracked))
        elif any(c.is_tlsweep for c in self.cells):
            log.info("final.seeds=0: no cell was judged on test, so there is no report")
        if aborted:
            raise SweepAbortedError(
                "Sweep stopped: "
                + " | ".join(aborted)
                + ". Raise hydra.sweeper.max_failure_rate to tolerate more; rerunning the same "
                "command resumes the studies."
            )
        studies = [s for c in self.cells for s in c.stages]
        done, target = sum(s.n_done() for s in studies), sum(s.target for s in studies)
        if done < target:
            log.warning(f"the grid is exhausted with {done}/{target} trials done")
        log.info(f"{done} trials done; results in {self.sweep_dir}")


def launch_overrides(pending: Pending) -> list[str]:
    """Everything a launched job gets: its config overrides, its environment and its folder."""
    return [*pending.overrides, *pending.job.overrides(), f"hydra.sweep.subdir={pending.subdir}"]


class SweepAbortedError(SweeperConfigError):
    """Too many trials failed: a study stopped early."""


def _is_local(launcher: Any) -> bool:
    """Whether the launcher runs several jobs at once on this machine, sharing its CPUs.

    Hydra's basic launcher runs them one after another; on SLURM each job has its allocation.
    """
    return type(launcher).__name__ in ("LocalLauncher", "JoblibLauncher")
