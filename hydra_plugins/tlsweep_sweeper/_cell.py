"""One cell of a benchmark: its studies in order, then its final reruns on test.

A cell is method × dataset × encoder × sample size × tuning, under one configuration (its
identity, :mod:`tlsweep.benchmark.record`). Its studies are the source-side stage (only for
``hpo.stage=source_then_target``) and the target study; once the last is done, its best
configuration is rerun with each final seed (``final.seeds``, from ``final.first_seed``), each
run judged once on the test split by the job itself, which leaves a ``metrics.json`` in
``<cell>/final/seed<k>/`` recording the trial it reran and its overrides. A seed whose
``metrics.json`` is good and reran the current selection is done, so rerunning the command
reruns only what is missing; one that reran an earlier selection (more trials found a better
one) is moved to ``final/superseded/`` and run again for the new selection.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from hydra_plugins.tlsweep_sweeper._outcome import outcome
from hydra_plugins.tlsweep_sweeper._study import CellStudy, Pending
from tlsweep.benchmark import finals, layout
from tlsweep.benchmark.cells import cell_axes
from tlsweep.benchmark.jobs import JobInfo
from tlsweep.benchmark.record import cell_record

log = logging.getLogger(__name__)


class Cell:
    """One cell: its studies in order (source stage, then target), then its final reruns."""

    def __init__(self, name: str | None, config: DictConfig, folder: Path, subdir: str) -> None:
        self.name, self.config, self.folder, self.subdir = name, config, folder, subdir
        self.stages: list[CellStudy] = []
        self.started = 0
        self.is_tlsweep = cell_axes(config) is not None  # else a plain Hydra app's cell
        self.record = cell_record(name, config) if self.is_tlsweep and name else None
        final = OmegaConf.select(config, "final", default=None) if self.is_tlsweep else None
        n_final = int(final.seeds) if final is not None else 0
        self.resample = bool(final.resample) if final is not None else False
        self.seeds = [int(final.first_seed) + k for k in range(n_final)] if n_final else []
        self.finals_running: set[int] = set()
        self.finals_failed: set[int] = set()
        self.finals_done: set[int] = set()  # checked against the selection once it is known
        self._finals_checked = False
        # the labels and roles its method reads (plan_check.label_use_record), once validated
        self.label_use: dict[str, list[str]] | None = None

    def close(self) -> None:
        """Release the locks of this cell's studies."""
        for study in self.stages:
            study.close()

    def final_dir(self, seed: int) -> Path:
        return layout.final_dir(self.folder, seed)

    def next_job(self) -> Pending | None:
        """The next job this cell can start now, or None (waiting, or done)."""
        for number, study in enumerate(self.stages):
            if number > 0 and not study.fixed:  # the stage before is done: hand on its best
                study.fixed = self.stages[number - 1].best_param_overrides()
            if not study.finished():
                return study.ask() if study.wants_more() else None
        return self._next_final()

    def _next_final(self) -> Pending | None:
        if not self.stages or any(s.stopping for s in self.stages):
            return None
        target = self.stages[-1]
        best = target.best()
        if target.n_trials and best is None:
            return None  # nothing to rerun: every trial failed or was pruned
        trial = None if best is None else best.number
        if not self._finals_checked:
            self._check_finals(trial)
        taken = self.finals_done | self.finals_running | self.finals_failed
        seed = next((s for s in self.seeds if s not in taken), None)
        if seed is None:
            return None
        job = JobInfo(role="final", cell=self.name, study=target.study.study_name,
                      storage=target.storage, trial=trial)  # fmt: skip
        self.finals_running.add(seed)
        subdir = layout.final_subdir(self.subdir, seed)
        return Pending(self.final_overrides(seed), subdir, job, seed=seed, owner=self)

    def final_overrides(self, seed: int) -> list[str]:
        """Final seed ``seed``'s overrides: the selected configuration, the seed (and draw)."""
        return finals.final_overrides(self.stages[-1].best_overrides(), seed, self.resample)

    def _check_finals(self, trial: int | None) -> None:
        """Adopt the final seeds on disk that reran this selection; set the others aside."""
        self._finals_checked = True
        for seed in self.seeds:
            record = finals.final_record(self.final_dir(seed))
            if record is None or record.get("status") != "ok":
                continue  # missing or failed: run (again) in its folder
            if finals.counts(record, trial, self.final_overrides(seed)):
                self.finals_done.add(seed)
                continue
            moved = finals.set_aside(self.folder, seed, record.get("trial"))
            log.warning(
                f"{self.name}: final seed {seed} reran trial {record.get('trial')}, but the "
                f"selection is now trial {trial}: kept in {moved}, run again"
            )

    def settle_final(self, pending: Pending, result: Any) -> None:
        seed = pending.seed
        self.finals_running.discard(seed)
        out = outcome(result, 1)
        record = finals.final_record(self.final_dir(seed))
        if out.state.name == "COMPLETE" and record and record.get("status") == "ok":
            self.finals_done.add(seed)
        else:
            self.finals_failed.add(seed)
            log.warning(f"{self.name}: final seed {seed} failed: {out.error} (log: {out.log})")

    def summary(self) -> dict[str, Any]:
        """This cell's entry in ``benchmark.yaml``."""
        stage1 = self.stages[0] if len(self.stages) > 1 else None
        target = self.stages[-1]
        return {
            "name": self.name,
            "dir": self.subdir,
            **(cell_axes(self.config) or {}),
            "n_train": int(self.config.sample_size.n_train),
            "config_hash": self.record["config_hash"] if self.record else None,
            "variant": self.record["variant"] if self.record else "",
            "n_trials": target.n_trials,
            "stage1_trials": stage1.n_trials if stage1 else 0,
            "budget": str(OmegaConf.select(self.config, "hpo.budget", default="additional")),
            # random start-up trials of each study's sampler (null: no start-up phase)
            "startup_trials": target.startup,
            "stage1_startup_trials": stage1.startup if stage1 else None,
            "label_use": self.label_use,
            "study_name": target.study.study_name,
            "storage": target.storage,
        }
