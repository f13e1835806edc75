"""Brain-age outputs of a regression target: the gap, its age-bias correction, MAE per band.

The *brain-age gap* is predicted minus true age. Every regression model regresses towards the
training mean, so young subjects get a positive gap and old ones a negative one: the gap
correlates with age, which a disease marker must not. The linear correction of Smith et al.
(2019) and de Lange & Cole (2020) fits ``y_pred = slope * y_true + intercept`` on the
*validation* subjects (whose labels model selection already used) and maps every prediction
through it, ``corrected = (y_pred - intercept) / slope``; the test subjects never enter the fit.
Corrected scores are reported beside the raw ones, never instead of them: correcting with the
true age moves every prediction towards it, so a corrected MAE is not a model's accuracy.

Metrics, for each scored split (``val``, ``test``):

- ``<split>/gap_mean``: the mean raw gap (a model's overall offset);
- ``<split>/gap_r``, ``<split>/gap_r_corrected``: Pearson r of the gap with the true value,
  before and after correction (0 after it, on the fitted split, by construction);
- ``<split>/mae_corrected``: MAE of the corrected predictions;
- ``<split>/mae_band_<lo>``: raw MAE of the subjects whose true value lies in
  ``[lo, lo + band_width)``, e.g. ``test/mae_band_60`` for the sixties;

and ``bias/slope``, ``bias/intercept``, ``bias/n`` (the coefficients and the number of
validation subjects they were fitted on), so a run stores its correction with its scores.

With a group the gap should flag (``predictions`` carry a ``group`` column, 1 for its members:
``target_task.gap_group``, e.g. the synthetic cohort's planted accelerated-ageing group), also
how well the gap separates it from the other subjects of each split:

- ``<split>/gap_auroc``: AUROC of the corrected gap for the group (0.5: chance);
- ``<split>/gap_auroc_raw``: the same with the raw gap;
- ``<split>/gap_d``: Cohen's d of the corrected gap, group minus the others (pooled sd);
- ``<split>/group_n``: the group's members among the split's subjects.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

FIT_SPLIT = "val"  # the correction is fitted here, and only here
MIN_FIT = 3  # subjects needed to fit a line with any residual
MIN_SLOPE = 0.05  # below this the fitted line is flat: 1/slope would blow predictions up


@dataclass(frozen=True)
class BiasCorrection:
    """``y_pred = slope * y_true + intercept``, fitted on validation subjects."""

    slope: float
    intercept: float
    n: int

    @classmethod
    def fit(cls, y_true: np.ndarray, y_pred: np.ndarray) -> BiasCorrection:
        """Least squares of the predictions on the true values; NaN when it cannot be fitted
        (fewer than :data:`MIN_FIT` subjects, or a constant true value)."""
        y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
        if len(y_true) < MIN_FIT or np.ptp(y_true) == 0:
            return cls(math.nan, math.nan, len(y_true))
        slope, intercept = np.polyfit(y_true, y_pred, deg=1)
        return cls(float(slope), float(intercept), len(y_true))

    @property
    def usable(self) -> bool:
        """Whether mapping through it is defined: a finite slope of at least :data:`MIN_SLOPE`."""
        return math.isfinite(self.slope) and self.slope >= MIN_SLOPE

    def apply(self, y_pred: np.ndarray) -> np.ndarray:
        """The corrected predictions (NaN where the correction is not usable)."""
        y_pred = np.asarray(y_pred, float)
        if not self.usable:
            return np.full_like(y_pred, math.nan)
        return (y_pred - self.intercept) / self.slope


def brain_age(frames: pd.DataFrame, band_width: float) -> tuple[dict[str, float], pd.DataFrame]:
    """Brain-age metrics and the predictions with ``gap``, ``y_pred_corrected``,
    ``gap_corrected`` columns, from a run's regression predictions.

    Args:
        frames: ``predictions.csv`` rows (participant_id, split, y_true, y_pred, and optionally
            ``group``) of the splits a run scored; the correction is fitted on the ``val`` rows
            only.
        band_width: width of the bands of :func:`band_mae`, in the target's units.

    Returns:
        The metrics (see the module doc) and the augmented predictions.
    """
    fit_rows = frames[frames["split"] == FIT_SPLIT]
    correction = BiasCorrection.fit(fit_rows["y_true"].to_numpy(), fit_rows["y_pred"].to_numpy())
    if not correction.usable:
        log.warning(
            "brain-age correction not usable (slope %.3g on %d %s subjects; needs >= %s on "
            ">= %d): corrected metrics are NaN",
            correction.slope, correction.n, FIT_SPLIT, MIN_SLOPE, MIN_FIT,
        )  # fmt: skip
    out = frames.copy()
    out["gap"] = out["y_pred"] - out["y_true"]
    out["y_pred_corrected"] = correction.apply(out["y_pred"].to_numpy())
    out["gap_corrected"] = out["y_pred_corrected"] - out["y_true"]
    metrics = {"bias/slope": correction.slope, "bias/intercept": correction.intercept}
    metrics["bias/n"] = float(correction.n)
    for split, rows in out.groupby("split", sort=False):
        metrics |= _split_metrics(str(split), rows, band_width)
    return metrics, out


def band_mae(y_true: np.ndarray, y_pred: np.ndarray, band_width: float) -> dict[str, float]:
    """Raw MAE per band ``[lo, lo + band_width)`` of the true value, keyed ``mae_band_<lo>``
    (``lo`` a multiple of ``band_width``; bands without subjects are absent)."""
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    lows = np.floor(y_true / band_width) * band_width
    errors = np.abs(y_pred - y_true)
    bands = np.unique(lows)  # sorted
    return {f"mae_band_{band_name(b)}": float(errors[lows == b].mean()) for b in bands}


def _split_metrics(split: str, rows: pd.DataFrame, band_width: float) -> dict[str, float]:
    y_true = rows["y_true"].to_numpy(float)
    gap, corrected = rows["gap"].to_numpy(float), rows["gap_corrected"].to_numpy(float)
    values = {
        "gap_mean": float(np.mean(gap)),
        "gap_r": _pearson(gap, y_true),
        "gap_r_corrected": _pearson(corrected, y_true),
        "mae_corrected": float(np.mean(np.abs(corrected))),
        **band_mae(y_true, rows["y_pred"].to_numpy(float), band_width),
    }
    if "group" in rows:
        values |= detection(rows["group"].to_numpy(bool), gap, corrected)
    return {f"{split}/{name}": value for name, value in values.items()}


def detection(group: np.ndarray, gap: np.ndarray, corrected: np.ndarray) -> dict[str, float]:
    """How well the gap flags ``group``: AUROC of the corrected and the raw gap, Cohen's d of
    the corrected gap (group minus the others), and the group's size. NaN where undefined (a
    split without both kinds of subject, or an unusable correction)."""
    from sklearn.metrics import roc_auc_score

    values = {"group_n": float(group.sum())}
    both = 0 < group.sum() < len(group)
    for name, score in (("gap_auroc", corrected), ("gap_auroc_raw", gap)):
        usable = both and np.all(np.isfinite(score))
        values[name] = float(roc_auc_score(group, score)) if usable else math.nan
    values["gap_d"] = cohens_d(corrected[group], corrected[~group]) if both else math.nan
    return values


def cohens_d(a: np.ndarray, b: np.ndarray) -> float:
    """``(mean a - mean b) / pooled sd``; NaN with fewer than two of either, or non-finite."""
    if len(a) < 2 or len(b) < 2 or not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return math.nan
    pooled = ((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2)
    return float((a.mean() - b.mean()) / math.sqrt(pooled)) if pooled > 0 else math.nan


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 2 or not np.all(np.isfinite(a)) or np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan
    return float(np.corrcoef(a, b)[0, 1])


def band_name(value: float) -> str:
    """``60.0`` → ``60``, ``2.5`` → ``2.5``: a band's lower end as in its metric key."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
