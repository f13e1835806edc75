"""One cell of a benchmark: its studies in order, then its final reruns on test.

A cell is method × dataset × encoder × sample size × tuning. Its studies are the source-side
stage (only for ``hpo.stage=source_then_target``) and the target study; once the last is done,
its best configuration is rerun with each final seed (``final.seeds``, from
``final.first_seed``), each run judged once on the test split by the job itself, which leaves a
``metrics.json`` in ``<cell>/final/seed<k>/``. A seed with a good ``metrics.json`` is done, so
rerunning the command reruns only what is missing.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from hydra_plugins.tlsweep_sweeper._cells import cell_axes
from hydra_plugins.tlsweep_sweeper._outcome import outcome
from hydra_plugins.tlsweep_sweeper._study import CellStudy, Pending
from tlsweep.benchmark.jobs import JobInfo

log = logging.getLogger(__name__)
METRICS_FILE = "metrics.json"


class Cell:
    """One cell: its studies in order (source stage, then target), then its final reruns."""

    def __init__(self, name: str | None, config: DictConfig, folder: Path, subdir: str) -> None:
        self.name, self.config, self.folder, self.subdir = name, config, folder, subdir
        self.stages: list[CellStudy] = []
        self.started = 0
        self.is_tlsweep = cell_axes(config) is not None  # else a plain Hydra app's cell
        final = OmegaConf.select(config, "final", default=None) if self.is_tlsweep else None
        n_final = int(final.seeds) if final is not None else 0
        self.resample = bool(final.resample) if final is not None else False
        self.seeds = [int(final.first_seed) + k for k in range(n_final)] if n_final else []
        self.finals_running: set[int] = set()
        self.finals_failed: set[int] = set()
        self.finals_done = {s for s in self.seeds if _final_ok(self.final_dir(s))}

    def close(self) -> None:
        """Release the locks of this cell's studies."""
        for study in self.stages:
            study.close()

    def final_dir(self, seed: int) -> Path:
        return self.folder / "final" / f"seed{seed}"

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
        taken = self.finals_done | self.finals_running | self.finals_failed
        seed = next((s for s in self.seeds if s not in taken), None)
        if seed is None:
            return None
        target = self.stages[-1]
        best = target.best()
        if target.n_trials and best is None:
            return None  # nothing to rerun: every trial failed or was pruned
        overrides = [o for o in target.best_overrides() if _key(o) not in ("seed", "split.draw")]
        overrides.append(f"seed={seed}")
        if self.resample:
            overrides.append(f"split.draw={seed}")
        job = JobInfo(
            role="final",
            cell=self.name,
            study=target.study.study_name,
            storage=target.storage,
            trial=None if best is None else best.number,
        )
        self.finals_running.add(seed)
        subdir = f"{self.subdir}/final/seed{seed}"
        return Pending(overrides, subdir, job, seed=seed, owner=self)

    def settle_final(self, pending: Pending, result: Any) -> None:
        seed = pending.seed
        self.finals_running.discard(seed)
        out = outcome(result, 1)
        if out.state.name == "COMPLETE" and _final_ok(self.final_dir(seed)):
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
            "n_trials": target.n_trials,
            "stage1_trials": stage1.n_trials if stage1 else 0,
            "study_name": target.study.study_name,
            "storage": target.storage,
        }


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def _final_ok(folder: Path) -> bool:
    try:
        return json.loads((folder / METRICS_FILE).read_text()).get("status") == "ok"
    except (OSError, ValueError):
        return False
