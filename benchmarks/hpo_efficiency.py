"""How fast random, TPE and GP find the optimum of Hartmann6 and Branin through the real plugin.

Every (function, sampler, seed) is one ``-m`` multirun of the sweeper test app, so the numbers
include the plugin's search-space parsing, seeding and Hydra launching. Printed: the median
best-so-far after N trials; the trials TPE needs to reach random search's median best at 100
trials, next to bare Optuna multivariate TPE (ask/tell, in memory) on the same seeds; and the
plugin's wall time per trial against a bare ask/tell loop with the same sampler, as a ratio.

    .venv/bin/python benchmarks/hpo_efficiency.py [--quick] [--seeds 20] [--trials 100]
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import optuna
from _common import APP, multirun

optuna.logging.set_verbosity(optuna.logging.WARNING)
_spec = importlib.util.spec_from_file_location("objective_app", APP)
app = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(app)

SPACES = {  # name -> (optimum, bounds per dimension)
    "hartmann6": (-3.32237, [(0.0, 1.0)] * 6),
    "branin": (0.397887, [(-5.0, 10.0), (0.0, 15.0)]),
}
CHECKPOINTS = (10, 20, 50, 100)


def plugin_run(fn: str, sampler: str, seed: int, n: int, root: Path) -> tuple[list[float], float]:
    """Best-so-far curve and wall seconds per trial of one plugin multirun."""
    bounds = SPACES[fn][1]
    space = [f"x{i}=interval({lo},{hi})" for i, (lo, hi) in enumerate(bounds)]
    study = multirun(
        root / f"{fn}-{sampler}-{seed}",
        [
            f"hpo={sampler}",
            f"fn={fn}",
            *space,
            f"hydra.sweeper.n_trials={n}",
            f"hydra.sweeper.seed={seed}",
            "hydra.sweeper.n_jobs=1",
        ],
    )
    trials = sorted(study.trials, key=lambda t: t.number)
    wall = (trials[-1].datetime_complete - trials[0].datetime_start).total_seconds()
    return best_so_far([t.value for t in trials]), wall / len(trials)


def bare_run(fn: str, sampler: str, seed: int, n: int) -> tuple[list[float], float]:
    """The same search with a bare in-memory Optuna ask/tell loop."""
    make = {
        "random": lambda: optuna.samplers.RandomSampler(seed=seed),
        "tpe": lambda: optuna.samplers.TPESampler(multivariate=True, seed=seed),
        "gp": lambda: optuna.samplers.GPSampler(seed=seed),
    }[sampler]
    study = optuna.create_study(sampler=make())
    bounds = SPACES[fn][1]
    values, tic = [], time.perf_counter()
    for _ in range(n):
        trial = study.ask()
        x = [trial.suggest_float(f"x{i}", lo, hi) for i, (lo, hi) in enumerate(bounds)]
        values.append(app.FUNCTIONS[fn](x))
        study.tell(trial, values[-1])
    return best_so_far(values), (time.perf_counter() - tic) / n


def best_so_far(values: list[float]) -> list[float]:
    out, best = [], math.inf
    for v in values:
        best = min(best, v)
        out.append(best)
    return out


def trials_to_reach(curve: list[float], target: float) -> float:
    return next((i + 1 for i, v in enumerate(curve) if v <= target), math.inf)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="3 seeds x 30 trials (gp 2 x 20)")
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--trials", type=int, default=100)
    p.add_argument("--gp-seeds", type=int, default=6)
    p.add_argument("--gp-trials", type=int, default=50)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    a = p.parse_args()
    if a.quick:
        a.seeds, a.trials, a.gp_seeds, a.gp_trials = 3, 30, 2, 20
    plan = {
        "random": (a.seeds, a.trials),
        "tpe": (a.seeds, a.trials),
        "gp": (a.gp_seeds, a.gp_trials),
    }
    jobs = [(fn, s, seed, n) for fn in SPACES for s, (k, n) in plan.items() for seed in range(k)]
    print(
        f"{len(jobs)} plugin multiruns on {a.workers} workers; gp: {a.gp_seeds} seeds x "
        f"{a.gp_trials} trials (GP is slow), random/tpe: {a.seeds} seeds x {a.trials} trials"
    )
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(a.workers) as pool:
        runs = dict(zip(jobs, pool.map(lambda j: plugin_run(*j, Path(tmp)), jobs)))
    bare = {j: bare_run(*j) for j in jobs if j[1] != "gp"}
    print_curves(runs, plan)
    print_tpe_vs_random(runs, bare, plan, a.trials)
    print_overhead(runs, bare, plan)


def print_curves(runs: dict, plan: dict) -> None:
    print("\nmedian best-so-far after N trials (optimum: hartmann6 -3.32237, branin 0.397887)")
    print(
        f"{'function':10} {'sampler':7} {'seeds':>5} "
        + " ".join(f"{f'N={c}':>9}" for c in CHECKPOINTS)
    )
    for fn in SPACES:
        for s, (k, n) in plan.items():
            cells = []
            for c in CHECKPOINTS:
                vals = [runs[(fn, s, seed, n)][0][c - 1] for seed in range(k)] if c <= n else []
                cells.append(f"{statistics.median(vals):9.4f}" if vals else f"{'-':>9}")
            print(f"{fn:10} {s:7} {k:5d} " + " ".join(cells))


def print_tpe_vs_random(runs: dict, bare: dict, plan: dict, n: int) -> None:
    k = plan["tpe"][0]
    print(
        f"\ntrials TPE needs to reach random search's median best at {n} trials "
        f"(median of {k} seeds)"
    )
    print(f"{'function':10} {'target':>9} {'plugin tpe':>10} {'bare tpe':>9}")
    for fn in SPACES:
        target = statistics.median(runs[(fn, "random", s, n)][0][-1] for s in range(k))
        plug = statistics.median(
            trials_to_reach(runs[(fn, "tpe", s, n)][0], target) for s in range(k)
        )
        raw = statistics.median(
            trials_to_reach(bare[(fn, "tpe", s, n)][0], target) for s in range(k)
        )
        print(f"{fn:10} {target:9.4f} {plug:10} {raw:9}")


def print_overhead(runs: dict, bare: dict, plan: dict) -> None:
    print(
        "\nwall seconds per trial: plugin (Hydra job per trial, journal storage) vs bare ask/tell"
    )
    print(f"{'function':10} {'sampler':7} {'plugin':>8} {'bare':>8} {'ratio':>7} {'overhead':>9}")
    for fn in SPACES:
        for s in ("random", "tpe"):
            k, n = plan[s]
            plug = statistics.median(runs[(fn, s, seed, n)][1] for seed in range(k))
            raw = statistics.median(bare[(fn, s, seed, n)][1] for seed in range(k))
            print(f"{fn:10} {s:7} {plug:8.4f} {raw:8.4f} {plug / raw:7.1f} {plug - raw:8.4f}s")


if __name__ == "__main__":
    main()
