"""``tlsweep plan OVERRIDES...``: what a multirun would queue, what it costs, whether it can run.

Given the overrides of a multirun (``tlsweep plan method=scratch,simclr sample_size=n25,n100
hpo=tpe``), composes every cell as the sweeper will, prints each cell's readable name, its trials,
final seeds and jobs, the totals and an estimated cost, and validates every cell before anything is
queued: a typo in one cell fails in one line naming the cell, with exit status 2.

This process imports only Hydra, OmegaConf and the stdlib; building networks and timing steps
happens in one child process (:mod:`tlsweep.benchmark.plan_check`). :func:`validate_cells` is
the same check for a sweeper that already holds the cells' configs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from copy import deepcopy
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from tlsweep.benchmark.plan_cost import CellPlan, cost_lines, plan_cell
from tlsweep.errors import explain

USAGE = """usage: tlsweep plan [--no-calibrate] OVERRIDES...

Print the cells, trials, final seeds, jobs and estimated cost of `tlsweep -m OVERRIDES...` and
validate every cell (composed, built on tiny shapes) without queueing anything. Exit status 2 when
a cell is invalid. --no-calibrate: no timing steps (cost only from earlier runs)."""
CHECK_TIMEOUT_S = 900


def main(argv: list[str]) -> int:
    """Entry point of ``tlsweep plan``; returns the exit status (0 valid, 2 invalid)."""
    if {"-h", "--help"} & set(argv):
        print(USAGE)
        return 0
    calibrate = "--no-calibrate" not in argv
    overrides = [a for a in argv if a not in ("--no-calibrate", "-m", "--multirun")]
    try:
        configs, problems = compose_cells(overrides)
    except Exception as exc:
        message = explain(exc)
        if message is None:
            raise
        _error(message)
        return 2
    plans = [plan_cell(name, config) for name, config in configs.items()]
    # a plan that cannot run anyway is not worth timing
    wanted = _device_wanted(configs.values()) if calibrate and not problems else None
    result = check_cells(configs, calibrate=wanted) if configs else _empty()
    problems.update(result["problems"])
    for line in cost_lines(plans, configs, result):
        print(line)
    if calibrate and result["device"] == "cpu" and any(map(_runs_on_gpu, configs.values())):
        print(
            "note: the jobs would run on GPUs; calibrated on this machine's CPU, so the cost is "
            "in CPU-hours and far above the GPU time"
        )
    for name, problem in problems.items():
        _error(f"cell {name}: {problem}")
    if problems:
        print(
            f"{len(problems)} of {len(problems) + len(configs) - len(result['problems'])} cells "
            "are invalid; nothing was queued",
            file=sys.stderr,
        )
        return 2
    print(f"all {len(configs)} cells are valid")
    return 0


def compose_cells(overrides: list[str]) -> tuple[dict[str, DictConfig], dict[str, str]]:
    """Compose the cells of ``tlsweep -m OVERRIDES`` as the sweeper does.

    Returns:
        The cells' configs (with their ``hydra`` node) by cell name, and one-line composition
        problems by cell (named by its overrides when it cannot be composed).

    Raises:
        Exception: when the overrides shared by all cells do not compose (see ``errors.explain``).
    """
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from hydra.types import RunMode

    from tlsweep.benchmark.cells import cell_config, cell_name, split_cells, stage_budget
    from tlsweep.schemas import HYDRA_VERSION_BASE

    configs: dict[str, DictConfig] = {}
    problems: dict[str, str] = {}
    with initialize_config_module(
        version_base=HYDRA_VERSION_BASE, config_module="tlsweep.conf", job_name="tlsweep"
    ):
        loader = GlobalHydra.instance().config_loader()
        master = loader.load_configuration("config", overrides, run_mode=RunMode.MULTIRUN)
        cells, rest = split_cells(overrides, loader)
        for cell in cells or [[]]:
            label = " ".join(cell) or "(the only cell)"
            try:
                config = cell_config(master, loader, rest, cell)
                stage_budget(config)  # as the sweeper: a split leaving a stage no trial fails
            except Exception as exc:
                message = explain(exc)
                if message is None:
                    raise
                problems[label] = message
                continue
            name = cell_name(config) or label
            if name in configs:  # e.g. debug=smoke names every sample size "smoke"
                problems[label] = f"the same cell name as another cell: {name}"
                continue
            configs[name] = config
    return configs, problems


def validate_cells(configs: dict[str, DictConfig]) -> dict[str, str]:
    """Check that every cell builds: its method, its encoder at ``dataset.shape``, one dry step.

    For a sweeper before it launches anything. Needs no Hydra global state; runs one child
    process (torch and MONAI load there, not here). Takes a few seconds per distinct encoder.

    Args:
        configs: cell name -> the cell's composed config (with or without its ``hydra`` node).

    Returns:
        Cell name -> a one-line problem, for the invalid cells only (empty when all are valid).
    """
    return check_cells(configs, calibrate=None)["problems"]


def check_cells(configs: dict[str, DictConfig], calibrate: str | None) -> dict[str, Any]:
    """Run :mod:`tlsweep.benchmark.plan_check` on ``configs``; return its result document.

    Args:
        configs: cell name -> composed config.
        calibrate: ``gpu`` (CUDA if the child has it, else CPU), ``cpu``, or None (no timing).

    Raises:
        RuntimeError: when the child process fails without an answer.
    """
    with tempfile.TemporaryDirectory(prefix="tlsweep-plan-") as tmp:
        folder = Path(tmp)
        cells, problems = [], {}
        for index, (name, config) in enumerate(configs.items()):
            try:
                cells.append(_export(name, config, folder, index))
            except Exception as exc:  # an interpolation that does not resolve
                problems[name] = explain(exc) or f"{type(exc).__name__}: {exc}"
        request = {"cells": cells, "calibrate": calibrate}
        (folder / "request.json").write_text(json.dumps(request))
        done = subprocess.run(
            [sys.executable, "-m", "tlsweep.benchmark.plan_check", str(folder)],
            capture_output=True,
            text=True,
            timeout=CHECK_TIMEOUT_S,
        )
        answer = folder / "result.json"
        if done.returncode != 0 or not answer.exists():
            tail = done.stderr.strip().splitlines()[-5:]
            raise RuntimeError("tlsweep.benchmark.plan_check failed: " + " | ".join(tail))
        result = json.loads(answer.read_text())
    result["problems"] = {**problems, **result["problems"]}
    return result


def _export(name: str, config: DictConfig, folder: Path, index: int) -> dict[str, Any]:
    """Write the cell's resolved run config (no ``hydra`` node) and describe its search space."""
    work = deepcopy(config)
    with open_dict(work):
        work.output_dir = str(folder / "run")  # not ${hydra:...}: no Hydra state in the child
    data = {}
    for key in work:
        if key != "hydra":
            node = work[key]
            data[key] = (
                OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node
            )
    path = folder / f"cell{index}.yaml"
    OmegaConf.save(OmegaConf.create(data), path)
    choices = OmegaConf.select(config, "hydra.runtime.choices", default=None)
    return {
        "name": name,
        "config": path.name,
        "choices": OmegaConf.to_container(choices) if choices is not None else {},
        "search": _search(config),
    }


def _search(config: DictConfig) -> dict[str, Any]:
    """The cell's search space as override lines (for the tlsweep sweeper only)."""
    sweeper = OmegaConf.select(config, "hydra.sweeper", default=None)
    if sweeper is None or not str(sweeper.get("_target_", "")).endswith("TlsweepSweeper"):
        return {}
    from hydra.core.override_parser.overrides_parser import OverridesParser

    task = OmegaConf.select(config, "hydra.overrides.task", default=[]) or []
    parsed = OverridesParser.create().parse_overrides(list(task))
    pretrain: dict[str, Any] = {}
    if OmegaConf.select(config, "hpo.stage", default="target_only") != "target_only":
        pretrain = _plain(OmegaConf.select(config, "method.pretrain_search_space", default={}))
    return {
        "defaults": {**pretrain, **(_plain(sweeper.get("search_space_defaults")) or {})},
        "params": _plain(sweeper.get("params")),
        "sweeps": [o.input_line for o in parsed if o.is_sweep_override()],
        "grid_points": _grid_points(sweeper),
    }


def _plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node


def _grid_points(sweeper: DictConfig) -> int | None:
    target = str(OmegaConf.select(sweeper, "sampler._target_", default=""))
    return sweeper.get("grid_points") if target.endswith("GridSampler") else None


def _device_wanted(configs: Any) -> str:
    """``cpu`` when every cell is pinned to the CPU, else ``gpu`` (falls back to the CPU)."""
    devices = {str(OmegaConf.select(c, "train.device", default="auto")) for c in configs}
    return "cpu" if devices == {"cpu"} else "gpu"


def _runs_on_gpu(config: DictConfig) -> bool:
    """``train.device=cuda…``, or a launcher that asks for GPUs (SLURM presets)."""
    device = str(OmegaConf.select(config, "train.device", default="auto"))
    launcher = OmegaConf.select(config, "hydra.launcher", default=None) or {}
    asked = any(launcher.get(k) for k in ("gpus_per_node", "gpus_per_task"))
    return device.startswith("cuda") or (device == "auto" and bool(asked))


def _empty() -> dict[str, Any]:
    return {"problems": {}, "info": {}, "device": "cpu"}


def _error(message: str) -> None:
    print(f"tlsweep: error: {message}", file=sys.stderr)


__all__ = ["CellPlan", "check_cells", "compose_cells", "main", "validate_cells"]
