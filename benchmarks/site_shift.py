"""How much worse is a model on a scanner it never saw? The synthetic cohort's site calibration.

For each ``--site-effect`` (how far the synthetic sites' tissue contrast and bias field differ,
``dataset.site_effect``), trains a scratch model on subjects of sites A and B
(``split.held_out_sites=[site-C]``) over ``--seeds`` seeds through the real CLI, and prints the
internal test MAE (held-out subjects of sites A and B), the external one (every subject of site
C), their ratio per seed, and the mean predictor's external MAE. On real brain-age data the
external MAE of a site-held-out test runs 1.5–2.5× the internal one (OpenBHB); the default
``site_effect`` is chosen to land a scratch SFCN there.

    .venv/bin/python benchmarks/site_shift.py --site-effect 1 0.5 0.3 --seeds 3 \\
        --out reports/site_shift.md
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _report import footer

METRICS = ("test/mae", "test_external/mae", "baseline/test_external/mae", "val/mae")


def run(
    folder: Path, cache: Path, site_effect: float, seed: int, args: argparse.Namespace
) -> dict:
    """One scratch run with site C held out; its final metrics."""
    overrides = [
        "method=scratch",
        f"encoder={args.encoder}",
        f"sample_size={args.sample_size}",
        "split.held_out_sites=[site-C]",
        f"split.source_fraction={args.source_fraction}",
        f"train.epochs={args.epochs}",
        f"dataset.site_effect={site_effect}",
        f"seed={seed}",
        "tracking.enabled=false",
        "train.progress=false",
        f"cache_dir={cache}",
        f"hydra.run.dir={folder}",
    ]
    cmd = [sys.executable, "-m", "tlsweep.cli", *overrides]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return json.loads((folder / "metrics.json").read_text())["metrics"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site-effect", type=float, nargs="+", default=[1.0, 0.5, 0.3])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--encoder", default="sfcn")
    parser.add_argument("--sample-size", default="n100")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--source-fraction", type=float, default=0.05)
    parser.add_argument("--cache", type=Path, default=None, help="default: a fresh temp folder")
    parser.add_argument("--out", type=Path, default=None, help="write the table here (Markdown)")
    args = parser.parse_args()

    header = (
        f"# Site shift: scratch {args.encoder}, {args.sample_size} from sites A and B, "
        f"site C held out\n\n{args.epochs} epochs, {args.seeds} seeds, the default 600-subject "
        "4 mm cohort; MAE in years, mean ± sd over seeds; ratio: external / internal per seed.\n"
    )
    lines = [
        header,
        "| site_effect | internal MAE | external MAE | ratio | mean predictor, external | s |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    print(header)
    with tempfile.TemporaryDirectory() as tmp:
        cache = args.cache or Path(tmp) / "cache"
        for strength in args.site_effect:
            started, rows = time.perf_counter(), []
            for seed in range(args.seeds):
                folder = Path(tmp) / f"site{strength:g}-seed{seed}"
                rows.append(run(folder, cache, strength, seed, args))
                values = " ".join(f"{m}={rows[-1][m]:.2f}" for m in METRICS)
                print(f"site_effect {strength:g} seed {seed}: {values}", flush=True)
            inside, outside = (np.array([r[m] for r in rows]) for m in METRICS[:2])
            ratio, trivial = outside / inside, np.mean([r[METRICS[2]] for r in rows])
            lines.append(
                f"| {strength:g} | {_pm(inside)} | {_pm(outside)} | {_pm(ratio, 2)} | "
                f"{trivial:.2f} | {time.perf_counter() - started:.0f} |"
            )
            print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    if args.out:
        args.out.write_text(text + footer())
        print(f"written to {args.out}")


def _pm(values: np.ndarray, digits: int = 1) -> str:
    sd = values.std(ddof=1) if len(values) > 1 else float("nan")
    return f"{values.mean():.{digits}f} ± {sd:.{digits}f}"


if __name__ == "__main__":
    main()
