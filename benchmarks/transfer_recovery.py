"""Planted transfer: does tlsweep find a transfer effect that is there, and none that is not?

The synthetic cohort's ``dataset.relatedness`` plants the answer (:mod:`tlsweep.data.synthetic`):
at 0 the source label (sex) lives in head size only, so supervised pretraining on sex has nothing
to give age; at 1 it lives only in how old the brain looks (a male brain looks 30 y older, through
the ventricles, sulcal CSF and grey/white contrast that age acts on), so a sex classifier's
features measure brain ageing. The shuffled-label control
(``source_task.shuffle_labels=true`` at relatedness 1) must remove the supervised gain, and
SimCLR (which never sees a label) should not care about the knob.

Pre-registered (:mod:`_planted`, docs/notes/transfer_recovery.md): the reported seeds and the
cohort (``dataset.seed``) are disjoint from those the planted cohort was designed on (the script
refuses otherwise); the label gain must be > 0 at relatedness 1 (one-sided t-test) and within
±1 y of 0 at relatedness 0 (TOST), so the control runs at every relatedness.

Runs scratch, pretrain_freeze and simclr at each n and relatedness, plus the control, for
``--seeds`` seeds (from ``--first-seed``), each a real ``tlsweep.run.run`` on a config composed
like the CLI's (tracking off). Budgets are equal and fixed (no HPO): every method fine-tunes for
the same epochs at the same learning rate, and both pretraining methods pretrain for the same
epochs; pretrained encoders are cached per (method, relatedness, seed), so each pretrains once
for all n. Prints test MAE mean ± sd, the transfer gain ``scratch - method`` and, on
pretrain_freeze rows, the *label gain* ``shuffled control - pretrain_freeze`` (what the source
labels themselves are worth, pretraining, freezing and budget held equal: the quantity the
planted effect is about), each with a paired 95 % Student-t CI over seeds, then the
pre-registered tests; writes both as markdown. Each seed is a new split (``split.seed``), so
also a new source set, target draw, test set and control permutation, besides initialisation
and batch order; methods are paired within a seed.
Every pretrained method fine-tunes with ``--freeze`` lowest encoder stages frozen (default 2, as
the methods' yaml).

    .venv/bin/python benchmarks/transfer_recovery.py            # CPU default size
    .venv/bin/python benchmarks/transfer_recovery.py --full     # GPU size
    .venv/bin/python benchmarks/transfer_recovery.py --smoke    # a minute: the code path only
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import pandas as pd
from _planted import COHORT_SEED, FIRST_SEED, check_seeds, tests_table
from _report import footer
from hydra import compose, initialize_config_module

from tlsweep.report.stats import summarize

METHODS = ("scratch", "pretrain_freeze", "simclr")
CONTROL = "pretrain_freeze+shuffled"
FREEZE = 2  # of tiny3d's 4 stages, as the methods' yaml; 4 (head only) measured worse
SIZES = {
    # CPU: 8 mm volumes, small cohort; measured on the shared 2-core machine (see the report)
    # 10 seeds: the TOST's power at the design seeds' spread (_planted.EQUIVALENCE_MARGIN_Y)
    "default": dict(subjects=1000, resolution=8.0, shape=[24, 28, 24], ns=[25, 100], seeds=10,
                    epochs={25: 30, 100: 15}, pretrain_epochs=15, device="cpu", val_pool=60,
                    source_fraction=0.6),
    "full": dict(subjects=2000, resolution=4.0, shape=[48, 56, 48], ns=[25, 100, 400], seeds=10,
                 epochs={25: 40, 100: 20, 400: 10}, pretrain_epochs=20, device="auto",
                 val_pool=100, source_fraction=0.5),
    # the code path only (numbers meaningless); writes no report unless --out is given
    "smoke": dict(subjects=400, resolution=8.0, shape=[24, 28, 24], ns=[25], seeds=2,
                  epochs={25: 2}, pretrain_epochs=1, device="cpu", val_pool=30,
                  source_fraction=0.6),
}  # fmt: skip


def overrides(setting: dict, a: argparse.Namespace, run: dict, out: Path) -> list[str]:
    """Command-line overrides of one run (``run``: method, n, seed, relatedness, shuffled)."""
    return [
        f"method={run['method']}",
        f"sample_size=n{run['n']}",
        f"seed={run['seed']}",
        "encoder=tiny3d",
        f"dataset.n_subjects={setting['subjects']}",
        f"dataset.resolution_mm={setting['resolution']}",
        f"dataset.shape=[{','.join(map(str, setting['shape']))}]",
        f"dataset.relatedness={run['relatedness']}",
        f"dataset.seed={a.cohort_seed}",
        f"source_task.shuffle_labels={str(run['shuffled']).lower()}",
        f"split.val_pool={setting['val_pool']}",
        f"split.source_fraction={setting['source_fraction']}",
        f"split.seed={run['seed']}",  # each seed its own split (and control permutation)
        f"train.epochs={setting['epochs'][run['n']]}",
        "train.patience=0",
        "train.lr=3e-3",
        f"train.device={setting['device']}",
        f"train.threads={a.threads}",
        "train.progress=false",
        "train.checkpoint_every_epoch=false",
        f"pretrain.epochs={setting['pretrain_epochs']}",
        "pretrain.patience=0",
        f"pretrain.cache_dir={out.parent / 'pretrained'}",
        f"cache_dir={a.cache}",
        f"output_dir={out}",
        "tracking.enabled=false",
        *([f"method.freeze_stages={a.freeze}"] if run["method"] != "scratch" else []),
    ]


def test_mae(out: Path) -> float:
    """Test-set MAE (years) from a finished run's predictions."""
    frame = pd.read_csv(out / "predictions.csv")
    test = frame[frame.split == "test"]
    return float((test.y_true - test.y_pred).abs().mean())


def plan(
    setting: dict, relatedness: list[float], methods: list[str], seeds: list[int]
) -> list[dict]:
    """Every run, seed-major so a partial table already has all cells at its seeds.

    The shuffled-label control runs at every relatedness: the label gain is the planted
    quantity where it is planted, and the equivalence test's where it is not.
    """
    runs = []
    for seed in seeds:
        for r in relatedness:
            for n in setting["ns"]:
                for method in (m for m in methods if m != CONTROL):
                    runs.append(dict(method=method, n=n, seed=seed, relatedness=r, shuffled=False))
                if CONTROL in methods:
                    control = dict(method="pretrain_freeze", n=n, seed=seed, relatedness=r)
                    runs.append({**control, "shuffled": True})
    return runs


def run_one(setting: dict, a: argparse.Namespace, spec: dict, root: Path) -> dict[str, float]:
    """One real tlsweep run: its test MAE, and the source-val AUROC of the sex pretraining it
    ran (NaN when it reused a cached one, or its method has no source labels)."""
    from tlsweep.run import run

    name = "{method}-r{relatedness:g}-n{n}-s{seed}{tag}".format(
        **spec, tag="-shuffled" if spec["shuffled"] else ""
    )
    out = root / name
    cache = out.parent / "pretrained"
    before = set(cache.glob("*.json"))
    with initialize_config_module(version_base="1.3", config_module="tlsweep.conf"):
        cfg = compose("config", overrides=overrides(setting, a, spec, out))
    run(cfg)
    auroc = math.nan
    for meta in set(cache.glob("*.json")) - before:  # the pretraining this run did
        scores = json.loads(meta.read_text()).get("source_metrics") or {}
        auroc = scores.get("source_val/auroc", math.nan)
    return {"mae": test_mae(out), "source_auroc": auroc}


def _mean_sd(values: pd.Series) -> str:
    return f"{values.mean():.2f} ± {values.std():.2f}" if len(values) else "—"


def _ci(values: pd.Series) -> str:
    """``mean [95 % CI]`` of paired differences, or a dash when there are none."""
    if values.empty:
        return "—"
    d = summarize(values)
    return f"{d.mean:+.2f} [{d.ci_low:+.2f}, {d.ci_high:+.2f}]"


def table(results: pd.DataFrame) -> pd.DataFrame:
    """Per (relatedness, n, method): source AUROC of the sex pretraining (pretrain_freeze and the
    control), test MAE mean ± sd and two paired gains.

    ``gain`` is ``scratch − method``; ``label gain`` (pretrain_freeze rows, where the control ran)
    is ``shuffled control − pretrain_freeze``: what the source labels themselves are worth, with
    pretraining, freezing and budget held equal.
    """
    rows = []
    for (r, n), cell in results.groupby(["relatedness", "n"], sort=True):
        by_seed = {m: g.set_index("seed").mae for m, g in cell.groupby("method")}
        scratch = by_seed.get("scratch", pd.Series(dtype=float))
        for method, group in cell.groupby("method", sort=False):
            mae = summarize(group.mae)
            same = (results.relatedness == r) & (results.method == method)
            auroc = results[same].source_auroc.dropna()  # measured where it pretrained (one n)
            labels = pd.Series(dtype=float)
            if method == "pretrain_freeze" and CONTROL in by_seed:
                labels = (by_seed[CONTROL] - by_seed[method]).dropna()
            rows.append(
                {
                    "relatedness": r,
                    "n": n,
                    "method": method,
                    "seeds": mae.n,
                    "source AUROC": _mean_sd(auroc),
                    "test MAE": f"{mae.mean:.2f} ± {mae.sd:.2f}",
                    "gain (scratch − method)": "—"
                    if method == "scratch"
                    else _ci((scratch - by_seed[method]).dropna()),
                    "label gain (shuffled − true)": _ci(labels),
                }
            )
    return pd.DataFrame(rows)


def label_gains(results: pd.DataFrame) -> dict[tuple[float, int], pd.Series]:
    """Shuffled control − pretrain_freeze test MAE by seed, per (relatedness, n) where both ran."""
    gains = {}
    for (r, n), cell in results.groupby(["relatedness", "n"], sort=True):
        by_seed = {m: g.set_index("seed").mae for m, g in cell.groupby("method")}
        if CONTROL in by_seed and "pretrain_freeze" in by_seed:
            gains[(r, n)] = (by_seed[CONTROL] - by_seed["pretrain_freeze"]).dropna()
    return gains


def markdown(frame: pd.DataFrame) -> str:
    """A pipe table (pandas' to_markdown needs tabulate, which is not a dependency)."""
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |"]
    lines.append("|" + "---|" * len(frame.columns))
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def arguments() -> argparse.Namespace:
    """The command line, with the size's settings filled in (``a.setting``, ``a.seeds``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--full", action="store_true", help="the GPU size (see SIZES)")
    size.add_argument("--smoke", action="store_true", help="tiny: checks the code path only")
    parser.add_argument("--seeds", type=int, default=None, help="override the size's seeds")
    parser.add_argument("--first-seed", type=int, default=FIRST_SEED, help="pre-registered")
    parser.add_argument("--cohort-seed", type=int, default=COHORT_SEED, help="dataset.seed")
    parser.add_argument("--ns", type=int, nargs="+", default=None, help="override the n's")
    parser.add_argument("--relatedness", type=float, nargs="+", default=[0.0, 1.0])
    parser.add_argument("--methods", nargs="+", default=[*METHODS, CONTROL])
    parser.add_argument("--subjects", type=int, default=None, help="override the cohort size")
    parser.add_argument("--pretrain-epochs", type=int, default=None, help="override")
    parser.add_argument("--cache", type=Path, default=Path("~/.cache/tlsweep").expanduser())
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--freeze", type=int, default=FREEZE, help="encoder stages frozen when fine-tuning"
    )
    parser.add_argument("--out", type=Path, default=None, help="default: reports/ (not smoke)")
    a = parser.parse_args()
    setting = dict(SIZES["full" if a.full else "smoke" if a.smoke else "default"])
    for key in ("seeds", "ns", "subjects", "pretrain_epochs"):
        setting[key] = getattr(a, key) or setting[key]
    a.setting, a.seeds = setting, list(range(a.first_seed, a.first_seed + setting["seeds"]))
    if a.out is None and not a.smoke:
        a.out = Path("reports/transfer_recovery.md")
    try:
        check_seeds(a.seeds, a.cohort_seed)
    except ValueError as exc:
        parser.error(str(exc))
    return a


def main() -> None:
    a = arguments()
    setting = a.setting
    logging.basicConfig(level=logging.WARNING)
    header = (
        f"synthetic cohort {setting['subjects']} subjects (dataset.seed {a.cohort_seed}) at "
        f"{setting['resolution']:g} mm {setting['shape']}, {setting['source_fraction']:.0%} of "
        f"them the source set, tiny3d, device {setting['device']}; seeds {a.seeds[0]}-"
        f"{a.seeds[-1]} (pre-registered, disjoint from the design seeds); fixed budgets, no HPO: "
        f"fine-tuning epochs by n {setting['epochs']} at lr 3e-3 with {a.freeze} frozen stages, "
        f"pretraining {setting['pretrain_epochs']} epochs (pretrain_freeze and simclr alike); "
        "notes on reading it: docs/notes/transfer_recovery.md"
    )
    print(header, flush=True)
    started, records = time.perf_counter(), []
    with TemporaryDirectory() as tmp:
        for spec in plan(setting, a.relatedness, a.methods, a.seeds):
            t = time.perf_counter()
            scores = run_one(setting, a, spec, Path(tmp) / "runs")
            method = CONTROL if spec["shuffled"] else spec["method"]
            records.append({**spec, "method": method, **scores})
            source = scores["source_auroc"]
            print(
                f"  r={spec['relatedness']:g} n={spec['n']:<4d} seed {spec['seed']} {method:25s}"
                f" test MAE {scores['mae']:6.2f}"
                + (f"  source AUROC {source:.2f}" if not math.isnan(source) else "")
                + f"  ({time.perf_counter() - t:4.0f} s)",
                flush=True,
            )
    wall = time.perf_counter() - started
    results = pd.DataFrame(records)
    text, tests = markdown(table(results)), markdown(tests_table(label_gains(results)))
    print(f"\n{text}\n\n{tests}\n\ntotal {wall / 60:.1f} min")
    if a.out is not None:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(report(header, text, tests, wall))


def report(header: str, text: str, tests: str, wall: float) -> str:
    """The markdown report: the table, the pre-registered tests, the provenance footer."""
    return (
        f"# Planted transfer recovery\n\n{header}.\n\nTest MAE in years, mean ± sd over seeds; "
        f"gain = scratch − method, paired by seed, mean [95 % Student-t CI]. "
        f"Wall time {wall / 60:.1f} min.\n\n{text}\n\n## Pre-registered tests\n\n"
        "Label gain = shuffled control − pretrain_freeze, paired by seed; one-sided t-test where "
        "the gain is planted, TOST (two one-sided t-tests, α = 0.05 each) where none is "
        f"(benchmarks/_planted.py).\n\n{tests}\n" + footer()
    )


if __name__ == "__main__":
    main()
