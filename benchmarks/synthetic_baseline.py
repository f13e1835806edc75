"""Calibration of the synthetic cohort: how much do linear models get out of the images?

Generates a cohort (default 400 subjects at 4 mm), normalises each image like the loader does
(z-score over non-zero voxels), flattens it and prints 5-fold cross-validated baselines:
ridge regression for age against the mean predictor, logistic regression for sex and for site
against chance, once per ``--relatedness`` setting (where sex lives, see
:mod:`tlsweep.data.synthetic`; sex from head size at 0, from the age anatomy at 1); then
generation speed at 2 and 4 mm and how faithful 4 mm generation is to a
2 mm subject smoothed down to 4 mm.

    .venv/bin/python benchmarks/synthetic_baseline.py --n 400 --resolution 4 --relatedness 0 1
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from scipy.stats import pearsonr
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tlsweep.data import synthetic, synthetic_writer


def load(root: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """Participants table and (N, voxels) images, each z-scored over its non-zero voxels."""
    table = pd.read_csv(root / "participants.tsv", sep="\t")
    images = []
    for pid in table.participant_id:
        x = nib.load(root / pid / "anat" / f"{pid}_T1w.nii.gz").get_fdata(dtype=np.float32)
        nz = x != 0
        x[nz] = (x[nz] - x[nz].mean()) / x[nz].std()
        images.append(x.ravel())
    x = np.stack(images)
    return table, x[:, (x != 0).any(0)]


def baselines(table: pd.DataFrame, x: np.ndarray, seed: int) -> None:
    """Print 5-fold CV ridge (age), logistic (sex, site) and their trivial references."""
    age = table.age.to_numpy()
    folds = KFold(5, shuffle=True, random_state=seed)
    ridge = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(0, 7, 15)))
    pred = cross_val_predict(ridge, x, age, cv=folds)
    mean = np.concatenate([np.full(len(te), age[tr].mean()) for tr, te in folds.split(x)])
    order = np.concatenate([te for _, te in folds.split(x)])
    print(
        f"age  ridge MAE {np.abs(pred - age).mean():5.2f} y   r = {pearsonr(pred, age)[0]:.2f}"
        f"   | mean predictor MAE {np.abs(mean - age[order]).mean():5.2f} y"
    )
    for col in ("sex", "site"):
        y = table[col].to_numpy()
        strat = StratifiedKFold(5, shuffle=True, random_state=seed)
        logit = make_pipeline(StandardScaler(), LogisticRegression(C=1e-4, max_iter=2000))
        acc = (cross_val_predict(logit, x, y, cv=strat) == y).mean()
        chance = pd.Series(y).value_counts(normalize=True).max()
        print(
            f"{col:4s} logistic accuracy {acc:6.1%}            | chance (majority) {chance:6.1%}"
        )


def speed(resolution: float, n: int = 8) -> float:
    """Seconds per subject on one core (templates already resampled), writing included."""
    synthetic.load_templates(resolution)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        synthetic_writer.generate_cohort(
            Path(tmp) / "c",
            n_subjects=n,
            seed=1,
            resolution_mm=resolution,
            workers=1,
            progress=False,
        )
        return (time.perf_counter() - start) / n


def faithfulness(n: int = 5) -> float:
    """Correlation of noise-free 4 mm subjects with the same subjects made at 2 mm, smoothed."""
    hi, lo = synthetic.load_templates(2.0), synthetic.load_templates(4.0)
    sites = [synthetic.make_site(0, k) for k in range(3)]
    corrs = []
    for i in range(n):
        a = synthetic.synthesize(i, 0, (20.0, 80.0), hi, sites, noise=False)[1]
        b = synthetic.synthesize(i, 0, (20.0, 80.0), lo, sites, noise=False)[1]
        corrs.append(
            np.corrcoef(synthetic._resample(a, hi.affine, lo.axes_mm).ravel(), b.ravel())[0, 1]
        )
    return float(np.mean(corrs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--resolution", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sites", type=int, default=3)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--relatedness", type=float, nargs="+", default=[0.0])
    parser.add_argument("--root", type=Path, default=None, help="keep the cohorts under here")
    parser.add_argument("--no-speed", action="store_true", help="baselines only")
    args = parser.parse_args()
    for relatedness in args.relatedness:
        with tempfile.TemporaryDirectory() as tmp:
            root = (args.root or Path(tmp)) / f"cohort-r{relatedness:g}"
            start = time.perf_counter()
            synthetic_writer.generate_cohort(
                root,
                n_subjects=args.n,
                seed=args.seed,
                n_sites=args.sites,
                resolution_mm=args.resolution,
                relatedness=relatedness,
                workers=args.workers,
            )
            print(
                f"cohort: {args.n} subjects at {args.resolution:g} mm, {args.sites} sites, seed "
                f"{args.seed}, relatedness {relatedness:g}: "
                f"{time.perf_counter() - start:.1f} s wall"
            )
            table, x = load(root)
            shape = synthetic.load_templates(args.resolution).gm.shape
            print(f"features: {x.shape[1]} voxels of the {shape} grid")
            baselines(table, x, args.seed)
    if args.no_speed:
        return
    for res in (2.0, 4.0):
        print(
            f"generation {res:g} mm: {speed(res):.3f} s/subject on one core "
            f"(shape {synthetic.load_templates(res).gm.shape})"
        )
    print(f"4 mm vs 2 mm smoothed to 4 mm, noise-free: r = {faithfulness():.4f}")


if __name__ == "__main__":
    main()
