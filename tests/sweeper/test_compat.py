"""What a hydra-optuna-sweeper user writes works the same with ``hydra/sweeper=tlsweep``.

In-process where the rule is a pure function or a compose-time check; the real Optuna classes,
Hydra's real compose and ConfigStore, real (in-memory) Optuna studies.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import optuna
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.errors import ConfigCompositionException
from hydra.utils import get_class, instantiate
from omegaconf import OmegaConf

from hydra_plugins.tlsweep_sweeper import config as sweeper_config
from hydra_plugins.tlsweep_sweeper._custom import custom_overrides, fixed_params
from hydra_plugins.tlsweep_sweeper._outcome import as_values
from hydra_plugins.tlsweep_sweeper._outputs import RESULTS_FILE, write_outputs
from hydra_plugins.tlsweep_sweeper._progress import study_label
from hydra_plugins.tlsweep_sweeper._settings import SweeperConfigError, check_settings
from hydra_plugins.tlsweep_sweeper._space import build_space

CONF = Path(__file__).parent / "apps" / "conf"
NODES = {
    **{f"sampler/{n}": c for n, c in sweeper_config.SAMPLERS.items()},
    **{f"pruner/{n}": c for n, c in sweeper_config.PRUNERS.items()},
}
# where tlsweep's defaults deliberately differ from the Optuna class's own
OURS = {
    ("tpe", "multivariate"): True,
    ("tpe", "n_startup_trials"): None,  # fitted to the study's budget (config.fitted_startup)
    ("gp", "n_startup_trials"): None,
    ("qmc", "scramble"): True,
    ("successive_halving", "min_resource"): 1,
    ("successive_halving", "reduction_factor"): 3,
}


def _compose(*overrides: str) -> Any:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("objective", ["method=toy", *overrides], return_hydra_config=True)


def _sampler(*overrides: str) -> Any:
    node = OmegaConf.to_container(_compose(*overrides).hydra.sweeper.sampler, resolve=True)
    return instantiate(node)


# ---- sampler and pruner options on the command line, without "+" ----


# Optuna 4.9 deprecated these two TPE arguments; upstream's users still pass them
@pytest.mark.filterwarnings("ignore:`consider_endpoints`:FutureWarning")
@pytest.mark.filterwarnings("ignore:`warn_independent_sampling`:FutureWarning")
def test_tpe_options_from_the_command_line_reach_the_sampler() -> None:
    s = "hydra.sweeper.sampler."
    sampler = _sampler(
        "hpo=tpe",
        f"{s}n_startup_trials=5",
        f"{s}consider_endpoints=true",
        f"{s}warn_independent_sampling=false",
    )
    assert isinstance(sampler, optuna.samplers.TPESampler)
    assert sampler._n_startup_trials == 5
    assert sampler._parzen_estimator_parameters.consider_endpoints is True
    assert sampler._warn_independent_sampling is False


def test_nsgaii_population_size_from_the_command_line() -> None:
    sampler = _sampler(
        "hpo=random",
        "hydra/sweeper/sampler=tlsweep_nsgaii",
        "hydra.sweeper.sampler.population_size=8",
    )
    assert isinstance(sampler, optuna.samplers.NSGAIISampler)
    assert sampler._population_size == 8


def test_pruner_options_from_the_command_line() -> None:
    cfg = _compose(
        "hpo=tpe", "hydra/sweeper/pruner=tlsweep_median", "hydra.sweeper.pruner.n_warmup_steps=3"
    )
    pruner = instantiate(OmegaConf.to_container(cfg.hydra.sweeper.pruner))
    assert isinstance(pruner, optuna.pruners.MedianPruner) and pruner._n_warmup_steps == 3


def test_a_misspelt_sampler_option_fails_at_compose_time_naming_it() -> None:
    with pytest.raises(ConfigCompositionException, match="n_startup_trails"):
        _compose("hpo=tpe", "hydra.sweeper.sampler.n_startup_trails=5")


@pytest.mark.parametrize("name", sorted(NODES))
def test_each_option_is_a_constructor_argument_with_optunas_default(name: str) -> None:
    node = OmegaConf.structured(NODES[name])
    params = inspect.signature(get_class(node._target_).__init__).parameters
    short = name.split("/")[1]
    for key in node:
        if key in ("_target_", "seed"):
            continue
        assert key in params, f"{name}: {key} is not an argument of {node._target_}"
        want = OURS.get((short, key), params[key].default)
        assert node[key] == want, f"{name}: {key}={node[key]} but Optuna's default is {want}"


def test_tlsweeps_config_nodes_never_replace_another_plugins() -> None:
    store = ConfigStore.instance()
    theirs = {"_target_": "optuna.samplers.TPESampler", "n_startup_trials": 10}
    for group in ("hydra/sweeper/sampler", "hydra/sweeper/pruner"):
        for name in ("tpe", "random", "grid", "cmaes", "qmc", "gp", "nsgaii", "median"):
            store.store(group=group, name=name, node=theirs, provider="optuna_sweeper")
    try:
        sweeper_config._register()  # as when Hydra's plugin scan loads tlsweep after them
        for group in ("hydra/sweeper/sampler", "hydra/sweeper/pruner"):
            for name in ("tpe", "random", "grid", "cmaes", "qmc", "gp", "nsgaii", "median"):
                node = store.load(f"{group}/{name}.yaml")
                assert node.provider == "optuna_sweeper"
                assert OmegaConf.to_container(node.node) == theirs
            ours = [n for n in store.list(group) if n.startswith("tlsweep_")]
            assert len(ours) >= 4
    finally:
        for group in ("hydra/sweeper/sampler", "hydra/sweeper/pruner"):
            folder = store.repo["hydra"]["sweeper"][group.rsplit("/", 1)[1]]
            for name in ("tpe", "random", "grid", "cmaes", "qmc", "gp", "nsgaii", "median"):
                folder.pop(f"{name}.yaml", None)


# ---- search space ----


def test_shuffle_range_is_a_categorical_dimension_in_written_order() -> None:
    dist = build_space(["x=shuffle(range(0,4))"]).distributions["x"]
    assert dist == optuna.distributions.CategoricalDistribution([0, 1, 2, 3])
    # the order must not change between runs: Optuna compares a resumed study's choices by order
    assert build_space(["x=shuffle(c,a,b)"]).distributions["x"].choices == ("c", "a", "b")


def test_plus_keys_keep_their_plus_in_best_params(tmp_path: Path) -> None:
    space = build_space(["+w=interval(0,1)", "x=choice(1,2)"])
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask(space.distributions)
    study.tell(trial, 1.0)
    assert space.overrides(trial.params)[0].startswith("+w=")
    write_outputs(study, tmp_path, "memory", lambda p: "cmd")
    results = OmegaConf.load(tmp_path / RESULTS_FILE)
    assert set(results.best_params) == {"+w", "x"}


@pytest.mark.parametrize(("value", "expected"), [("0.5", [0.5]), ("  -2 ", [-2.0]), ("x", None)])
def test_a_numeric_string_is_a_value(value: str, expected: list[float] | None) -> None:
    assert as_values(value, 1) == expected


def test_the_deprecated_search_space_key_says_where_it_went(tmp_path: Path) -> None:
    # as in hydra-optuna-sweeper's tests/conf/test_deprecated_search_space.yaml
    (tmp_path / "config.yaml").write_text(
        "defaults:\n  - override hydra/sweeper: tlsweep\nx: 0\n"
        "hydra:\n  sweeper:\n    search_space:\n      x: {type: float, low: 0, high: 1}\n"
    )
    with initialize_config_dir(config_dir=str(tmp_path), version_base="1.3"):
        cfg = compose("config", return_hydra_config=True)
    with pytest.raises(SweeperConfigError, match=r"search_space .*hydra.sweeper.params") as e:
        check_settings(cfg.hydra.sweeper)
    assert "\n" not in str(e.value)


# ---- custom_search_space ----


def _trial(space_lines: list[str]) -> tuple[optuna.Study, optuna.Trial, Any]:
    space = build_space(space_lines)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    return study, study.ask(space.distributions), space


def test_custom_space_sees_fixed_params_and_adds_its_own() -> None:
    seen: dict[str, Any] = {}

    def extend(cfg: Any, trial: optuna.Trial) -> dict[str, Any]:
        seen.update(trial.user_attrs)
        x = trial.params["x"]
        trial.suggest_float("z", x - cfg.width, x + cfg.width)
        return {"+note": "extended"}

    _, trial, space = _trial(["x=interval(0,1)", "y=3", "+tag=abc"])
    extra = custom_overrides(extend, OmegaConf.create({"width": 0.1}), trial, space)
    assert seen == {"y": "3", "+tag": "abc"} == fixed_params(space)
    assert extra == ["+note=extended"]
    assert abs(trial.params["z"] - trial.params["x"]) <= 0.1
    assert [o.split("=")[0] for o in space.overrides(trial.params)] == ["y", "+tag", "x", "z"]


@pytest.mark.parametrize("how", ["suggest", "return"])
def test_custom_space_may_not_set_a_fixed_param(how: str) -> None:
    def extend(cfg: Any, trial: optuna.Trial) -> dict[str, Any] | None:
        if how == "suggest":
            trial.suggest_float("y", 0, 1)
            return None
        return {"y": 0.5}

    study, trial, space = _trial(["x=interval(0,1)", "y=3"])
    with pytest.raises(SweeperConfigError, match=r"Overlapping fixed parameters.* y=3"):
        custom_overrides(extend, None, trial, space)
    assert study.trials[0].state == optuna.trial.TrialState.FAIL


def test_custom_space_may_not_return_a_swept_param() -> None:
    _, trial, space = _trial(["x=interval(0,1)"])
    with pytest.raises(SweeperConfigError, match="swept param.* x"):
        custom_overrides(lambda cfg, t: {"x": 0.5}, None, trial, space)


# ---- multi-objective progress ----


def test_the_progress_label_of_several_objectives_is_the_pareto_front() -> None:
    study = optuna.create_study(directions=["minimize", "minimize"])
    assert study_label(study, "value") is None
    for values in ([1.0, 2.0], [2.0, 1.0], [3.0, 3.0]):
        study.add_trial(optuna.trial.create_trial(values=values))
    assert study_label(study, "value") == "Pareto front: 2 trials"
    single = optuna.create_study()
    single.add_trial(optuna.trial.create_trial(value=4.25))
    assert study_label(single, "val/mae") == "best val/mae=4.25 (trial 0)"


# ---- the same, through a real multirun ----


@pytest.mark.slow
def test_an_upstream_style_command_line_sweeps(sweep) -> None:  # noqa: ANN001
    s = sweep()
    s.ok(
        "hpo=tpe",
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.sampler.n_startup_trials=2",
        "x0=interval(-1,1)",
        "+extra=shuffle(range(0,3))",
    )
    results = OmegaConf.load(s.dir / RESULTS_FILE)
    assert set(results.best_params) == {"x0", "+extra"}
    assert results.best_params["+extra"] in (0, 1, 2)
    assert s.study().trials[0].distributions["+extra"].choices == (0, 1, 2)
