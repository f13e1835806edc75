"""Every TL method × target sample size on the synthetic cohort: test MAE, mean ± sd over seeds.

Methods scratch, pretrain_freeze, simclr, vat, warp_consistency; n ∈ {25, 100, 400} labelled
target subjects; 3 seeds; tiny3d at 4 mm on a 1300-subject cohort (validation pool 100), CPU.
Each run is ``tlsweep.run.run`` on a config composed like the CLI's, tracking off; the test MAE
is read from its predictions. Pretrained encoders are cached per seed in a fresh folder, so each
(method, seed) pretrains once for all n. Epochs shrink with n so the table fits in about an hour
on two cores; they are printed with the table. Rows are printed as cells finish, and appended to
``--csv``.

    .venv/bin/python benchmarks/methods_table.py [--quick] [--cache ~/.cache/tlsweep]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd
from hydra import compose, initialize_config_module

from tlsweep.run import run

METHODS = ("scratch", "pretrain_freeze", "simclr", "vat", "warp_consistency")
FULL = {"seeds": 3, "epochs": {25: 20, 100: 10, 400: 4}, "pretrain_epochs": 5}
QUICK = {"seeds": 1, "epochs": {25: 6, 100: 3}, "pretrain_epochs": 2}


def compose_cfg(
    method: str,
    n: int,
    seed: int,
    epochs: int,
    a: argparse.Namespace,
    out: Path,
    pretrained: Path,
    pretrain_epochs: int,
) -> object:
    """The run config of one cell, as ``tlsweep method=… sample_size=n…`` would compose it."""
    overrides = [
        f"method={method}",
        f"sample_size=n{n}",
        f"seed={seed}",
        "encoder=tiny3d",
        f"dataset.n_subjects={a.subjects}",
        "dataset.resolution_mm=4.0",
        "split.val_pool=100",
        f"train.epochs={epochs}",
        "train.patience=0",
        "train.lr=3e-3",
        "train.device=cpu",
        f"train.threads={a.threads}",
        "train.progress=false",
        "train.checkpoint_every_epoch=false",
        f"pretrain.epochs={pretrain_epochs}",
        "pretrain.patience=0",
        f"pretrain.cache_dir={pretrained}",
        f"cache_dir={a.cache}",
        f"output_dir={out}",
        "tracking.enabled=false",
    ]
    with initialize_config_module(version_base="1.3", config_module="tlsweep.conf"):
        return compose("config", overrides=overrides)


def test_mae(out: Path) -> float:
    """Test-set MAE (years) from a finished run's predictions."""
    frame = pd.read_csv(out / "predictions.csv")
    test = frame[frame.split == "test"]
    return float((test.y_true - test.y_pred).abs().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 seed, n in {25, 100}, few epochs")
    parser.add_argument("--cache", type=Path, default=Path("~/.cache/tlsweep").expanduser())
    parser.add_argument("--subjects", type=int, default=1300)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--csv", type=Path, default=Path("methods_table.csv"))
    a = parser.parse_args()
    plan = QUICK if a.quick else FULL
    logging.basicConfig(level=logging.WARNING)
    print(
        f"synthetic cohort {a.subjects} subjects, 4 mm, tiny3d, CPU; seeds {plan['seeds']}; "
        f"target epochs by n {plan['epochs']}; pretraining epochs {plan['pretrain_epochs']}"
    )
    results: dict[tuple[str, int], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n, epochs in plan["epochs"].items():
            for method in a.methods:
                start = time.perf_counter()
                for seed in range(plan["seeds"]):
                    out = Path(tmp) / f"{method}-n{n}-s{seed}"
                    cfg = compose_cfg(
                        method,
                        n,
                        seed,
                        epochs,
                        a,
                        out,
                        Path(tmp) / "pretrained",
                        plan["pretrain_epochs"],
                    )
                    run(cfg)
                    results.setdefault((method, n), []).append(test_mae(out))
                maes = results[(method, n)]
                sd = statistics.stdev(maes) if len(maes) > 1 else float("nan")
                print(
                    f"  n={n:<4d} {method:17s} test MAE {statistics.mean(maes):6.2f} ± {sd:5.2f}"
                    f"  ({time.perf_counter() - start:5.0f} s)",
                    flush=True,
                )
                with a.csv.open("a") as f:
                    f.writelines(f"{method},{n},{s},{m:.4f}\n" for s, m in enumerate(maes))
    print_table(results, list(plan["epochs"]), a.methods)


def print_table(results: dict, ns: list[int], methods: list[str]) -> None:
    """Methods × n, test MAE in years as mean ± sd over seeds."""
    print("\ntest MAE (years), mean ± sd over seeds")
    print(f"{'method':17s} " + " ".join(f"{'n=' + str(n):>15s}" for n in ns))
    for method in methods:
        cells = []
        for n in ns:
            maes = results.get((method, n), [])
            sd = statistics.stdev(maes) if len(maes) > 1 else float("nan")
            cells.append(f"{statistics.mean(maes):7.2f} ± {sd:5.2f}" if maes else f"{'-':>15s}")
        print(f"{method:17s} " + " ".join(cells))


if __name__ == "__main__":
    main()
