"""The planted-transfer benchmark's pre-registration: seeds, hypotheses, margin and tests.

Fixed before any reported seed ran (docs/notes/transfer_recovery.md, "Pre-registration"), and
enforced here rather than by convention: :func:`check_seeds` refuses to report a seed or cohort
that the planted cohort was designed on. The two hypotheses are about the *label gain*
(shuffled-label control − pretrain_freeze test MAE, paired by seed: what the sex labels
themselves are worth, pretraining, freezing and budget held equal):

* planted (relatedness 1): label gain > 0, a one-sided paired t-test at :data:`ALPHA`;
* none planted (relatedness 0, where sex lives in head size only): the label gain lies within
  ±:data:`EQUIVALENCE_MARGIN_Y`, shown by two one-sided t-tests (TOST) at :data:`ALPHA` each, an
  equivalence test, not a confidence interval that happens to contain 0. The claim "no gain
  where none is planted" holds only if every such test passes (an intersection-union test, so
  no multiplicity correction).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from tlsweep.report.stats import summarize

# Run and split seeds (``seed``, ``split.seed``) of every run the planted cohort was designed or
# calibrated on: the diagnosis and the design probes (5 draws), the choice of 1000 subjects, 60 %
# source and two frozen stages (seed 0), and the results-version-1 table (seeds 0-4), all on the
# cohorts of ``dataset.seed`` 0.
DESIGN_SEEDS = frozenset(range(5))
DESIGN_COHORT_SEEDS = frozenset({0})
FIRST_SEED = 100  # reported seeds: FIRST_SEED, FIRST_SEED + 1, ...
COHORT_SEED = 1  # reported cohorts: a new draw of subjects, at both relatedness settings
ALPHA = 0.05
# The planted label gain measured on the design seeds was +1.06 y (n = 25) and +1.04 y
# (n = 100). "No gain at relatedness 0" is claimed at a margin of that size: the labels are then
# worth less there than the effect the benchmark is built to find. At the label gain's paired SD
# on the design seeds (0.7-0.8 y) 10 seeds give the TOST 95-99 % power when the true gain is 0
# (5 seeds: 50-70 %); half this margin would need ~25 seeds for 80 %.
EQUIVALENCE_MARGIN_Y = 1.0
PLANTED_AT, NONE_PLANTED_AT = 1.0, 0.0  # dataset.relatedness


def check_seeds(seeds: Iterable[int], cohort_seed: int) -> None:
    """Refuse reported seeds or a cohort that the planted cohort was designed on.

    Raises:
        ValueError: one line naming the overlapping seeds.
    """
    reused = sorted(set(seeds) & DESIGN_SEEDS)
    if reused:
        raise ValueError(
            f"seeds {reused} designed the planted cohort (design seeds "
            f"{min(DESIGN_SEEDS)}-{max(DESIGN_SEEDS)}); report seeds from {FIRST_SEED} on"
        )
    if cohort_seed in DESIGN_COHORT_SEEDS:
        raise ValueError(
            f"cohort seed {cohort_seed} designed the planted cohort; report on another "
            f"(default {COHORT_SEED})"
        )


@dataclass(frozen=True)
class Tost:
    """Two one-sided t-tests of the mean of paired differences against ±``margin``."""

    n: int
    mean: float
    ci_low: float  # the (1 - 2 alpha) CI: equivalence <=> it lies inside (-margin, +margin)
    ci_high: float
    p_lower: float  # H0: mean <= -margin
    p_upper: float  # H0: mean >= +margin
    equivalent: bool


def tost(differences: Iterable[float], margin: float, alpha: float = ALPHA) -> Tost:
    """Whether the mean of ``differences`` lies within ±``margin`` (TOST at ``alpha``).

    Non-finite values are dropped; with fewer than two left the p-values are NaN and the
    verdict is False.
    """
    d = np.asarray(list(differences), dtype=float)
    d = d[np.isfinite(d)]
    ci = summarize(d, confidence=1 - 2 * alpha)
    if d.size < 2:
        return Tost(int(d.size), ci.mean, math.nan, math.nan, math.nan, math.nan, False)
    p_lower = float(sps.ttest_1samp(d, -margin, alternative="greater").pvalue)
    p_upper = float(sps.ttest_1samp(d, margin, alternative="less").pvalue)
    equivalent = bool(max(p_lower, p_upper) < alpha)  # NaN (no spread) compares False
    return Tost(int(d.size), ci.mean, ci.ci_low, ci.ci_high, p_lower, p_upper, equivalent)


def greater_than_zero(differences: Iterable[float]) -> float:
    """One-sided paired t-test p-value of H0: mean <= 0 (NaN with fewer than two values)."""
    d = np.asarray(list(differences), dtype=float)
    d = d[np.isfinite(d)]
    if d.size < 2:
        return math.nan
    return float(sps.ttest_1samp(d, 0.0, alternative="greater").pvalue)


def tests_table(label_gains: dict[tuple[float, int], pd.Series]) -> pd.DataFrame:
    """The pre-registered tests, one row per (relatedness, n) with a label gain.

    Args:
        label_gains: shuffled control − pretrain_freeze test MAE by seed, per (relatedness, n).
    """
    rows = []
    for (r, n), gains in sorted(label_gains.items()):
        if r not in (PLANTED_AT, NONE_PLANTED_AT):
            continue
        ci = summarize(gains, confidence=1 - 2 * ALPHA)
        row = {"relatedness": r, "n": n, "seeds": ci.n}
        row["label gain, mean [90 % CI]"] = f"{ci.mean:+.2f} [{ci.ci_low:+.2f}, {ci.ci_high:+.2f}]"
        if r == PLANTED_AT:
            p = greater_than_zero(gains)
            row["hypothesis"] = "planted: gain > 0"
            row["p-values"] = f"p(gain ≤ 0) = {p:.3f}"
            row["verdict"] = "found" if p < ALPHA else "not found"
        else:
            t = tost(gains, EQUIVALENCE_MARGIN_Y)
            m = f"{EQUIVALENCE_MARGIN_Y:g} y"
            row["hypothesis"] = f"none planted: −{m} < gain < +{m}"
            row["p-values"] = f"p(gain ≤ −{m}) = {t.p_lower:.3f}, p(gain ≥ +{m}) = {t.p_upper:.3f}"
            row["verdict"] = "equivalent to 0" if t.equivalent else "not shown equivalent"
        rows.append(row)
    columns = ["relatedness", "n", "hypothesis", "seeds", "label gain, mean [90 % CI]"]
    return pd.DataFrame(rows, columns=[*columns, "p-values", "verdict"])
