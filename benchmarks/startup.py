"""Start-up cost of the CLI and of one trial before its first training step.

CLI: ``tlsweep --help`` must not import torch, MONAI, MLflow or Optuna. Prints the median wall
time of ``tlsweep --help`` next to a bare ``python -c pass`` (the ratio shows what tlsweep and
Hydra add) and the heavy modules that were imported. Target: under 1 s.

Trial (``--trial``): a fresh interpreter times, in wall and CPU seconds (CPU time is what a busy
shared machine does not inflate), each thing a ``debug=smoke`` trial does before its first step,
in the order ``tlsweep.run.run`` does it: import torch, import the rest of ``tlsweep.run``,
compose the config, load the (cached) cohort, split it and fit the task scalers, build the method
and encoder with the input-shape check, import MLflow and open the run's tracker.

    .venv/bin/python benchmarks/startup.py [--repeats 7] [--trial]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

HEAVY = ("torch", "monai", "mlflow", "optuna", "sklearn", "pandas", "scipy")
PROBE = (
    "import sys\nsys.argv = ['tlsweep', '--help']\nfrom tlsweep.cli import main\n"
    "try:\n    main()\nexcept SystemExit:\n    pass\n"
    f"print('HEAVY=' + ','.join(m for m in {HEAVY!r} if m in sys.modules))"
)


TRIAL_PROBE = r"""
import os, resource, sys, tempfile, time
marks = []
def mark(name):
    marks.append((name, time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)))
mark("start")
import torch
mark("import torch")
import tlsweep.run as R
from hydra.utils import instantiate
mark("import tlsweep.run (rest)")
from hydra import compose, initialize_config_module
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict
tmp = tempfile.mkdtemp()
os.makedirs(f"{tmp}/run")
with initialize_config_module(version_base="1.3", config_module="tlsweep.conf"):
    cfg = compose("config", overrides=["debug=smoke", "train.progress=false",
        f"cache_dir={sys.argv[1]}", f"output_dir={tmp}/run",
        f"tracking.uri=sqlite:///{tmp}/mlflow.db"], return_hydra_config=True)
HydraConfig.instance().set_config(cfg)
with open_dict(cfg):
    del cfg["hydra"]
R.check_run_config(cfg)
mark("compose config")
R._seed_everything(cfg.seed, cfg.train)
mark("seed, threads (threadpoolctl)")
cohort = instantiate(cfg.dataset).load(progress=False)
mark("load cohort (cached)")
source = R.Task("source_task", **cfg.source_task)
target = R.Task("target_task", **cfg.target_task)
splits = R.make_splits(cohort.table, target=target, source=source, cfg=cfg.split,
    n_train=cfg.sample_size.n_train, n_val=cfg.sample_size.n_val)
target.fit_scaler(cohort.table.loc[splits["train"], target.column])
mark("splits, scalers")
method = R.build_method(cfg.method)
mark("build method")
encoder = instantiate(cfg.encoder)
mark("build encoder (tiny3d, no MONAI)")
R._check_input_shape(encoder, tuple(cohort.images.shape[1:]), "tiny3d")
mark("input-shape check (first forward)")
from tlsweep.tracking.run_tracking import open_tracker
mark("import tracking (MLflow)")
with open_tracker(cfg, R.run_choices(cfg), R.JobInfo.from_env()) as tracker:
    mark("open MLflow run (new sqlite db)")
for (a, ta, ra), (b, tb, rb) in zip(marks, marks[1:]):
    cpu = rb.ru_utime + rb.ru_stime - ra.ru_utime - ra.ru_stime
    print(f"{b:34}{tb - ta:10.2f}{cpu:10.2f}")
print(f"{'total':34}{marks[-1][1] - marks[0][1]:10.2f}")
"""


def trial(cache: str) -> None:
    """Print the trial start-up table (a fresh interpreter, so imports are paid in full)."""
    run = [sys.executable, "-c", TRIAL_PROBE, cache]
    proc = subprocess.run(run, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"trial probe failed:\n{proc.stderr[-2000:]}")
    out = proc.stdout
    print(f"\ndebug=smoke trial before its first step\n{'step':34}{'wall s':>10}{'CPU s':>10}")
    print(out.rstrip())


def wall(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--trial", action="store_true", help="also time a trial's start-up")
    parser.add_argument("--cache", default=str(Path.home() / ".cache" / "tlsweep"))
    args = parser.parse_args()
    cli = [sys.executable, "-m", "tlsweep.cli", "--help"]
    bare = [sys.executable, "-c", "pass"]
    times = {"tlsweep --help": [], "python -c pass": []}
    for _ in range(args.repeats):  # interleaved, so noise hits both
        times["tlsweep --help"].append(wall(cli))
        times["python -c pass"].append(wall(bare))
    heavy = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True)
    imported = heavy.stdout.strip().rsplit("HEAVY=", 1)[-1] or "none"
    help_s, bare_s = (statistics.median(v) for v in times.values())
    print(f"{'command':18}{'median s':>10}")
    for name, values in times.items():
        print(f"{name:18}{statistics.median(values):10.3f}")
    print(
        f"ratio tlsweep/python: {help_s / bare_s:.1f}   tlsweep --help: {help_s:.2f} s "
        f"(target < 1 s)   heavy modules imported: {imported}"
    )
    if args.trial:
        trial(args.cache)


if __name__ == "__main__":
    main()
