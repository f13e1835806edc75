"""Worker idle time of batch vs async scheduling, with real parallel submitit_local workers.

Trials sleep for lognormal durations (the same list for both modes) and run through the real
plugin with ``hydra/launcher=submitit_local`` and ``n_jobs`` workers. Two idle fractions over
the sweep's span (first ask to last tell) and ``n_jobs`` slots:

* slot idle: no job running or starting in a slot (what scheduling controls; batches wait for
  their slowest trial). Target for async: <= 10 %. It includes the tail, when fewer than
  ``n_jobs`` trials are left; "before tail" counts only until the last trial is handed out.
* compute idle: a slot not running trial code, which adds each job's start-up (a fresh Python
  process that imports Hydra) and submitit's 1 s result polling; the same in both modes.

    .venv/bin/python benchmarks/async_idle.py [--quick] [--trials 24] [--n-jobs 4]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
from datetime import datetime
from pathlib import Path

from _common import multirun


def idle(study, sweep_dir: Path, durations: list[float], n_jobs: int) -> tuple[float, ...]:
    """(span seconds, slot idle fraction, compute idle fraction) of a finished sweep.

    A slot holds a trial from its ask until its job ends, which is when the job's log file was
    last written (a batch's results all reach Optuna only when its slowest job ends).
    """
    trials = study.trials
    ends = {
        t.number: datetime.fromtimestamp(os.path.getmtime(t.user_attrs["tlsweep:log"]))
        for t in trials
    }
    start = min(t.datetime_start for t in trials)
    span = (max(t.datetime_complete for t in trials) - start).total_seconds()
    in_flight = sum((ends[t.number] - t.datetime_start).total_seconds() for t in trials)
    computing = sum(durations[t.number] for t in trials)
    capacity = n_jobs * span
    # steady state: until the last trial is handed out, before the unavoidable tail
    last_ask = max(t.datetime_start for t in trials)
    window = (last_ask - start).total_seconds()
    steady = sum(
        max(0.0, (min(ends[t.number], last_ask) - t.datetime_start).total_seconds())
        for t in trials
    )
    steady_idle = 1 - steady / (n_jobs * window) if window > 0 else 0.0
    return span, 1 - in_flight / capacity, steady_idle, 1 - computing / capacity


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="8 trials of ~1 s")
    p.add_argument("--trials", type=int, default=24)
    p.add_argument("--n-jobs", type=int, default=4)
    p.add_argument("--median-s", type=float, default=4.0, help="median trial duration")
    p.add_argument("--sigma", type=float, default=0.8, help="lognormal sigma of durations")
    a = p.parse_args()
    if a.quick:
        a.trials, a.median_s = 8, 1.0
    rng = random.Random(0)
    durations = [round(a.median_s * rng.lognormvariate(0, a.sigma), 2) for _ in range(a.trials)]
    print(
        f"{a.trials} trials, n_jobs={a.n_jobs}, durations (s): min {min(durations)}, "
        f"median {sorted(durations)[a.trials // 2]}, max {max(durations)}, "
        f"sum {sum(durations):.1f}; launcher submitit_local"
    )
    print(
        f"{'schedule':8} {'span s':>7} {'slot idle':>10} {'before tail':>12} {'compute idle':>13}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for schedule in ("batch", "async"):
            sweep_dir = Path(tmp) / schedule
            study = multirun(
                sweep_dir,
                [
                    "hpo=random",
                    "x0=interval(0,1)",
                    "hydra/launcher=submitit_local",
                    f"hydra.sweeper.schedule={schedule}",
                    f"hydra.sweeper.n_jobs={a.n_jobs}",
                    f"hydra.sweeper.n_trials={a.trials}",
                    f"durations=[{','.join(map(str, durations))}]",
                ],
            )
            span, slot, steady, compute = idle(study, sweep_dir, durations, a.n_jobs)
            print(f"{schedule:8} {span:7.1f} {slot:10.1%} {steady:12.1%} {compute:13.1%}")


if __name__ == "__main__":
    main()
