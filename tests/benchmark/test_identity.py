"""A cell is its configuration: what changes its name, what does not, and what refuses a rerun."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from omegaconf import open_dict

from tests.conftest import readable
from tlsweep.benchmark.cells import cell_name
from tlsweep.benchmark.identity import cell_identity, variant
from tlsweep.benchmark.record import HASH_ATTR, cell_record, check_study, claim_folder
from tlsweep.errors import ConfigError

BASE = ("hpo=random", "method=scratch", "debug=smoke")


def _cell(*overrides: str):  # noqa: ANN202 - a composed DictConfig
    """The cell config as the sweeper composes it (the command's overrides in hydra.overrides)."""
    with initialize_config_module(version_base="1.3", config_module="tlsweep.conf"):
        return compose("config", [*BASE, *overrides], return_hydra_config=True)


@pytest.mark.parametrize(
    "change",
    [
        "train.epochs=7",
        "dataset.relatedness=1",
        "pretrain.epochs=3",
        "source_task.shuffle_labels=true",
        "dataset.n_subjects=90",
        "hydra.sweeper.sampler.seed=5",
        "hpo.source_objective=source_val/auroc",
        "target_task.band_width=5",
        "target_task.age_gap=false",
        "source_task.positive=F",
    ],
)
def test_a_setting_that_changes_results_changes_the_cell(change: str) -> None:
    base, changed = _cell(), _cell(change)
    assert readable(cell_name(changed)) == readable(cell_name(base))  # the same comparison...
    assert cell_name(changed) != cell_name(base)  # ...under another configuration
    assert variant(changed) == " ".join(sorted([change, "debug=smoke"]))  # the command's settings
    assert variant(base) == "debug=smoke"


@pytest.mark.parametrize(
    "machine",
    [
        "hydra.sweeper.n_trials=50",  # the budget: more trials extend the same cell
        "hydra.sweeper.n_jobs=4",
        "final.seeds=9",
        "train.threads=1",
        "train.device=cpu",
        "tracking.enabled=false",
        "hydra.sweep.dir=elsewhere",
        "cache_dir=/tmp/other-cache",
        "hpo.source_trials=3",
        # keys added later, written out at the value that reproduces the earlier runs
        "target_task.band_width=10",
        "target_task.age_gap=null",
        "source_task.positive=null",
    ],
)
def test_where_and_how_much_is_not_what(machine: str) -> None:
    assert cell_name(_cell(machine)) == cell_name(_cell())
    assert variant(_cell(machine)) == variant(_cell())


def _searching(dimension: str):  # noqa: ANN202
    """A cell whose command sweeps ``dimension`` (as ``cell_config`` records it)."""
    config = _cell()
    with open_dict(config):
        config.hydra.overrides.task.append(dimension)
    return config


def test_a_search_dimension_is_part_of_the_cell() -> None:
    wide = _searching("train.lr=tag(log,interval(1e-5,1))")
    narrow = _searching("train.lr=tag(log,interval(1e-4,1e-2))")
    assert cell_name(wide) != cell_name(narrow)
    assert cell_identity(wide)["search"] == ["train.lr=tag(log,interval(1e-5,1))"]


def test_a_folder_or_study_of_another_configuration_is_refused(tmp_path: Path) -> None:
    old = cell_record("c", _cell("train.epochs=5"))
    new = cell_record("c", _cell("train.epochs=50"))
    claim_folder(tmp_path, old)
    claim_folder(tmp_path, old)  # the same identity: a rerun is welcome
    with pytest.raises(ConfigError) as refused:
        claim_folder(tmp_path, new)
    message = str(refused.value)
    assert "train.epochs 5 -> 50" in message and "\n" not in message
    assert "another hydra.sweep.dir" in message

    attrs = check_study({}, old, "s")
    assert attrs[HASH_ATTR] == old["config_hash"] and json.loads(attrs["tlsweep:identity"])
    assert check_study(attrs, old, "s") == {}
    with pytest.raises(ConfigError, match=r"study s was tuned under another configuration \("):
        check_study(attrs, new, "s")


def test_a_refusal_names_at_most_three_keys(tmp_path: Path) -> None:
    old = cell_record("c", _cell())
    new = cell_record("c", _cell("train.epochs=9", "train.lr=0.5", "seed=3", "pretrain.epochs=4"))
    claim_folder(tmp_path, old)
    with pytest.raises(ConfigError, match="; and 1 more"):
        claim_folder(tmp_path, new)


def test_a_key_added_later_renames_no_cell_at_its_default() -> None:
    identity = cell_identity(_cell())
    assert not {k for k in identity if k.endswith((".positive", ".age_gap", ".band_width"))}
    assert cell_identity(_cell("target_task.band_width=5"))["target_task.band_width"] == 5
