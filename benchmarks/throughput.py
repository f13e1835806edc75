"""Training throughput: samples/s and the share of step time spent waiting for data.

Drives tlsweep's own path: a float16 cohort array memory-mapped from a file (as the volume cache
stores it), :meth:`Subset.from_cohort` held in memory or memory-mapped, :func:`batches`, the
switches of :mod:`tlsweep.train.accel`, and the loop's :func:`train_epoch` (AdamW, schedule,
autocast) with the scratch method's supervised loss. The encoders are built from their packaged
yaml. Each row runs ``--warmup`` steps untimed, then ``--steps`` timed ones; *data wait* is the
time spent inside the batch iterator (gather, copy to the device, cast, layout) over the wall
time of the timed steps (on CUDA, the device is synchronised before and after them).

Rows: tiny3d / SFCN / ResNet-18 × 4 mm (48×56×48) and 2 mm (96×112×96) × storage (``memory``:
held in host memory, or on the GPU when it fits; ``host``: CUDA only, held in host memory and
copied each batch; ``memmap``: gathered from the memory map each batch) × AMP (CUDA only: the
loop ignores it on CPU), then each switch alone (cudnn_benchmark on CUDA, channels_last,
compile) against its baseline row. The memory map is read through a warm page cache.

    .venv/bin/python benchmarks/throughput.py [--quick] [--out reports/throughput-cpu.md]
    .venv/bin/python benchmarks/throughput.py --device cuda      # < 5 min on one H200
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import torch
from _report import footer
from hydra.utils import instantiate
from omegaconf import OmegaConf

from tlsweep.data.nifti import Cohort
from tlsweep.data.tasks import Task
from tlsweep.methods.losses import supervised_loss
from tlsweep.models.base import Head, Network
from tlsweep.resources import configure_threads
from tlsweep.train import data as data_module
from tlsweep.train.accel import prepare_batch, prepare_model
from tlsweep.train.data import Batch, Subset, batches
from tlsweep.train.loop import LoopState, TrainSettings, train_epoch

ROOT = Path(__file__).resolve().parents[1]
SHAPES = {"4mm": (48, 56, 48), "2mm": (96, 112, 96)}
ENCODERS = ("tiny3d", "sfcn", "resnet18")
SWITCHES = ("cudnn_benchmark", "channels_last", "compile")


@dataclass
class Row:
    """One measurement's settings and, once run, its numbers."""

    encoder: str
    resolution: str
    storage: str
    amp: bool
    switch: str = "-"
    samples_s: float = float("nan")
    wait: float = float("nan")
    step_ms: float = float("nan")
    warmup_s: float = float("nan")
    note: str = ""
    extra: dict = field(default_factory=dict)


class Timed:
    """Wraps the epoch's batches: the time spent producing each one is the data wait."""

    def __init__(self, source: Iterable[Batch], switches: SimpleNamespace) -> None:
        self.source, self.switches, self.wait = source, switches, 0.0

    def __iter__(self) -> Iterator[Batch]:
        it = iter(self.source)
        while True:
            start = time.perf_counter()
            try:
                batch = prepare_batch(next(it), self.switches)
            except StopIteration:
                return
            finally:
                self.wait += time.perf_counter() - start
            yield batch


def cohort(folder: Path, shape: tuple[int, ...], n: int) -> Cohort:
    """A float16 cohort file of ``n`` random volumes, memory-mapped as the cache does."""
    path = folder / f"images-{'x'.join(map(str, shape))}-{n}.npy"
    if not path.exists():
        rng = np.random.default_rng(0)
        images = np.lib.format.open_memmap(path, "w+", np.float16, (n, *shape))
        for i in range(n):
            images[i] = rng.standard_normal(shape, dtype=np.float32)
        images.flush()
        del images
    ages = np.random.default_rng(1).uniform(20, 80, n)
    table = pd.DataFrame({"age": ages}, index=[f"s{i}" for i in range(n)])
    return Cohort(table=table, images=np.load(path, mmap_mode="r"))


def encoder(name: str) -> torch.nn.Module:
    return instantiate(OmegaConf.load(ROOT / "tlsweep" / "conf" / "encoder" / f"{name}.yaml"))


def measure(row: Row, args: argparse.Namespace, device: torch.device, folder: Path) -> None:
    """Fill ``row``'s numbers: warm-up steps, then timed steps through ``train_epoch``."""
    n = args.batch_size * max(args.steps, args.warmup)
    source = cohort(folder, SHAPES[row.resolution], n)
    task = Task("target_task", column="age", type="regression")
    task.fit_scaler(source.table["age"])
    ids = list(source.table.index)
    old_fraction = data_module.DEVICE_FRACTION
    data_module.DEVICE_FRACTION = 0.0 if row.storage == "host" else old_fraction
    try:
        subset = Subset.from_cohort(source, ids, task, in_memory=row.storage != "memmap")
        switches = SimpleNamespace(deterministic=False, **{s: s == row.switch for s in SWITCHES})
        torch.manual_seed(0)
        net = encoder(row.encoder)
        model = prepare_model(Network(net, Head(net.out_features, 1)).to(device), switches, device)
        settings = TrainSettings(
            epochs=1,
            batch_size=args.batch_size,
            lr=1e-4,
            weight_decay=1e-4,
            amp=row.amp,
            device=device,
        )
        state = LoopState.start(model, settings, args.steps)

        def loss(net: torch.nn.Module, batch: Batch, progress: float) -> torch.Tensor:
            return supervised_loss(net(batch.x), batch.y, task)

        def run(steps: int) -> tuple[float, float]:
            shuffled = itertools.islice(
                batches(subset, args.batch_size, state.generator, device), steps
            )
            timed = Timed(shuffled, switches)
            sync(device)
            start = time.perf_counter()
            train_epoch(state, loss, timed, settings, steps, "bench")  # ends with .item()
            sync(device)
            return time.perf_counter() - start, timed.wait

        row.warmup_s, _ = run(args.warmup)
        wall, wait = run(args.steps)
    finally:
        data_module.DEVICE_FRACTION = old_fraction
    row.samples_s = args.steps * args.batch_size / wall
    row.wait = wait / wall
    row.step_ms = 1000 * wall / args.steps
    if row.storage == "memory" and device.type == "cuda":
        row.note = f"on {subset.images.device.type}"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def plan(args: argparse.Namespace, cuda: bool) -> list[Row]:
    """The rows to run: the grid, then each switch alone on the baseline."""
    storages = ("memory", "host", "memmap") if cuda else ("memory", "memmap")
    amps = (True, False) if cuda else (False,)
    rows = [
        Row(e, r, s, a)
        for r in args.resolutions
        for e in args.encoders
        for s in storages
        for a in amps
    ]
    switches = [s for s in SWITCHES if cuda or s != "cudnn_benchmark"]
    for resolution in args.switch_resolutions:
        for e in args.encoders:
            for switch in switches:
                if switch == "compile" and e not in args.compile_encoders:
                    continue
                rows.append(Row(e, resolution, "memory", cuda, switch))
    return rows


def table(rows: list[Row], header: str) -> str:
    lines = [
        header,
        "",
        "| encoder | res | storage | AMP | switch | samples/s | data wait | step ms "
        "| warm-up s | note |",
        "|---|---|---|---|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.encoder} | {r.resolution} | {r.storage} | {'on' if r.amp else 'off'} "
            f"| {r.switch} | {r.samples_s:.1f} | {100 * r.wait:.1f} % | {r.step_ms:.0f} "
            f"| {r.warmup_s:.1f} | {r.note} |"
        )
    return "\n".join(lines) + "\n"


def describe(device: torch.device, args: argparse.Namespace) -> tuple[str, str]:
    """A header line naming the hardware, and the device's slug for the default file name."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        hardware = f"{name}, torch {torch.__version__}, CUDA {torch.version.cuda}"
    else:
        slug = "cpu"
        hardware = (
            f"CPU, {torch.get_num_threads()} threads of {os.cpu_count()} cores, torch "
            f"{torch.__version__}, load average {os.getloadavg()[0]:.1f} at start"
        )
    header = (
        f"# Training throughput ({hardware})\n\nbatch {args.batch_size}, {args.warmup} warm-up "
        f"+ {args.steps} timed steps per row; `benchmarks/throughput.py "
        f"{' '.join(args.argv)}`".rstrip()
    )
    return header, slug


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--quick", action="store_true", help="4 mm, tiny3d+sfcn, 2 steps")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None, help="8 on CUDA, 4 on CPU")
    parser.add_argument("--encoders", nargs="+", default=list(ENCODERS))
    parser.add_argument("--resolutions", nargs="+", default=list(SHAPES))
    parser.add_argument("--switch-resolutions", nargs="+", default=None)
    parser.add_argument("--compile-encoders", nargs="+", default=None)
    parser.add_argument("--budget-s", type=float, default=270.0, help="skip rows after this")
    parser.add_argument("--out", default=None, help="default reports/throughput-<device>.md")
    return parser.parse_args()


def main() -> None:
    args = parse()
    args.argv = sys.argv[1:]
    name = args.device
    device = torch.device(
        ("cuda" if torch.cuda.is_available() else "cpu") if name == "auto" else name
    )
    cuda = device.type == "cuda"
    configure_threads(0)
    if args.quick:
        args.encoders = [e for e in args.encoders if e != "resnet18"]
        args.resolutions = ["4mm"]
    args.batch_size = args.batch_size or (8 if cuda else 4)
    args.steps = args.steps or (50 if cuda else 2)
    args.warmup = args.warmup or (5 if cuda else 1)
    args.switch_resolutions = args.switch_resolutions or (["2mm"] if cuda else ["4mm"])
    args.compile_encoders = args.compile_encoders or (["sfcn"] if cuda else ["tiny3d"])
    header, slug = describe(device, args)
    out = Path(args.out or ROOT / "reports" / f"throughput-{slug}.md")
    rows, started = plan(args, cuda), time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for row in rows:
            if time.perf_counter() - started > args.budget_s:
                row.note = "skipped: --budget-s reached"
                continue
            try:
                measure(row, args, device, Path(tmp))
            except Exception as exc:  # noqa: BLE001 - a row that fails is reported, not fatal
                row.note = f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:80]}"
            print(table([row], "").splitlines()[-1], flush=True)
    text = table(rows, header)
    text += f"\ntotal {time.perf_counter() - started:.0f} s\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + footer())
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
