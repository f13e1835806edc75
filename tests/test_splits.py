"""Splits: nested across sample sizes, disjoint roles, deterministic, test never leaks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tlsweep.data.splits import make_splits, stratified_order
from tlsweep.data.tasks import Task
from tlsweep.errors import ConfigError
from tlsweep.schemas import SplitConfig


@pytest.fixture
def table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 400
    return pd.DataFrame(
        {"age": rng.uniform(20, 80, n).round(1), "sex": rng.choice(["F", "M"], n)},
        index=pd.Index([f"sub-{i:04d}" for i in range(n)], name="participant_id"),
    )


def _split(table: pd.DataFrame, n_train: int, n_val: int = 20, seed: int = 0):  # noqa: ANN202
    target, source = (
        Task("target_task", "age", "regression"),
        Task("source_task", "sex", "classification"),
    )
    source.check(table)
    return make_splits(
        table,
        target=target,
        source=source,
        cfg=SplitConfig(seed=seed, val_pool=40),
        n_train=n_train,
        n_val=n_val,
    )


def test_roles_are_disjoint_and_cover_the_cohort(table: pd.DataFrame) -> None:
    splits = _split(table, 25)
    seen: list[str] = [pid for role in splits.roles.values() for pid in role]
    assert len(seen) == len(set(seen))
    assert set(splits["test"]).isdisjoint(
        set(splits["train"])
        | set(splits["val"])
        | set(splits["source"])
        | set(splits["source_val"])
        | set(splits["unlabelled"])
    )
    assert len(splits["test"]) == 80 and len(splits["source"]) + len(splits["source_val"]) == 160


def test_training_sets_are_nested_and_everything_else_fixed(table: pd.DataFrame) -> None:
    small, medium, large = _split(table, 25), _split(table, 50), _split(table, 100)
    assert small["train"] == medium["train"][:25] and medium["train"] == large["train"][:50]
    for role in ("test", "source", "source_val"):
        assert small[role] == large[role]
    assert _split(table, 25, n_val=10)["val"] == small["val"][:10]


def test_splits_are_deterministic_and_depend_on_the_seed(table: pd.DataFrame) -> None:
    assert _split(table, 50).roles == _split(table, 50).roles
    assert _split(table, 50, seed=1)["test"] != _split(table, 50)["test"]


def test_prefixes_are_stratified() -> None:
    strata = np.repeat([0, 1, 2, 3], 100)
    order = stratified_order(strata, np.random.default_rng(0))
    for n in (20, 40, 100):
        counts = np.bincount(strata[order[:n]], minlength=4)
        assert counts.max() - counts.min() <= 2, counts


def test_training_set_ages_span_the_range(table: pd.DataFrame) -> None:
    ages = table.loc[_split(table, 25)["train"], "age"]
    assert ages.min() < 35 and ages.max() > 65


def test_sample_size_larger_than_pool_names_the_pool_size(table: pd.DataFrame) -> None:
    with pytest.raises(
        ConfigError, match=r"sample_size.n_train=500 but the labelled pool has 120"
    ):
        _split(table, 500)
    with pytest.raises(ConfigError, match=r"sample_size.n_val=50 .* holds 40"):
        _split(table, 25, n_val=50)


def _drawn(table: pd.DataFrame, n_train: int, draw: int | None):  # noqa: ANN202
    target, source = (
        Task("target_task", "age", "regression"),
        Task("source_task", "sex", "classification"),
    )
    source.check(table)
    cfg = SplitConfig(seed=0, val_pool=40, draw=draw)
    return make_splits(table, target=target, source=source, cfg=cfg, n_train=n_train, n_val=20)


def test_a_draw_relabels_train_and_val_but_keeps_test_and_source(table: pd.DataFrame) -> None:
    base, one, again, other = (_drawn(table, 50, d) for d in (None, 1, 1, 2))
    for role in ("test", "source", "source_val"):
        assert one[role] == base[role] == other[role]
    assert one.roles == again.roles  # deterministic
    assert set(one["train"]) != set(base["train"]) and set(one["train"]) != set(other["train"])
    held = set(base["test"]) | set(base["source"]) | set(base["source_val"])
    drawn = set(one["train"]) | set(one["val"]) | set(one["unlabelled"])
    assert drawn <= set(table.index) - held  # only target-pool subjects are re-drawn
    small = _drawn(table, 25, 1)  # nested across sample sizes within a draw
    assert set(small["train"]) <= set(one["train"]) and small["val"] == one["val"]


def test_a_tuning_trial_split_has_no_test_subjects(table: pd.DataFrame) -> None:
    splits = _split(table, 50).without("test")
    assert splits["test"] == [] and "test" not in set(splits.to_frame().role)
    assert len(splits["train"]) == 50


def _sited(table: pd.DataFrame, held_out: list[str], n_train: int = 25, **split):  # noqa: ANN202
    target, source = (
        Task("target_task", "age", "regression"),
        Task("source_task", "sex", "classification"),
    )
    source.check(table)
    cfg = SplitConfig(seed=0, val_pool=40, held_out_sites=held_out, **split)
    return make_splits(table, target=target, source=source, cfg=cfg, n_train=n_train, n_val=20)


@pytest.fixture
def sited(table: pd.DataFrame) -> pd.DataFrame:
    sites = np.random.default_rng(1).choice(["site-A", "site-B", "site-C"], len(table))
    return table.assign(site=sites)


def test_held_out_sites_form_the_external_test_set_and_nothing_else(sited: pd.DataFrame) -> None:
    splits = _sited(sited, ["site-C"])
    site_c = set(sited.index[sited["site"] == "site-C"])
    assert set(splits["test_external"]) == site_c
    for role in ("train", "val", "test", "source", "source_val", "unlabelled"):
        assert not set(splits[role]) & site_c, role
    seen = [pid for role in splits.roles.values() for pid in role]
    assert len(seen) == len(set(seen))
    frame = splits.to_frame()
    assert set(frame.loc[frame.role == "test_external", "participant_id"]) == site_c


def test_held_out_splits_stay_nested_and_deterministic(sited: pd.DataFrame) -> None:
    small, large = _sited(sited, ["site-C"], 25), _sited(sited, ["site-C"], 50)
    assert small["train"] == large["train"][:25] and small["val"] == large["val"]
    assert small.roles == _sited(sited, ["site-C"], 25).roles
    for role in ("test", "source", "test_external"):
        assert small[role] == large[role]


def test_no_held_out_site_leaves_the_split_as_it_was(sited: pd.DataFrame) -> None:
    """The default adds no role, so every split (and its digests) is what it was before."""
    assert _sited(sited, []).roles == _split(sited, 25).roles
    assert "test_external" not in _split(sited, 25).roles


def test_a_tuning_trial_split_has_no_external_test_subjects(sited: pd.DataFrame) -> None:
    from tlsweep.data.splits import TEST_ROLES

    splits = _sited(sited, ["site-B"]).without(*TEST_ROLES)
    assert splits["test"] == splits["test_external"] == []
    assert set(splits.to_frame().role).isdisjoint(TEST_ROLES)


@pytest.mark.parametrize(
    ("held_out", "split", "message"),
    [
        (["site-X"], {}, r"held_out_sites: site-X is not a site .*sites \(site\): site-A, site-B"),
        (["site-A", "site-B", "site-C"], {}, r"=\[site-A,site-B,site-C\] holds out every site"),
        (["site-A", "site-B"], {}, r"n_train=25 but .* after holding out site-A, site-B"),
    ],
)
def test_a_held_out_site_that_cannot_work_is_one_line(
    sited: pd.DataFrame, held_out: list[str], split: dict, message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        _sited(sited, held_out, **split)
    assert "\n" not in str(info.value)


def test_a_missing_site_column_names_the_key_and_the_columns(sited: pd.DataFrame) -> None:
    target, source = (
        Task("target_task", "age", "regression"),
        Task("source_task", "sex", "classification"),
    )
    source.check(sited)
    cfg = SplitConfig(val_pool=40, held_out_sites=["site-C"])
    with pytest.raises(ConfigError, match=r"dataset.site_column=scanner: no such column .*site"):
        make_splits(
            sited, target=target, source=source, cfg=cfg, n_train=25, n_val=20,
            site_column="scanner",
        )  # fmt: skip
