"""A model-based sampler's random start-up fits each study's budget, and a given value wins.

In process: real :class:`CellStudy` objects on real journal files, their real Optuna samplers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
from omegaconf import OmegaConf

from hydra_plugins.tlsweep_sweeper._study import STARTUP_ATTR, CellStudy
from hydra_plugins.tlsweep_sweeper.config import TlsweepSweeperConf

TPE = {"_target_": "optuna.samplers.TPESampler", "n_startup_trials": None, "seed": 0}


def _study(folder: Path, sampler: dict[str, Any], n_trials: int) -> CellStudy:
    settings = OmegaConf.structured(TlsweepSweeperConf)
    settings.sampler, settings.n_trials = sampler, n_trials
    return CellStudy(
        settings,
        config=OmegaConf.create({}),
        compose=lambda overrides: None,
        arguments=["x=interval(0,1)"],
        folder=folder,
        subdir="",
        study_name="s",
        space_defaults=None,
    )


@pytest.mark.parametrize(
    ("sampler", "n_trials", "startup"),
    [
        (TPE, 4, 2),  # half of a small budget: 2 random, 2 model-guided
        (TPE, 40, 10),  # Optuna's own 10 once the budget is large
        ({**TPE, "n_startup_trials": 7}, 4, 7),  # given: used as is, even past the budget
        ({**TPE, "_target_": "optuna.samplers.GPSampler"}, 6, 3),
    ],
)
def test_the_sampler_gets_the_start_up_and_the_study_records_it(
    tmp_path: Path, sampler: dict[str, Any], n_trials: int, startup: int
) -> None:
    study = _study(tmp_path, sampler, n_trials)
    try:
        assert study.startup == startup
        assert study.study.sampler._n_startup_trials == startup
        assert study.study.user_attrs[STARTUP_ATTR] == startup
    finally:
        study.close()


def test_a_sampler_without_a_start_up_phase_records_none(tmp_path: Path) -> None:
    study = _study(tmp_path, {"_target_": "optuna.samplers.RandomSampler", "seed": 0}, 4)
    try:
        assert study.startup is None and STARTUP_ATTR not in study.study.user_attrs
        assert isinstance(study.study.sampler, optuna.samplers.RandomSampler)
    finally:
        study.close()


def test_a_stage_gets_the_start_up_of_its_own_budget(tmp_path: Path) -> None:
    """Stage 1 and stage 2 of a cell are separate studies with their own ``n_trials``."""
    settings = OmegaConf.structured(TlsweepSweeperConf)
    settings.sampler, settings.n_trials = TPE, 20
    stage1 = CellStudy(
        settings, OmegaConf.create({}), lambda o: None, ["x=interval(0,1)"], tmp_path / "s1",
        "", "s1", None, n_trials=4,
    )  # fmt: skip
    try:
        assert stage1.startup == 2 and stage1.study.sampler._n_startup_trials == 2
    finally:
        stage1.close()
