"""Where a benchmark's wall time goes: start-up, data, pretraining, training, evaluation, sweeper.

Reads what a finished ``make table-learning-curve SIZE=small`` run left in its multirun folder,
without re-running anything: each study's Optuna journal (when each trial was asked and told),
each job's ``metrics.json`` (``wall_s``: the time inside ``tlsweep.run.run``; its file time: the
job's end) and ``tlsweep.log`` (timestamped phase lines: ``threads`` first, ``MLflow run``,
``pretrain epoch``, ``pretrained encoder …: cache``, ``train epoch``, ``final``), and the sweep's
own files (``multirun.yaml``: the sweep began; ``report/``, ``benchmark.csv``: it ended). With
``--run`` it first runs the benchmark itself and records the process start and end, which the
files cannot tell (the interpreter's and Hydra's start-up, the ``tlsweep report`` step).

Per job, from its log: *data + build* is the first log line to the ``MLflow run`` line (cohort
load, splits, network build, MLflow run creation); *pretraining* the pretraining run's lines;
*training* the epochs (with their validation); *evaluation* the last epoch to the ``final``
line (test scoring in final seeds); *wrap-up* to ``metrics.json`` (artifacts, MLflow). *Job
set-up* is the trial's journal start to its first log line (Hydra's job set-up; the first job
also imports torch). *Sweeper* is what is left between the sweep's start and end.

    .venv/bin/python benchmarks/benchmark_cost.py --from multirun/learning_curve-small
    .venv/bin/python benchmarks/benchmark_cost.py --run [--methods scratch --sizes n25]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

from _report import footer

from tlsweep.benchmark.layout import JOB_LOG

ROOT = Path(__file__).resolve().parents[1]
LINE = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]\[([\w.]+)\]\[\w+\] - (.*)$")
PHASES = ("job set-up", "data + build", "pretraining", "training", "evaluation", "wrap-up")
STAMPS = "cost_timestamps.json"


def log_events(path: Path) -> list[tuple[float, str]]:
    """(epoch seconds, message) of every log line of a job."""
    events = []
    for line in path.read_text().splitlines():
        match = LINE.match(line)
        if match:
            when = datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S,%f").astimezone()
            events.append((when.timestamp(), match[3]))
    return events


def phases(job: Path, started: float | None) -> dict[str, float]:
    """Seconds per phase of one job folder (a trial or a final seed), from its log."""
    events = log_events(job / JOB_LOG)
    end = (job / "metrics.json").stat().st_mtime
    times = [t for t, _ in events]
    first = times[0]

    def at(prefix: str, last: bool = False) -> float | None:
        hits = [t for t, m in events if m.startswith(prefix)]
        return (hits[-1] if last else hits[0]) if hits else None

    run_line = next(t for t, m in events if m.startswith("MLflow run ") and " pretrain-" not in m)
    pre_start, pre_end = at("MLflow run pretrain-"), at("pretrained encoder ")
    first_epoch, last_epoch = at("train epoch "), at("train epoch ", last=True)
    final = at("final ") or last_epoch or end
    before_epochs = max([t for t in times if first_epoch is None or t < first_epoch] or [first])
    pretraining = (pre_end - pre_start) if pre_start and pre_end else 0.0
    result = {
        "job set-up": (first - started) if started else 0.0,
        "data + build": run_line - first,
        "pretraining": pretraining,
        "training": (last_epoch - before_epochs) if first_epoch else 0.0,
        "evaluation": final - (last_epoch or final),
        "wrap-up": end - final,
    }
    result["other in run"] = (end - first) - sum(v for k, v in result.items() if k != "job set-up")
    return result


def journal_starts(study: Path) -> dict[int, tuple[float, float]]:
    """Trial number → (asked, told) epoch seconds, from the study's Optuna journal."""
    asked: dict[int, float] = {}
    told: dict[int, float] = {}
    path = study / "optuna_journal.log"
    if not path.exists():
        return {}
    for line in path.read_text().splitlines():
        op = json.loads(line)
        if "datetime_start" in op and op.get("op_code") == 4:
            asked[len(asked)] = datetime.fromisoformat(op["datetime_start"]).timestamp()
        if "datetime_complete" in op:
            told[op["trial_id"]] = datetime.fromisoformat(op["datetime_complete"]).timestamp()
    return {n: (asked[n], told.get(n, asked[n])) for n in asked}


def analyse(sweep: Path) -> tuple[dict[str, dict[str, float]], dict[str, float | None], int]:
    """Seconds per role (trial, final) and phase, the sweep's own milestones, the job count."""
    totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    jobs = 0
    for metrics in sorted(sweep.glob("*/**/metrics.json")):
        job = metrics.parent
        study = job.parent if job.name.isdigit() else None
        started = None
        if study is not None:
            started = journal_starts(study).get(int(job.name), (None, None))[0]
        role = json.loads(metrics.read_text()).get("role", "?")
        for name, span in phases(job, started).items():
            seconds = max(span, 0.0)  # log stamps are to the ms: an empty phase can be -0.001
            totals[role][name] += seconds
            totals[role]["max " + name] = max(totals[role]["max " + name], seconds)
        totals[role]["jobs"] += 1
        jobs += 1
    stamps = json.loads((sweep / STAMPS).read_text()) if (sweep / STAMPS).exists() else {}
    report_files = list((sweep / "report").glob("*"))
    milestones = {
        "process start": stamps.get("process_start"),
        "sweep start": (sweep / "multirun.yaml").stat().st_mtime,
        "report start": min((p.stat().st_mtime for p in report_files), default=None),
        "sweep end": (sweep / "benchmark.csv").stat().st_mtime,
        "process end": stamps.get("process_end"),
    }
    return dict(totals), milestones, jobs


def table(sweep: Path) -> str:
    """The cost table of one sweep folder, as markdown."""
    by_role, ms, jobs = analyse(sweep)
    totals = {k: sum(r.get(k, 0.0) for r in by_role.values()) for k in (*PHASES, "other in run")}
    start = ms["process start"] or ms["sweep start"]
    end = ms["process end"] or ms["sweep end"]
    wall = end - start
    rows: list[tuple[str, float | None]] = [
        ("start-up (interpreter, imports, Hydra, to multirun.yaml)", None),
        *((f"jobs: {name}", totals.get(name, 0.0)) for name in (*PHASES, "other in run")),
    ]
    rows[1] = ("jobs: job set-up (trials only: a final seed's is in 'between jobs')", rows[1][1])
    if ms["process start"]:
        rows[0] = (rows[0][0], ms["sweep start"] - ms["process start"])
    in_jobs = sum(totals.values())
    report_s = (ms["sweep end"] - ms["report start"]) if ms["report start"] else 0.0
    sweeper = (ms["report start"] or ms["sweep end"]) - ms["sweep start"] - in_jobs
    rows.append(("sweeper: between jobs (sampling, journal, cells, launches)", sweeper))
    rows.append(("sweeper: report and benchmark.csv at the end", report_s))
    if ms["process end"]:
        rows.append(("`tlsweep report` step (make target)", ms["process end"] - ms["sweep end"]))
    span = (
        "measured by --run"
        if ms["process start"]
        else ("multirun.yaml to benchmark.csv; process start-up and the report step not recorded")
    )
    lines = [
        f"# Cost of `{sweep.name}` ({jobs} jobs)",
        "",
        f"wall time {int(wall // 60)} min {wall % 60:02.0f} s ({span})",
        "",
        "| part | s | share |",
        "|---|---:|---:|",
    ]
    for name, seconds in rows:
        if seconds is None:
            lines.append(f"| {name} | n/a | |")
        else:
            lines.append(f"| {name} | {seconds:.1f} | {100 * seconds / wall:.0f} % |")
    lines += ["", "| role | jobs | " + " | ".join(PHASES) + " |", "|---" * (len(PHASES) + 2) + "|"]
    for role, parts in sorted(by_role.items()):
        cells = (f"{parts[p]:.1f} (max {parts['max ' + p]:.1f})" for p in PHASES)
        lines.append(f"| {role} | {parts['jobs']:.0f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> Path:
    """Run the benchmark as ``make table-learning-curve`` does, recording start and end."""
    sweep = ROOT / args.sweep_dir
    tlsweep = Path(sys.executable).with_name("tlsweep")
    start = time.time()
    subprocess.run(
        [
            str(tlsweep), "-m", "+experiment=bench_small", f"method={args.methods}",
            f"sample_size={args.sizes}", f"hydra.sweep.dir={sweep}", *args.overrides,
        ],
        check=True,
        cwd=ROOT,
    )  # fmt: skip
    report = [str(tlsweep), "report", "--out", str(sweep / "cost-report"), str(sweep)]
    subprocess.run([*report, "--name", sweep.name], check=True, cwd=ROOT)
    stamps = {"process_start": start, "process_end": time.time()}
    (sweep / STAMPS).write_text(json.dumps(stamps))
    return sweep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", help="an existing multirun folder")
    parser.add_argument("--run", action="store_true", help="run the benchmark first")
    parser.add_argument("--methods", default="scratch,pretrain_freeze,simclr")
    parser.add_argument("--sizes", default="n25,n100")
    parser.add_argument("--sweep-dir", default="multirun/benchmark_cost-small")
    parser.add_argument("--out", default=str(ROOT / "reports" / "benchmark_cost.md"))
    parser.add_argument("overrides", nargs="*", help="more tlsweep overrides for --run")
    args = parser.parse_args()
    if not args.run and not args.source:
        parser.error("give --from multirun/<folder> or --run")
    sweep = run(args) if args.run else Path(args.source)
    text = table(sweep)
    print(text)
    Path(args.out).write_text(text + footer())


if __name__ == "__main__":
    main()
