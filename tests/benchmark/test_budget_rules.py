"""Budgets stated and equal when asked: stage budgets, fitted start-up, what ``plan`` says.

In process, on configs composed as the sweeper composes them (``tlsweep.benchmark.plan``'s
``compose_cells``); no child process, nothing launched.
"""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_module

from tests.conftest import readable
from tlsweep.benchmark.cells import (
    StageBudget,
    cell_name,
    fitted_startup,
    stage_budget,
    startup_trials,
)
from tlsweep.benchmark.identity import cell_identity, variant
from tlsweep.benchmark.plan import compose_cells
from tlsweep.benchmark.plan_cost import plan_cell, tuning_lines
from tlsweep.checks import SMALL_VALIDATION, small_validation
from tlsweep.errors import ConfigError

TWO_STAGES = ("method=pretrain_freeze", "hpo.stage=source_then_target")


def _cell(*overrides: str):  # noqa: ANN202 - a composed DictConfig with its hydra node
    with initialize_config_module(version_base="1.3", config_module="tlsweep.conf"):
        return compose("config", ["hpo=tpe", *overrides], return_hydra_config=True)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ((), StageBudget(0, 20)),  # target_only: no stage 1
        (TWO_STAGES, StageBudget(20, 20)),  # additional: as many again on top
        ((*TWO_STAGES, "hpo.source_trials=3"), StageBudget(3, 20)),
        ((*TWO_STAGES, "hpo.budget=shared"), StageBudget(10, 10, "shared")),  # half/half
        (
            (*TWO_STAGES, "hpo.budget=shared", "hydra.sweeper.n_trials=5"),
            StageBudget(2, 3, "shared"),
        ),
        ((*TWO_STAGES, "hpo.budget=shared", "hpo.source_trials=4"), StageBudget(4, 16, "shared")),
        (
            ("method=scratch", "hpo.stage=source_then_target", "hpo.budget=shared"),
            StageBudget(0, 20, "shared"),
        ),
        (
            (*TWO_STAGES, "hpo.budget=shared", "hydra.sweeper.n_trials=0"),
            StageBudget(0, 0, "shared"),
        ),
    ],
)
def test_stage_budgets(overrides: tuple[str, ...], expected: StageBudget) -> None:
    assert stage_budget(_cell(*overrides)) == expected


def test_shared_gives_both_stages_the_same_total_as_target_only() -> None:
    for n_trials in (2, 3, 4, 7, 20):
        size = f"hydra.sweeper.n_trials={n_trials}"
        target_only = stage_budget(_cell("method=pretrain_freeze", "hpo.budget=shared", size))
        two_stage = stage_budget(_cell(*TWO_STAGES, "hpo.budget=shared", size))
        assert two_stage.stage1 >= 1 and two_stage.stage2 >= 1
        assert two_stage.total == target_only.total == n_trials
    additional = stage_budget(_cell(*TWO_STAGES, "hydra.sweeper.n_trials=4"))
    assert additional.total == 8  # the default still adds stage 1 on top, and says so


@pytest.mark.parametrize(
    "overrides",
    [
        ("hpo.source_trials=4", "hydra.sweeper.n_trials=4"),  # nothing left for stage 2
        ("hydra.sweeper.n_trials=1",),  # half of 1 is 0 for stage 1
    ],
)
def test_a_shared_split_that_leaves_a_stage_empty_is_one_line(overrides: tuple[str, ...]) -> None:
    with pytest.raises(ConfigError) as refused:
        stage_budget(_cell(*TWO_STAGES, "hpo.budget=shared", *overrides))
    message = str(refused.value)
    assert "\n" not in message
    assert "hpo.budget=shared" in message and "hydra.sweeper.n_trials=" in message
    assert "hpo.source_trials=" in message


def test_a_bad_budget_is_refused_when_composed() -> None:
    from hydra.errors import ConfigCompositionException

    from tlsweep.errors import explain

    with pytest.raises(ConfigCompositionException) as bad:
        _cell("hpo.budget=both")
    assert "hpo.budget=both is not a valid option" in explain(bad.value)


def test_a_shared_budget_is_another_cell_and_the_default_written_out_is_not() -> None:
    base, shared = _cell(*TWO_STAGES), _cell(*TWO_STAGES, "hpo.budget=shared")
    written = _cell(*TWO_STAGES, "hpo.budget=additional")
    assert readable(cell_name(shared)) == readable(cell_name(base))
    assert cell_name(shared) != cell_name(base)  # never the same study or folder
    assert cell_name(written) == cell_name(base)  # cells recorded before the key keep theirs
    assert "hpo.budget" not in cell_identity(base)
    assert variant(shared) == "hpo.budget=shared" and variant(written) == ""


@pytest.mark.parametrize(
    ("n_trials", "startup"), [(1, 2), (2, 2), (4, 2), (7, 3), (20, 10), (100, 10)]
)
def test_the_fitted_start_up(n_trials: int, startup: int) -> None:
    assert fitted_startup(n_trials) == startup
    tpe = {"_target_": "optuna.samplers.TPESampler", "n_startup_trials": None}
    assert startup_trials(tpe, n_trials) == startup
    assert startup_trials({**tpe, "n_startup_trials": 5}, n_trials) == 5  # given: always wins
    assert startup_trials({"_target_": "optuna.samplers.RandomSampler"}, n_trials) is None


def _plan_lines(*overrides: str) -> list[str]:
    configs, problems = compose_cells(list(overrides))
    assert not problems, problems
    return tuning_lines([plan_cell(name, config) for name, config in configs.items()])


def test_plan_says_how_many_trials_are_random_and_when_it_is_random_search() -> None:
    lines = _plan_lines(
        "hpo=tpe", "method=scratch", "sample_size=n100", "hydra.sweeper.n_trials=4"
    )
    (tuning,) = [line for line in lines if line.startswith("tuning: ")]
    assert "4 trials: 2 random start-up + 2 model-guided" in tuning
    assert "n_startup_trials=2 fitted to the budget" in tuning
    small = _plan_lines(
        "hpo=tpe", "method=scratch", "sample_size=n100", "hydra.sweeper.n_trials=2"
    )
    assert any("2 trials: random search" in line for line in small)
    given = _plan_lines(
        "hpo=tpe",
        "method=scratch",
        "sample_size=n100",
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.sampler.n_startup_trials=10",
    )
    assert any("4 trials: random search" in line and "as given" in line for line in given)
    random = _plan_lines("hpo=random", "method=scratch", "sample_size=n100")
    assert any("random search (RandomSampler)" in line for line in random)


def test_plan_states_the_shared_budget_and_equal_totals() -> None:
    configs, problems = compose_cells(
        [
            "hpo=tpe",
            "method=scratch,pretrain_freeze",
            "sample_size=n100",
            "hpo.stage=source_then_target",
            "hpo.budget=shared",
            "hydra.sweeper.n_trials=6",
        ]
    )
    assert not problems
    plans = {readable(name).split("-")[0]: plan_cell(name, c) for name, c in configs.items()}
    assert plans["scratch"].trials + plans["scratch"].stage1 == 6  # no pretraining: all stage 2
    assert (plans["pretrain_freeze"].stage1, plans["pretrain_freeze"].trials) == (3, 3)
    lines = tuning_lines(list(plans.values()))
    assert any(line.startswith("budget: hpo.budget=shared: ") for line in lines)
    assert any("stage 1: 3 trials" in line and "stage 2: 3 trials" in line for line in lines)


def test_plan_refuses_a_split_that_leaves_a_stage_empty_naming_the_cell() -> None:
    configs, problems = compose_cells(
        ["hpo=tpe", *TWO_STAGES, "hpo.budget=shared", "hydra.sweeper.n_trials=1"]
    )
    assert not configs and len(problems) == 1
    assert "hpo.budget=shared" in next(iter(problems.values()))


def test_a_small_validation_set_gets_one_warning_line() -> None:
    assert small_validation(SMALL_VALIDATION) is None and small_validation(None) is None
    warning = small_validation(SMALL_VALIDATION - 1)
    assert (
        warning and "\n" not in warning and f"sample_size.n_val={SMALL_VALIDATION - 1}" in warning
    )
    lines = _plan_lines("hpo=tpe", "method=scratch", "sample_size=n25,n100")
    warned = [line for line in lines if line.startswith("warning: ")]
    assert len(warned) == 1 and "-n25-" in warned[0]  # n25 validates on 10, n100 on more
