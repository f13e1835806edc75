"""Scaling: the same small HPO sweep with 1, 2, 4 parallel workers; table and plot in reports/.

Each configuration runs the real CLI, ``tlsweep -m hpo=tpe method=scratch debug=smoke`` with
``n_trials`` trials, ``n_jobs`` workers and no final seeds, on a fresh MLflow store and study,
through ``hydra/launcher=submitit_local`` (and ``slurm`` when ``SLURM_CONF`` is set and
``sinfo`` answers: ``scripts/slurm-local.sh up``). A warm-up run first builds the smoke cohort
in the benchmark's cache, so no configuration pays for it. Per configuration:

* wall: the whole command (sweeper start-up, trials, report); speedup and parallel efficiency
  (speedup / n_jobs) against the 1-worker wall time of the same launcher;
* queue wait per trial: submission (submitit writes ``<id>_submitted.pkl``) to the job's process
  starting (submitit's "Starting with JobEnvironment" line); start-up: from there to the trial's
  MLflow run being created (imports, data, model); trial: process start to result;
* CPU: CPU-seconds of the sweep's own process tree (``RUSAGE_CHILDREN``, local launchers only)
  per wall second and core, and the whole machine's busy share from ``/proc/stat`` (other
  users included). MLflow's system metrics need ``psutil``, which is not installed here, and
  this machine has no GPU, so GPU utilisation is reported as n/a.

    .venv/bin/python benchmarks/scaling.py [--trials 8] [--jobs 1,2,4] [--launchers submitit_local]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from _report import footer

ROOT = Path(__file__).resolve().parents[1]
TLSWEEP = Path(sys.executable).parent / "tlsweep"
SWEEP = ["hpo=tpe", "method=scratch", "debug=smoke", "final.seeds=0", "train.progress=false"]
STARTED = re.compile(r"submitit INFO \((.+?)\) - Starting with JobEnvironment")
RUN_MADE = re.compile(r"^\[(.+?)\]\[tlsweep\.tracking\.mlflow_tracker\]\[INFO\] - MLflow run ")


@dataclass
class Result:
    """One configuration's measurements (seconds, fractions)."""

    launcher: str
    n_jobs: int
    trials_ok: int
    wall: float
    queue: list[float]
    startup: list[float]
    trial: list[float]
    cpu_tree: float | None
    cpu_machine: float


class MachineCpu:
    """Busy share of all cores from ``/proc/stat``, sampled in a thread while a sweep runs."""

    def __init__(self) -> None:
        self.busy = self.total = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    @staticmethod
    def _read() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields) - idle, sum(fields)

    def _sample(self) -> None:
        before = self._read()
        while not self._stop.wait(1.0):
            now = self._read()
            self.busy += now[0] - before[0]
            self.total += now[1] - before[1]
            before = now

    def __enter__(self) -> MachineCpu:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def share(self) -> float:
        return self.busy / self.total if self.total else float("nan")


def _stamp(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S,%f").timestamp()


def job_times(sweep_dir: Path) -> list[tuple[float, float, float]]:
    """(queue wait, start-up, trial) seconds of every submitit job of a sweep."""
    times = []
    for submitted in sorted(sweep_dir.glob(".submitit/*/*_submitted.pkl")):
        folder = submitted.parent
        outs = sorted(folder.glob("*_0_log.out"))
        results = sorted(folder.glob("*_0_result.pkl"))
        if not outs or not results:
            continue
        text = outs[0].read_text(errors="replace")
        start = STARTED.search(text)
        made = next((m for m in map(RUN_MADE.match, text.splitlines()) if m), None)
        if start is None or made is None:
            continue
        begin = _stamp(start.group(1))
        times.append(
            (
                begin - submitted.stat().st_mtime,
                _stamp(made.group(1)) - begin,
                results[0].stat().st_mtime - begin,
            )
        )
    return times


def sweep(launcher: str, n_jobs: int, trials: int, work: Path, extra: list[str]) -> Result:
    """Run one configuration in its own folder and measure it."""
    sweep_dir = work / f"{launcher}-j{n_jobs}"
    cmd = [
        str(TLSWEEP),
        "-m",
        *SWEEP,
        f"hydra/launcher={launcher}",
        f"hydra.sweeper.n_trials={trials}",
        f"hydra.sweeper.n_jobs={n_jobs}",
        f"hydra.sweep.dir={sweep_dir}",
        f"tracking.uri=sqlite:///{sweep_dir / 'mlflow.db'}",
        *extra,
    ]
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    with MachineCpu() as machine:
        proc = subprocess.run(cmd, cwd=ROOT, env=_env(work), capture_output=True, text=True)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)
    if proc.returncode != 0:
        print(f"warning: {launcher} n_jobs={n_jobs} exited {proc.returncode}:", file=sys.stderr)
        print(proc.stderr[-1500:], file=sys.stderr)
    times = job_times(sweep_dir)
    local = launcher != "slurm"  # SLURM jobs run under slurmd, not in our process tree
    return Result(
        launcher,
        n_jobs,
        len(list(sweep_dir.glob("*/*/metrics.json"))),
        wall,
        [t[0] for t in times],
        [t[1] for t in times],
        [t[2] for t in times],
        cpu / (wall * os.cpu_count()) if local else None,
        machine.share,
    )


def _env(work: Path) -> dict[str, str]:
    env = {**os.environ, "TLSWEEP_CACHE": str(work / "cache"), "NO_COLOR": "1"}
    env.pop("TLSWEEP_CONF", None)  # the repo's conf/ (cwd) provides hydra/launcher=slurm
    return env


def warm_up(work: Path) -> None:
    """Build the smoke cohort once, outside every measurement."""
    cmd = [str(TLSWEEP), "method=scratch", "debug=smoke", "train.epochs=1",
           "tracking.enabled=false", f"hydra.run.dir={work / 'warmup'}"]  # fmt: skip
    subprocess.run(cmd, cwd=ROOT, env=_env(work), check=True, capture_output=True)


def slurm_available() -> bool:
    """Whether a SLURM cluster answers (``SLURM_CONF`` set and ``sinfo`` works)."""
    if not os.environ.get("SLURM_CONF") or shutil.which("sinfo") is None:
        return False
    return subprocess.run(["sinfo"], capture_output=True, timeout=20).returncode == 0


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def table(results: list[Result], trials: int) -> str:
    """The markdown table, speedup against each launcher's 1-worker run."""
    base = {r.launcher: r.wall for r in results if r.n_jobs == 1}
    lines = [
        "| launcher | workers | trials ok | wall s | speedup | efficiency | queue wait s "
        "(mean / max) | start-up s | trial s | CPU of sweep | CPU of machine | GPU |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        speedup = base.get(r.launcher, float("nan")) / r.wall
        if r.trials_ok < trials:  # a failed sweep's time says nothing about scaling
            speedup = float("nan")
        cpu = f"{r.cpu_tree:.0%}" if r.cpu_tree is not None else "n/a"
        lines.append(
            f"| {r.launcher} | {r.n_jobs} | {r.trials_ok}/{trials} | {r.wall:.0f} | "
            f"{speedup:.2f} | {speedup / r.n_jobs:.0%} | {_mean(r.queue):.1f} / "
            f"{max(r.queue, default=float('nan')):.1f} | {_mean(r.startup):.1f} | "
            f"{_mean(r.trial):.1f} | {cpu} | {r.cpu_machine:.0%} | n/a |"
        )
    return "\n".join(lines)


def plot(results: list[Result], path: Path) -> None:
    """Wall time and speedup against the ideal, per launcher."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_wall, ax_speed) = plt.subplots(1, 2, figsize=(9, 3.6))
    for launcher in dict.fromkeys(r.launcher for r in results):
        rows = [r for r in results if r.launcher == launcher]
        jobs = [r.n_jobs for r in rows]
        base = next((r.wall for r in rows if r.n_jobs == 1), float("nan"))
        ax_wall.plot(jobs, [r.wall for r in rows], "o-", label=launcher)
        ax_speed.plot(jobs, [base / r.wall for r in rows], "o-", label=launcher)
    top = max(r.n_jobs for r in results)
    ax_speed.plot([1, top], [1, top], "k--", lw=0.8, label="ideal")
    ax_speed.axhline(os.cpu_count() or 1, color="grey", lw=0.8, ls=":", label="cores here")
    for ax, label in ((ax_wall, "wall time (s)"), (ax_speed, "speedup")):
        ax.set_xlabel("parallel workers (n_jobs)")
        ax.set_ylabel(label)
        ax.set_xticks(sorted({r.n_jobs for r in results}))
        ax.legend(frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=8)
    p.add_argument("--jobs", default="1,2,4", help="comma list of n_jobs")
    p.add_argument("--launchers", default=None, help="default: submitit_local (+ slurm if up)")
    p.add_argument("--out", type=Path, default=ROOT / "reports")
    p.add_argument("--note", default="", help="a line written under the table")
    p.add_argument("overrides", nargs="*", help="extra tlsweep overrides, e.g. train.epochs=3")
    args = p.parse_args()
    launchers = (args.launchers or "submitit_local").split(",")
    if args.launchers is None and slurm_available():
        launchers.append("slurm")
    with tempfile.TemporaryDirectory(prefix="tlsweep-scaling-") as tmp:
        work = Path(tmp)
        warm_up(work)
        results = []
        for launcher in launchers:
            for n_jobs in (int(j) for j in args.jobs.split(",")):
                results.append(sweep(launcher, n_jobs, args.trials, work, args.overrides))
                print(table(results, args.trials).splitlines()[-1], flush=True)
    text = table(results, args.trials)
    args.out.mkdir(parents=True, exist_ok=True)
    command = " ".join(["benchmarks/scaling.py", *sys.argv[1:]])
    head = (
        f"# Scaling: `tlsweep -m {' '.join(SWEEP)}`, {args.trials} trials\n\n"
        f"`{command}` on {os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M')}. "
        "Speedup and efficiency against 1 worker; CPU of sweep = CPU-seconds of the sweep's "
        "processes / (wall × cores); CPU of machine includes other users.\n\n"
    )
    note = f"\n\n{args.note}\n" if args.note else "\n"
    (args.out / "scaling.md").write_text(head + text + note + footer())
    plot(results, args.out / "scaling.png")
    print(text)


if __name__ == "__main__":
    main()
