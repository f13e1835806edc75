"""N fine-tuning runs over one pretraining config, with and without the pretrained-encoder cache.

Each run is ``tlsweep method=pretrain_freeze sample_size=n25`` on the synthetic cohort at 4 mm
(tiny3d, CPU, tracking off) with its own ``train.lr``, as an HPO study's trials would be; the
pretraining schedule is the same for all. Printed: how many pretrainings ran (1 with the cache),
and the wall time of the N runs with the cache against without it. (On the ``debug=smoke`` cohort
a pretraining takes under a second, so the ratio there is noise.)

    .venv/bin/python benchmarks/pretrain_cache.py [--quick] [--runs 4] [--subjects 400]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

from hydra import compose, initialize_config_module

from tlsweep.methods.pretrain_freeze import PretrainFreeze
from tlsweep.run import run

PRETRAININGS: list[str] = []


def counting(original):  # noqa: ANN001, ANN201 - wraps PretrainFreeze.pretrain
    def _pretrain(self, ctx, tracker):  # noqa: ANN001, ANN202
        PRETRAININGS.append(type(self).__name__)
        return original(self, ctx, tracker)

    return _pretrain


def trials(n: int, cached: bool, a: argparse.Namespace, tmp: Path) -> tuple[int, float]:
    """Run ``n`` fine-tuning trials; return (pretrainings, wall seconds)."""
    PRETRAININGS.clear()
    start = time.perf_counter()
    for i in range(n):
        overrides = [
            "method=pretrain_freeze",
            "sample_size=n25",
            f"dataset.n_subjects={a.subjects}",
            "dataset.resolution_mm=4.0",
            "split.val_pool=20",
            "train.device=cpu",
            "train.patience=0",
            "pretrain.patience=0",
            "train.checkpoint_every_epoch=false",
            "tracking.log_checkpoint=false",
            f"train.lr={1e-3 * (1 + i)}",
            f"pretrain.epochs={a.pretrain_epochs}",
            f"train.epochs={a.epochs}",
            f"pretrain.cache={str(cached).lower()}",
            f"pretrain.cache_dir={tmp / 'encoders'}",
            f"cache_dir={a.cache}",
            f"output_dir={tmp / f'run{i}'}",
            "tracking.enabled=false",
            "train.progress=false",
        ]
        with initialize_config_module(version_base="1.3", config_module="tlsweep.conf"):
            run(compose("config", overrides=overrides))
    return len(PRETRAININGS), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 runs, 1 pretraining epoch")
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--subjects", type=int, default=400)
    parser.add_argument("--pretrain-epochs", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=Path("~/.cache/tlsweep").expanduser())
    a = parser.parse_args()
    if a.quick:
        a.runs, a.pretrain_epochs = 3, 1
    logging.basicConfig(level=logging.WARNING)
    PretrainFreeze.pretrain = counting(PretrainFreeze.pretrain)
    rows = {}
    for cached in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            rows[cached] = trials(a.runs, cached, a, Path(tmp))
    print(
        f"{a.runs} fine-tuning runs of pretrain_freeze (n25, {a.subjects} subjects at 4 mm, "
        f"pretrain.epochs={a.pretrain_epochs}, train.epochs={a.epochs}), tiny3d, CPU"
    )
    print(f"{'':12s} {'pretrainings':>12s} {'wall s':>8s}")
    for cached, (count, wall) in rows.items():
        print(f"{'cache ' + ('on' if cached else 'off'):12s} {count:12d} {wall:8.1f}")
    print(f"wall-time ratio cache on / off: {rows[True][1] / rows[False][1]:.2f}")


if __name__ == "__main__":
    main()
