"""k small trials on this machine: one after another vs packed (n_jobs at once, threads split).

Each mode is a real ``tlsweep -m hpo=tpe method=scratch ... hydra/launcher=submitit_local``
study (one process per trial, as a user runs it), in its own temp dir with its own
``TLSWEEP_CACHE`` and MLflow database, both made first so that cohort generation, preprocessing
and the database's schema migrations are not timed. The sampler is seeded (``hpo=tpe``: seed 0),
so the modes train the same trial configurations. Modes:

- ``one at a time``: ``hydra.sweeper.n_jobs=1``;
- ``packed, whole machine each``: ``n_jobs=J`` and every trial sizes its pools for all CPUs
  (``train.threads`` set to the CPU count: the behaviour before ``tlsweep.resources``);
- ``packed, threads split``: ``n_jobs=J`` as a user runs it: the sweeper tells each job that
  ``J`` share the machine (its ``parallel_jobs``), so a trial takes ``CPUs // J`` threads.

Printed, and written to ``reports/packing.md``: wall time of the whole study, median trial time
(from the study's journal: ask to result, process start-up included), the thread decision the
trials logged, and the wall-time ratio against one at a time. Load average before and after each
mode is printed too: on a shared machine, other users' work shows up there and in the ratio.

    .venv/bin/python benchmarks/packing.py [--trials 4] [--jobs 2] [--epochs 24] [--repeats 1]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _report import footer

from tlsweep.benchmark.jobs import VARIABLES

ROOT = Path(__file__).resolve().parents[1]
TLSWEEP = Path(sys.executable).with_name("tlsweep")
JOURNAL = "optuna_journal.log"
MODES = ("one at a time", "packed, whole machine each", "packed, threads split")


@dataclass
class Result:
    """One mode's study: wall seconds, per-trial seconds, the thread decisions logged."""

    mode: str
    n_jobs: int
    wall: float
    trials: list[float]
    threads: set[str]
    load: tuple[float, float]


def trial_overrides(a: argparse.Namespace) -> list[str]:
    """The trial configuration shared by every mode (small: debug=smoke-sized, CPU)."""
    return [
        "method=scratch",
        "debug=smoke",
        f"dataset.n_subjects={a.subjects}",
        f"train.epochs={a.epochs}",
        "final.seeds=0",  # the k tuning trials only, no reruns of the best one
        "train.device=cpu",
        "train.progress=false",
        "train.checkpoint_every_epoch=false",
    ]


def warm(dirs: list[Path], a: argparse.Namespace) -> None:
    """Fill each dir's cohort cache and create its MLflow database (both untimed).

    The cohort is generated once and copied; each cache then preprocesses its own copy (the
    volume cache is keyed by file paths), so every mode reads its own warm ``TLSWEEP_CACHE``.
    """
    code = (
        "import shutil, sys\n"
        "from hydra import compose, initialize_config_module\n"
        "from hydra.utils import instantiate\n"
        "from mlflow.tracking import MlflowClient\n"
        "dirs = sys.argv[1].split(',')\n"
        "for d in dirs:\n"
        "    if d != dirs[0]:\n"
        "        cohort = 'cache/synthetic_brain'\n"
        "        shutil.copytree(f'{dirs[0]}/{cohort}', f'{d}/{cohort}')\n"
        "    with initialize_config_module(version_base='1.3', config_module='tlsweep.conf'):\n"
        "        cfg = compose('config', overrides=[*sys.argv[2:], f'cache_dir={d}/cache'])\n"
        "    instantiate(cfg.dataset).load(progress=False)\n"
        "    MlflowClient(f'sqlite:///{d}/mlflow.db').search_experiments()\n"
    )
    args = [sys.executable, "-c", code, ",".join(map(str, dirs)), *trial_overrides(a)]
    subprocess.run(args, check=True, capture_output=True, timeout=a.timeout)


def study(mode: str, a: argparse.Namespace, tmp: Path) -> Result:
    """Run one mode's study in ``tmp`` and measure it."""
    jobs = 1 if mode == MODES[0] else a.jobs
    cpus = len(os.sched_getaffinity(0))
    extra = {
        MODES[0]: [],
        MODES[1]: [f"train.threads={cpus}"],
        MODES[2]: [],  # the sweeper itself tells each job its share
    }[mode]
    sweep = tmp / "sweep"
    cmd = [
        str(TLSWEEP),
        "-m",
        "hpo=tpe",
        *trial_overrides(a),
        f"hydra.sweeper.n_trials={a.trials}",
        f"hydra.sweeper.n_jobs={jobs}",
        "hydra/launcher=submitit_local",
        f"hydra.sweep.dir={sweep}",
        f"tracking.uri=sqlite:///{tmp / 'mlflow.db'}",
        *extra,
    ]
    env = {k: v for k, v in os.environ.items() if k not in VARIABLES.values()}
    env["TLSWEEP_CACHE"] = str(tmp / "cache")
    before = os.getloadavg()[0]
    start = time.perf_counter()
    returncode, stderr = _run_group(cmd, tmp, env, a.timeout)
    wall = time.perf_counter() - start
    if returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{stderr[-3000:]}")
    return Result(
        mode, jobs, wall, trial_seconds(sweep), decisions(sweep), (before, os.getloadavg()[0])
    )


def _run_group(cmd: list[str], cwd: Path, env: dict, timeout: float) -> tuple[int, str]:
    """Run ``cmd`` in its own process group; on timeout or Ctrl-C, stop the group (its trials)."""
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        _, stderr = proc.communicate(timeout=timeout)
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    return proc.returncode, stderr


def trial_seconds(sweep: Path) -> list[float]:
    """Ask-to-result seconds of every finished trial in the study's journal."""
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    out = []
    for path in sweep.rglob(JOURNAL):
        storage = JournalStorage(JournalFileBackend(str(path)))
        for summary in optuna.get_all_study_summaries(storage):
            trials = optuna.load_study(study_name=summary.study_name, storage=storage).trials
            out += [t.duration.total_seconds() for t in trials if t.duration is not None]
    return out


def decisions(sweep: Path) -> set[str]:
    """The ``threads: …`` lines the trials logged (tlsweep.resources.configure_threads)."""
    found = set()
    for log in sweep.rglob("*.log"):
        if log.name != JOURNAL:
            found |= set(re.findall(r"threads: (\d+ \([^)]*\))", log.read_text(errors="replace")))
    return found


def table(results: dict[str, list[Result]], a: argparse.Namespace) -> str:
    """Markdown table: the best of the repeats of each mode, ratio against one at a time."""
    best = {m: min(rs, key=lambda r: r.wall) for m, rs in results.items()}
    base = best[MODES[0]].wall
    cpu = _cpu_name()
    lines = [
        f"# Packing: {a.trials} small trials, one after another vs packed",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M')}, {len(os.sched_getaffinity(0))} CPUs ({cpu}), "
        f"`tlsweep -m hpo=tpe {' '.join(trial_overrides(a))} hydra.sweeper.n_trials={a.trials} "
        f"hydra/launcher=submitit_local`; best of {a.repeats} per mode; "
        "trial s = ask to result, process start-up included.",
        "",
        "| mode | n_jobs | threads per trial | wall s | median trial s | wall ratio "
        "| load before/after |",
        "|---|---|---|---|---|---|---|",
    ]
    for mode in MODES:
        r = best[mode]
        trial = f"{statistics.median(r.trials):.1f}" if r.trials else "-"
        threads = ", ".join(sorted(r.threads)) or "-"
        lines.append(
            f"| {mode} | {r.n_jobs} | {threads} | {r.wall:.1f} | {trial} | {r.wall / base:.2f} "
            f"| {r.load[0]:.1f} / {r.load[1]:.1f} |"
        )
    lines += ["", "wall ratio = study wall time / one at a time's (< 1: packing is faster)."]
    return "\n".join(lines) + "\n"


def _cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--epochs", type=int, default=24)
    parser.add_argument("--subjects", type=int, default=72)
    parser.add_argument("--repeats", type=int, default=1, help="rounds; modes alternate")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "packing.md")
    a = parser.parse_args()
    results: dict[str, list[Result]] = {m: [] for m in MODES}
    base = Path(tempfile.mkdtemp(prefix="tlsweep-packing-"))
    try:
        dirs = {m: base / f"mode{i}" for i, m in enumerate(MODES)}
        warm(list(dirs.values()), a)
        for round_ in range(a.repeats):
            for mode in MODES if round_ % 2 == 0 else MODES[::-1]:
                shutil.rmtree(dirs[mode] / "sweep", ignore_errors=True)
                results[mode].append(study(mode, a, dirs[mode]))
                r = results[mode][-1]
                print(f"  {mode}: {r.wall:.1f} s", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    text = table(results, a)
    print(text)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(text + footer())


if __name__ == "__main__":
    main()
