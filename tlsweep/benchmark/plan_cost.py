"""Jobs and cost of each cell of a planned benchmark, and the lines ``tlsweep plan`` prints.

A cell's jobs are its trials (``hydra.sweeper.n_trials``, capped at the grid size for a grid; for
Hydra's basic sweeper one job per combination of the other comma lists), its final seeds
(``final.seeds``, default 5; the tlsweep sweeper only) and, for ``hpo.stage=source_then_target``
with a method that pretrains, its source-side trials, on top of ``n_trials`` or out of it
(``hpo.budget``, :func:`tlsweep.benchmark.cells.stage_budget`). Per cell it also says how many
trials each study's sampler draws at random before its model takes over, and warns when the
validation set is small (:func:`tlsweep.checks.small_validation`). The cost comes from earlier
runs when the benchmark folder already holds the cell's ``trials.csv`` (median trial duration),
else from the child's calibration: seconds per training step at the configured shape and batch
size, times steps per epoch and epochs (an upper bound: early stopping only shortens it), plus
the pretrainings (each final seed pretrains anew, since the seed is part of the cache key).
"""

from __future__ import annotations

import csv
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from tlsweep.benchmark.cells import BUDGET_MEANING, stage_budget, startup_trials
from tlsweep.checks import small_validation

STAGES = ("target_only", "joint", "source_then_target")
EVAL_FRACTION = 1 / 3  # an evaluation step costs about a third of a training step
VIEWS = 2  # a contrastive pretraining step sees two views per image (upper bound for others)


@dataclass
class CellPlan:
    """What one cell will queue: trials, final seeds, source-side trials, and earlier timings."""

    name: str
    trials: int
    seeds: int
    stage: str
    tlsweep_sweeper: bool
    grid: bool = False
    earlier: list[float] = field(default_factory=list)  # durations (s) of earlier trials
    stage1: int = 0
    note: str = ""
    budget: str = "additional"
    sampler: str = ""  # the Optuna class name, e.g. TPESampler
    startup: int | None = None  # random start-up trials of the target study's sampler
    stage1_startup: int | None = None
    fitted: bool = False  # n_startup_trials was null: fitted to the study's budget
    n_val: int | None = None

    @property
    def jobs(self) -> int:
        return self.trials + self.seeds + self.stage1


def plan_cell(name: str, config: DictConfig) -> CellPlan:
    """The jobs of one composed cell (``config`` with its ``hydra`` node)."""
    target = str(OmegaConf.select(config, "hydra.sweeper._target_", default=""))
    ours = target.endswith("TlsweepSweeper")
    if ours:
        trials = int(OmegaConf.select(config, "hydra.sweeper.n_trials", default=0))
        seeds = int(OmegaConf.select(config, "final.seeds", default=5))
    else:
        trials, seeds = _basic_jobs(config), 0
    sampler = str(OmegaConf.select(config, "hydra.sweeper.sampler._target_", default=""))
    n_val = OmegaConf.select(config, "sample_size.n_val", default=None)
    plan = CellPlan(
        name=name,
        trials=trials,
        seeds=seeds,
        stage=str(OmegaConf.select(config, "hpo.stage", default="target_only")),
        tlsweep_sweeper=ours,
        grid=sampler.endswith("GridSampler"),
        earlier=earlier_durations(config, name),
        n_val=None if n_val is None else int(n_val),
    )
    if ours:
        _stages(plan, config)
    return plan


def _stages(plan: CellPlan, config: DictConfig) -> None:
    """As the sweeper does: each study's trials and its sampler's random start-up."""
    budget = stage_budget(config)
    plan.trials, plan.stage1, plan.budget = budget.stage2, budget.stage1, budget.budget
    pretrains = OmegaConf.select(config, "method.pretrain_search_space", default=None)
    if plan.stage != "target_only" and not pretrains:
        plan.note = f"hpo.stage={plan.stage} ignored: the method has no pretraining to tune"
    node = OmegaConf.select(config, "hydra.sweeper.sampler", default=None)
    sampler = OmegaConf.to_container(node, resolve=True) if node is not None else {}
    plan.sampler = str(sampler.get("_target_", "")).rpartition(".")[2]
    plan.fitted = "n_startup_trials" in sampler and sampler["n_startup_trials"] is None
    plan.startup = startup_trials(sampler, plan.trials)
    plan.stage1_startup = startup_trials(sampler, plan.stage1) if plan.stage1 else None


def _basic_jobs(config: DictConfig) -> int:
    """Hydra's basic sweeper: one job per combination of the cell's other comma lists."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    task = OmegaConf.select(config, "hydra.overrides.task", default=[]) or []
    jobs = 1
    for override in OverridesParser.create().parse_overrides(list(task)):
        if override.is_sweep_override():
            jobs *= len(list(override.sweep_string_iterator()))
    return jobs


def earlier_durations(config: DictConfig, name: str) -> list[float]:
    """Durations of the finished trials of this cell found under ``hydra.sweep.dir``."""
    try:
        sweep_dir = Path(str(OmegaConf.select(config, "hydra.sweep.dir")))
    except Exception:  # noqa: BLE001 - an unresolvable folder has no earlier runs
        return []
    for path in (sweep_dir / name / "trials.csv", sweep_dir / "trials.csv"):
        if path.is_file() and path.parent.name == name:  # the cell's own folder
            return _durations(path)
    return []


def _durations(path: Path) -> list[float]:
    with path.open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    return [
        float(row["duration_s"])
        for row in rows
        if row.get("state") in ("COMPLETE", "PRUNED") and row.get("duration_s")
    ]


def finish(plan: CellPlan, info: dict[str, Any]) -> None:
    """Apply what the child found: a grid has at most as many trials as points."""
    if plan.grid and info.get("grid_size"):
        plan.trials = min(plan.trials, int(info["grid_size"]))


def calibrated_seconds(plan: CellPlan, config: DictConfig, info: dict[str, Any]) -> float | None:
    """Seconds of the whole cell from a step time, without early stopping (an upper bound)."""
    step = info.get("step_s")
    if step is None:
        return None
    batch = int(config.train.batch_size)
    n_train, n_val = int(config.sample_size.n_train), int(config.sample_size.n_val)
    epoch = (math.ceil(n_train / batch) + EVAL_FRACTION * math.ceil(n_val / batch)) * step
    total = (plan.trials + plan.seeds) * int(config.train.epochs) * epoch
    if info.get("pretrains"):
        total += _pretrainings(plan) * _pretrain_seconds(config, info, step / batch)
    return total


def _pretrainings(plan: CellPlan) -> int:
    """Trials share one cached pretraining unless they tune it; each final seed pretrains."""
    tuned = {"target_only": 1 if plan.trials else 0, "joint": plan.trials}
    return tuned.get(plan.stage, plan.stage1 + 1) + plan.seeds


def _pretrain_seconds(config: DictConfig, info: dict[str, Any], per_image: float) -> float:
    n_source = info.get("n_source")
    if n_source is None and info.get("n_subjects"):
        n_source = round(float(config.split.source_fraction) * int(info["n_subjects"]))
    if not n_source:
        return 0.0
    epochs = int(OmegaConf.select(config, "pretrain.epochs", default=0))
    return epochs * n_source * VIEWS * per_image * (1 + EVAL_FRACTION)


def cost_lines(
    plans: list[CellPlan], configs: dict[str, DictConfig], result: dict[str, Any]
) -> list[str]:
    """What ``tlsweep plan`` prints: one row per cell, the totals and the cost, then per cell
    how its trials are drawn and any warning."""
    device = "GPU" if result.get("device") == "cuda" else "CPU"
    rows, seconds, bases = [], 0.0, set()
    for plan in plans:
        info = result["info"].get(plan.name, {})
        finish(plan, info)
        cell_s, basis = _cell_cost(plan, configs[plan.name], info)
        seconds += cell_s or 0.0
        bases.add(basis)
        hours = f"{cell_s / 3600:.2f}" if cell_s is not None else "?"
        counts = (plan.trials, plan.stage1, plan.trials + plan.stage1, plan.seeds, plan.jobs)
        rows.append((plan.name, counts, hours, basis))
    width = max([len(r[0]) for r in rows] + [4])
    lines = [f"{'cell':<{width}}  trials  stage1  total  final  jobs  {device}-h  basis"]
    for name, (trials, stage1, total, seeds, jobs), hours, basis in rows:
        counts = f"{trials:>6}  {stage1:>6}  {total:>5}  {seeds:>5}  {jobs:>4}"
        lines.append(f"{name:<{width}}  {counts}  {hours:>5}  {basis}")
    lines += [f"note: {p.name}: {p.note}" for p in plans if p.note]
    tuned, stage1 = sum(p.trials + p.stage1 for p in plans), sum(p.stage1 for p in plans)
    of_which = f" ({stage1} of them stage 1)" if stage1 else ""
    lines.append(
        f"total: {len(plans)} cells, {tuned} trials{of_which}, "
        f"{sum(p.seeds for p in plans)} final seeds, {sum(p.jobs for p in plans)} jobs; "
        f"estimated cost {seconds / 3600:.2f} {device}-hours ({'; '.join(sorted(bases))})"
    )
    return lines + tuning_lines(plans) + site_lines(plans, result)


def tuning_lines(plans: list[CellPlan]) -> list[str]:
    """The budget rule (when a cell has a stage 1), how each cell's trials are drawn, warnings."""
    lines = []
    for budget in sorted({p.budget for p in plans if p.stage1}):
        lines.append(f"budget: hpo.budget={budget}: {BUDGET_MEANING[budget]}")
    for plan in plans:
        if plan.tlsweep_sweeper and plan.trials + plan.stage1:
            stages = [("stage 1", plan.stage1, plan.stage1_startup)] if plan.stage1 else []
            stages.append(("stage 2" if plan.stage1 else "", plan.trials, plan.startup))
            drawn = "; ".join(_drawn(plan, *stage) for stage in stages)
            lines.append(f"tuning: {plan.name}: {drawn}")
        warning = small_validation(plan.n_val)
        if warning:
            lines.append(f"warning: {plan.name}: {warning}")
    return lines


def site_lines(plans: list[CellPlan], result: dict[str, Any]) -> list[str]:
    """Per cell with held-out sites: the subjects each site contributes, per role."""
    lines = []
    for plan in plans:
        sites = result["info"].get(plan.name, {}).get("sites")
        for site, counts in (sites or {}).items():
            roles = {role: n for role, n in counts.items() if role != "subjects"}
            held = "held out" if "test_external" in roles else "in"
            used = ", ".join(f"{role} {n}" for role, n in roles.items())
            total = counts["subjects"]
            lines.append(f"sites: {plan.name}: {site} {held}, {total} subjects: {used}")
    return lines


def _drawn(plan: CellPlan, label: str, trials: int, startup: int | None) -> str:
    """E.g. ``4 trials: 2 random start-up + 2 model-guided (TPESampler, n_startup_trials=2)``."""
    head = f"{label + ': ' if label else ''}{trials} trial{'s' if trials != 1 else ''}"
    sampler = plan.sampler or "the sampler"
    if plan.grid:
        return f"{head}: grid search"
    if sampler == "RandomSampler":
        return f"{head}: random search ({sampler})"
    if startup is None:
        return f"{head}: {sampler}, no random start-up phase"
    rule = "fitted to the budget" if plan.fitted else "as given"
    setting = f"{sampler}, n_startup_trials={startup} {rule}"
    if startup >= trials:
        return f"{head}: random search (all within the random start-up; {setting})"
    return f"{head}: {startup} random start-up + {trials - startup} model-guided ({setting})"


def _cell_cost(
    plan: CellPlan, config: DictConfig, info: dict[str, Any]
) -> tuple[float | None, str]:
    if plan.earlier:
        median = statistics.median(plan.earlier)
        return median * plan.jobs, f"from {len(plan.earlier)} earlier trials"
    seconds = calibrated_seconds(plan, config, info)
    if seconds is None:
        return None, "not calibrated"
    return seconds, "calibrated, upper bound without early stopping"
