"""The heavy half of ``tlsweep plan``: build each cell on tiny shapes, and time a few steps.

Run as ``python -m tlsweep.benchmark.plan_check DIR`` by :mod:`tlsweep.benchmark.plan`, which
keeps torch, MONAI and MLflow out of its own process. ``DIR/request.json`` lists the cells
(name, resolved config file, search-space lines) and whether to calibrate; the answer goes to
``DIR/result.json``:
``{"problems": {cell: one line}, "info": {cell: {...}}, "device": "cpu"|"cuda"}``.

Per cell: the run-level checks of :func:`tlsweep.run.run` that need no data, the method built,
the encoder built on the meta device and run at ``dataset.shape`` (no memory, no arithmetic),
one real forward/backward of the method's loss on the smallest cube the encoder takes, the
objective checked against the target task, the search space parsed, and, when cheap, the data
(the participants table, the tasks' columns and the split sizes) without reading any image.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from tlsweep.data.tasks import Task
from tlsweep.errors import ConfigError, bad_option, explain, missing_key
from tlsweep.methods.assemble import build_method
from tlsweep.methods.base import Method, PretrainingMethod
from tlsweep.methods.losses import REGRESSION_LOSSES
from tlsweep.models.base import Encoder, Head, Network
from tlsweep.run import check_objective, check_run_config
from tlsweep.schemas import TASK_TYPES
from tlsweep.train.data import Batch

CUBES = (8, 16, 24, 32, 48, 64, 96, 128)  # candidate sides of the dry-run volume
STEPS = 2  # timed calibration steps, after one warm-up step
CALIBRATION_BATCH = 4


def check_cell(cfg: DictConfig, cell: dict[str, Any], calibrate: str | None) -> dict[str, Any]:
    """Validate one cell's resolved config; raise on the first problem.

    Args:
        cfg: the cell's resolved config (no ``hydra`` node).
        cell: the request entry (``choices``, ``search``).
        calibrate: the device to time steps on, or None.

    Returns:
        The plan's facts ``pretrains``, ``n_subjects``, ``n_source``, ``grid_size``,
        ``step_s`` (seconds per training step at the configured shape and batch size).
    """
    check_run_config(cfg)
    method = build_method(cfg.method)
    target = Task("target_task", **cfg.target_task)
    source = Task("source_task", **cfg.source_task)
    for task in (target, source):
        _check_task(task)
    check_objective(cfg, target)
    info: dict[str, Any] = {"pretrains": isinstance(method, PretrainingMethod)}
    info["label_use"] = label_use_record(method)
    info.update(_check_data(cfg, target, source))
    shape = tuple(int(s) for s in cfg.dataset.shape)
    encoder_name = cell.get("choices", {}).get("encoder") or "?"
    _check_shape(cfg.encoder, method, shape, encoder_name)
    cube = _smallest_cube(cfg.encoder, shape)
    for task in (target, source):
        task.classes = task.classes or ["0", "1"]
    _step(cfg.encoder, method, target, (2, 1, *cube), torch.device("cpu"))
    info["grid_size"] = _check_search(cfg, cell.get("search") or {})
    if calibrate:
        info["step_s"] = _calibrate(cfg, method, target, shape, torch.device(calibrate))
    return info


def label_use_record(method: Method) -> dict[str, list[str]]:
    """What ``method`` reads (:meth:`~tlsweep.methods.base.Method.label_use`), as JSON lists:
    ``labels``/``roles`` of a target run, ``stage1_labels``/``stage1_roles`` of a stage-1 run
    of ``source_then_target`` (empty for a method without pretraining: it has no stage 1)."""
    target = method.label_use()
    pretrains = isinstance(method, PretrainingMethod)
    stage1 = method.label_use(stage1=True) if pretrains else None
    return {
        "labels": list(target.labels),
        "roles": list(target.roles),
        "stage1_labels": list(stage1.labels) if stage1 else [],
        "stage1_roles": list(stage1.roles) if stage1 else [],
    }


def _check_task(task: Task) -> None:
    """What :meth:`Task.check` says without a table, plus the loss name."""
    if task.type not in TASK_TYPES:
        raise bad_option(f"{task.key}.type", task.type, TASK_TYPES)
    if task.loss not in ("auto", *REGRESSION_LOSSES):
        raise bad_option(f"{task.key}.loss", task.loss, ("auto", *REGRESSION_LOSSES))


def _check_data(cfg: DictConfig, target: Task, source: Task) -> dict[str, Any]:
    """Table, columns and split sizes, only when the table is already on disk (no images read)."""
    from tlsweep.data.nifti import NiftiCohort
    from tlsweep.data.synthetic_brain import SyntheticBrain

    dataset = instantiate(cfg.dataset)
    n_subjects = OmegaConf.select(cfg, "dataset.n_subjects", default=None)
    facts = {"n_subjects": n_subjects, "n_source": None}
    if not isinstance(dataset, NiftiCohort):
        return facts
    if isinstance(dataset, SyntheticBrain) and not dataset.root.is_dir():
        table = dataset.planned_table()  # generated by the first trial; its table is known
    else:
        table, _ = dataset._index()
    for task in (target, source):
        task.check(table)
    from tlsweep.data.splits import make_splits

    site_column = dataset.site_column
    splits = make_splits(
        table,
        target=target,
        source=source,
        cfg=cfg.split,
        n_train=cfg.sample_size.n_train,
        n_val=cfg.sample_size.n_val,
        site_column=site_column,
    )
    facts = {"n_subjects": len(table), "n_source": len(splits["source"])}
    if cfg.split.held_out_sites:
        facts["sites"] = site_counts(table[site_column], splits.roles)
    return facts


def site_counts(sites: Any, roles: dict[str, list[str]]) -> dict[str, dict[str, int]]:
    """``{site: {"subjects": n, role: n, …}}``, sites in sorted order: the site's subjects in
    the table, then per role (roles it has none in left out)."""
    site = sites.astype(str)
    counts = {}
    for name in sorted(site.unique()):
        per_role = {role: int((site.loc[ids] == name).sum()) for role, ids in roles.items()}
        counts[name] = {"subjects": int((site == name).sum())}
        counts[name] |= {role: n for role, n in per_role.items() if n}
    return counts


def _meta_encoder(node: DictConfig, method: Method) -> Encoder:
    with torch.device("meta"):
        encoder = instantiate(node)
    encoder.freeze(method.freeze_stages)  # validates freeze_stages
    return encoder


def _check_shape(node: DictConfig, method: Method, shape: tuple[int, ...], name: str) -> None:
    """The encoder at the configured volume shape, on the meta device (shapes only)."""
    encoder = _meta_encoder(node, method).eval()  # as run's check: batch norm takes one volume
    try:
        encoder(torch.zeros(1, 1, *shape, device="meta"))
    except (RuntimeError, ValueError) as exc:
        raise ConfigError(
            f"encoder={name} cannot take volumes of shape {list(shape)} (dataset.shape): "
            f"{str(exc).splitlines()[0]}"
        ) from exc


def _smallest_cube(node: DictConfig, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The smallest volume (a cube, capped at ``shape``) the encoder takes."""
    encoder = _meta_encoder(node, Method())  # nothing frozen
    for side in CUBES:
        cube = tuple(min(side, s) for s in shape)
        try:
            encoder(torch.zeros(2, 1, *cube, device="meta"))
            return cube
        except (RuntimeError, ValueError):
            continue
    return shape


def _step(
    node: DictConfig, method: Method, task: Task, size: tuple[int, ...], device: torch.device
) -> None:
    """One forward/backward of the method's target-training loss on random volumes."""
    model = _network(node, method, task, device)
    _train_step(model, method, task, size, device)


def _network(node: DictConfig, method: Method, task: Task, device: torch.device) -> Network:
    encoder = instantiate(node)
    encoder.freeze(method.freeze_stages)
    return Network(encoder, Head(encoder.out_features, task.out_features)).to(device)


def _train_step(
    model: Network, method: Method, task: Task, size: tuple[int, ...], device: torch.device
) -> None:
    x = torch.randn(size, device=device)
    y = (
        torch.zeros(size[0], dtype=torch.long, device=device)
        if task.is_classification
        else torch.randn(size[0], device=device)
    )
    x_u = torch.randn(size, device=device) if _uses_unlabelled(method) else None
    loss = method.loss(model, Batch(x, y, x_u), task, 0.5)
    loss = loss[0] if isinstance(loss, tuple) else loss
    if not torch.isfinite(loss):
        raise ConfigError(f"the loss of a dry step is {loss.item()} (not finite)")
    loss.backward()


def _uses_unlabelled(method: Method) -> bool:
    """A method that overrides :meth:`Method.unlabelled` gets ``x_u`` in its batches."""
    return type(method).unlabelled is not Method.unlabelled


def _check_search(cfg: DictConfig, search: dict[str, Any]) -> int | None:
    """Parse the cell's search space; every swept key must exist. Returns the grid size.

    A key that does not is named as a plain override of it is (``did you mean 'lr'?``).
    """
    from hydra_plugins.tlsweep_sweeper._space import build_space, param_lines

    defaults, params = param_lines(search.get("defaults")), param_lines(search.get("params"))
    space = build_space(defaults, params, search.get("sweeps") or [])
    if not space.distributions:
        return None
    for key in space.keys.values():
        problem = None if key.startswith("+") else missing_key(cfg, key)
        if problem:  # the same line as the plain override `key=value` gets
            raise ConfigError(f"search space: {problem}")
    points = search.get("grid_points")
    return len(space.grid(int(points))) if points else None


def _calibrate(
    cfg: DictConfig, method: Method, task: Task, shape: tuple[int, ...], device: torch.device
) -> float:
    """Seconds of a training step at the configured shape and batch size.

    Timed on at most ``CALIBRATION_BATCH`` volumes and scaled linearly to the batch size: close
    on a CPU, an overestimate on a GPU (which a small batch leaves partly idle).
    """
    model = _network(cfg.encoder, method, task, device)
    batch = int(cfg.train.batch_size)
    size = (min(batch, CALIBRATION_BATCH), 1, *shape)
    times = []
    for _ in range(STEPS + 1):
        start = time.perf_counter()
        _train_step(model, method, task, size, device)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
        model.zero_grad(set_to_none=True)
    return min(times[1:]) * batch / size[0]  # the first step pays for allocation


def _one_line(exc: BaseException) -> str:
    message = explain(exc)
    if message is None:
        first = (str(exc).strip().splitlines() or [""])[0]
        message = f"{type(exc).__name__}: {first}"
    return message


def check_request(folder: Path) -> dict[str, Any]:
    """Check every cell listed in ``folder/request.json``; return the result document."""
    request = json.loads((folder / "request.json").read_text())
    calibrate = _calibration_device(request.get("calibrate"))
    torch.set_num_threads(max(1, torch.get_num_threads()))
    problems: dict[str, str] = {}
    info: dict[str, Any] = {}
    calibrated: dict[str, float] = {}
    for cell in request["cells"]:
        name = cell["name"]
        try:
            cfg = OmegaConf.load(folder / cell["config"])
            key = json.dumps(
                [OmegaConf.to_container(cfg[k]) for k in ("encoder", "method")]
                + [list(cfg.dataset.shape), cfg.train.batch_size]
            )
            reuse = calibrate if key not in calibrated else None
            info[name] = check_cell(cfg, cell, reuse)
            if reuse:
                calibrated[key] = info[name]["step_s"]
            elif calibrate:
                info[name]["step_s"] = calibrated[key]
        except Exception as exc:  # noqa: BLE001 - every problem becomes the cell's one line
            problems[name] = _one_line(exc)
    return {"problems": problems, "info": info, "device": calibrate or "cpu"}


def _calibration_device(wanted: str | None) -> str | None:
    """``gpu``: CUDA if present, else the CPU; ``cpu``: the CPU; None: no calibration."""
    if not wanted:
        return None
    return "cuda" if wanted == "gpu" and torch.cuda.is_available() else "cpu"


def main(argv: list[str]) -> int:
    """``python -m tlsweep.benchmark.plan_check DIR``: write ``DIR/result.json``."""
    folder = Path(argv[0])
    result = check_request(folder)
    tmp = folder / "result.json.tmp"
    tmp.write_text(json.dumps(result, default=_jsonable))
    tmp.replace(folder / "result.json")
    return 0


def _jsonable(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else str(value)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
