"""Overhead of tlsweep's training path against a minimal hand-written PyTorch loop.

Both train the same encoder (same init), on the same cached volumes and split, with the same
optimiser, schedule, batch size, epochs and per-epoch validation; the hand loop just has no
early-stopping bookkeeping, checkpoints, metrics suite, progress bar or MLflow. Both score the
test set once at the end. The MLflow database exists already (as after a project's first run).
Runs alternate (A B A B …) so machine noise hits both. Two estimates are printed: the median of
the paired ratios, and the ratio of each side's fastest run (noise on a shared machine only ever
adds time, so the minimum is the least disturbed measurement, as ``timeit`` recommends). Target
≤ 1.05.

    .venv/bin/python benchmarks/overhead.py [--encoder sfcn] [--epochs 4] [--repeats 3]
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_module
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import open_dict

from tlsweep.data.splits import make_splits
from tlsweep.data.tasks import Task
from tlsweep.models.base import Head, Network
from tlsweep.run import run
from tlsweep.train.data import Subset


def config(args: argparse.Namespace, workdir: Path):  # noqa: ANN201
    overrides = [
        "method=scratch",
        f"encoder={args.encoder}",
        "sample_size=n100",
        "split.val_pool=25",
        f"dataset.n_subjects={args.subjects}",
        f"train.epochs={args.epochs}",
        "train.patience=0",
        "train.device=cpu",
        "train.progress=false",
        f"cache_dir={args.cache}",
        f"output_dir={workdir / 'run'}",
        f"tracking.uri=sqlite:///{workdir.parent / 'mlflow.db'}",
        "tracking.log_checkpoint=false",
    ]
    with initialize_config_module(version_base="1.3", config_module="tlsweep.conf"):
        cfg = compose("config", overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


def hand_loop(cfg) -> float:  # noqa: ANN001
    """The same training, written as one would by hand."""
    torch.manual_seed(cfg.seed)
    cohort = instantiate(cfg.dataset).load(progress=False)
    source, target = Task("s", **cfg.source_task), Task("t", **cfg.target_task)
    source.check(cohort.table)
    target.check(cohort.table)
    splits = make_splits(
        cohort.table,
        target=target,
        source=source,
        cfg=cfg.split,
        n_train=cfg.sample_size.n_train,
        n_val=cfg.sample_size.n_val,
    )
    target.fit_scaler(cohort.table.loc[splits["train"], "age"])
    train, val = (Subset.from_cohort(cohort, splits[r], target) for r in ("train", "val"))
    encoder = instantiate(cfg.encoder)
    model = Network(encoder, Head(encoder.out_features, 1))
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay
    )
    steps = math.ceil(len(train) / cfg.train.batch_size) * cfg.train.epochs
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    generator = torch.Generator().manual_seed(cfg.seed)
    best = math.inf

    def mae(data: Subset) -> float:
        model.eval()
        with torch.no_grad():
            pred = torch.cat(
                [
                    model(data.images[i : i + 32].float().unsqueeze(1))[:, 0]
                    for i in range(0, len(data), 32)
                ]
            )
        return (pred - data.targets).abs().mean().item() * target.std

    for _ in range(cfg.train.epochs):
        model.train()
        for idx in torch.randperm(len(train), generator=generator).split(cfg.train.batch_size):
            x = train.images[idx].float().unsqueeze(1)
            loss = torch.nn.functional.mse_loss(model(x)[:, 0], train.targets[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
        best = min(best, mae(val))
    mae(Subset.from_cohort(cohort, splits["test"], target))  # scored once at the end, as in run
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", default="sfcn")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--subjects", type=int, default=360)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cache", default=str(Path.home() / ".cache" / "tlsweep"))
    parser.add_argument("--quick", action="store_true", help="tiny3d, 2 epochs, 1 repeat")
    args = parser.parse_args()
    if args.quick:
        args.encoder, args.epochs, args.repeats = "tiny3d", 2, 1
    times: dict[str, list[float]] = {"tlsweep": [], "hand": []}
    with tempfile.TemporaryDirectory() as tmp:
        # warm-up: cohort generation, volume cache, MLflow database creation
        hand_loop(config(args, Path(tmp) / "warmup"))
        run(config(args, Path(tmp) / "warmup"))
        for i in range(args.repeats):
            for name in ("tlsweep", "hand"):
                cfg = config(args, Path(tmp) / f"{name}{i}")
                start = time.perf_counter()
                run(cfg) if name == "tlsweep" else hand_loop(cfg)
                times[name].append(time.perf_counter() - start)
    ratios = [a / b for a, b in zip(times["tlsweep"], times["hand"])]
    print(
        f"encoder={args.encoder} epochs={args.epochs} n_train=100 n_val=25, CPU, "
        f"{torch.get_num_threads()} threads"
    )
    print(f"{'':10}" + "".join(f"{'run ' + str(i):>10}" for i in range(args.repeats)))
    for name, values in times.items():
        print(f"{name:10}" + "".join(f"{v:10.2f}" for v in values))
    fastest = min(times["tlsweep"]) / min(times["hand"])
    print(f"paired ratios tlsweep/hand: {' '.join(f'{r:.3f}' for r in ratios)}")
    print(f"ratio tlsweep/hand (median of pairs): {statistics.median(ratios):.3f}  target <= 1.05")
    print(f"ratio tlsweep/hand (fastest runs):    {fastest:.3f}")


if __name__ == "__main__":
    main()
