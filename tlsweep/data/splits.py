"""Deterministic subject splits: held-out test, source, validation and nested training sets.

All roles come from one stratified ordering of the subjects, fixed by ``split.seed``:

* ``test``: the first ``test_fraction`` of the order. Never used for training or model selection.
* ``source`` / ``source_val``: the next ``source_fraction``, for pretraining (labels of the
  source task) or as unlabelled images; disjoint from every target role.
* the rest is the labelled target pool (re-ordered by ``split.draw`` when set, so each final
  seed of ``final.resample`` labels other subjects): its first ``val_pool`` subjects are
  reserved for validation (``val`` = the first ``n_val`` of them), the others form the
  training pool (``train`` = its first ``n_train``; ``unlabelled`` = the remainder).

Because any prefix of a stratified order is itself stratified, training sets are nested across
sample sizes (n=25 ⊂ n=50 ⊂ n=100) and balanced, so learning curves compare like with like.

With ``split.held_out_sites``, the labelled subjects of those acquisition sites (by the dataset's
``site_column``) are set aside first, as ``test_external``: a second test set from scanners no
training, source or validation subject comes from. Everything above then applies to the
subjects of the other sites, so sample sizes stay nested and the split stays deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tlsweep.data.tasks import Task
from tlsweep.errors import ConfigError, bad_column
from tlsweep.schemas import SplitConfig

ROLES = ("train", "val", "test", "source", "source_val", "unlabelled", "test_external")
#: Roles whose labels only a run's final evaluation reads; a tuning trial has none of them.
TEST_ROLES = ("test", "test_external")


@dataclass(frozen=True)
class Splits:
    """Participant ids per role."""

    roles: dict[str, list[str]]

    def __getitem__(self, role: str) -> list[str]:
        return self.roles.get(role, [])  # test_external exists only with held-out sites

    def without(self, *roles: str) -> Splits:
        """The same splits with ``roles`` emptied (a tuning trial's have no test subject)."""
        return Splits({**self.roles, **{role: [] for role in roles if role in self.roles}})

    def to_frame(self) -> pd.DataFrame:
        """One row per (participant_id, role), for the split artifact."""
        rows = [(pid, role) for role in ROLES for pid in self[role]]
        return pd.DataFrame(rows, columns=["participant_id", "role"])


def stratified_order(strata: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Return a permutation whose every prefix holds each stratum in proportion.

    Each member of a stratum of size m gets the position ``(k + u) / m`` (k its shuffled rank,
    u uniform jitter); sorting by position interleaves the strata evenly.
    """
    position = np.empty(len(strata))
    for value in np.unique(strata):
        members = np.flatnonzero(strata == value)
        ranks = rng.permutation(len(members))
        position[members] = (ranks + rng.uniform(size=len(members))) / len(members)
    return np.argsort(position, kind="stable")


def _strata(values: pd.Series, task: Task, bins: int) -> np.ndarray:
    if task.is_classification:
        return values.astype(str).to_numpy()
    return pd.qcut(values.rank(method="first"), q=bins, labels=False).to_numpy()


def make_splits(
    table: pd.DataFrame,
    *,
    target: Task,
    source: Task,
    cfg: SplitConfig,
    n_train: int,
    n_val: int,
    site_column: str | None = "site",
) -> Splits:
    """Assign subjects to roles (see the module docstring).

    Args:
        table: participants table indexed by participant id.
        target: the target task; only subjects with its label enter target roles.
        source: the source task; source-role subjects need its label.
        cfg: split settings.
        n_train: labelled target subjects for training (``sample_size.n_train``).
        n_val: validation subjects (``sample_size.n_val``).
        site_column: the table's acquisition-site column (``dataset.site_column``), read only
            when ``cfg.held_out_sites`` names sites.

    Raises:
        ConfigError: when a sample size does not fit the cohort, or a held-out site is unknown
            or leaves a role empty.
    """
    ids = target.labelled(table).intersection(source.labelled(table)).sort_values()
    held_out = list(cfg.held_out_sites or [])
    ids, external = _hold_out_sites(table, ids, held_out, site_column)
    rng = np.random.default_rng(cfg.seed)
    order = ids[
        stratified_order(_strata(table.loc[ids, target.column], target, cfg.strata_bins), rng)
    ]
    n_test = round(cfg.test_fraction * len(ids))
    n_source = round(cfg.source_fraction * len(ids))
    test, source_all, pool = (
        order[:n_test],
        order[n_test : n_test + n_source],
        order[n_test + n_source :],
    )
    if cfg.draw is not None:  # a new draw of the labelled subsets; test and source unchanged
        strata = _strata(table.loc[pool, target.column], target, cfg.strata_bins)
        pool = pool[stratified_order(strata, np.random.default_rng([cfg.seed, cfg.draw]))]
    val_reserve, train_pool = pool[: cfg.val_pool], pool[cfg.val_pool :]
    after = f" after holding out {', '.join(held_out)} ({len(external)})" if held_out else ""
    sizes = (
        f"(cohort {len(ids)}{after}: test {len(test)}, source {len(source_all)}, "
        f"validation pool {len(val_reserve)})"
    )
    if n_val > len(val_reserve):
        raise ConfigError(
            f"sample_size.n_val={n_val} but the validation pool holds {len(val_reserve)} subjects "
            f"{sizes}; raise split.val_pool or lower n_val"
        )
    if n_train > len(train_pool):
        raise ConfigError(
            f"sample_size.n_train={n_train} but the labelled pool has {len(train_pool)} subjects "
            f"{sizes}"
        )
    n_source_val = round(cfg.source_val_fraction * len(source_all))
    roles = {
        "train": train_pool[:n_train],
        "val": val_reserve[:n_val],
        "test": test,
        "source": source_all[: len(source_all) - n_source_val],
        "source_val": source_all[len(source_all) - n_source_val :],
        "unlabelled": train_pool[n_train:],
    }
    if held_out:
        roles["test_external"] = external
    return Splits({role: [str(i) for i in members] for role, members in roles.items()})


def _hold_out_sites(
    table: pd.DataFrame, ids: pd.Index, sites: list[str], column: str | None
) -> tuple[pd.Index, pd.Index]:
    """Split ``ids`` into the in-site subjects and those of the held-out ``sites``."""
    if not sites:
        return ids, ids[:0]
    if not column:
        raise ConfigError(
            f"split.held_out_sites={_listed(sites)} but dataset.site_column is not set; name the "
            "participants column that holds each subject's acquisition site"
        )
    if column not in table.columns:
        raise bad_column("dataset.site_column", column, table.columns, "the participants table")
    site = table.loc[ids, column].astype(str)
    known = sorted(site.unique())
    for name in sites:
        if name not in known:
            raise ConfigError(
                f"split.held_out_sites: {name} is not a site of the labelled subjects; "
                f"sites ({column}): {', '.join(known)}"
            )
    held = site.isin(sites).to_numpy()
    if held.all():
        raise ConfigError(
            f"split.held_out_sites={_listed(sites)} holds out every site, which leaves role train "
            f"empty; sites ({column}): {', '.join(known)}"
        )
    return ids[~held], ids[held]


def _listed(sites: list[str]) -> str:
    """``[site-A,site-C]``: a site list as it is written on the command line."""
    return f"[{','.join(sites)}]"
