"""The plugin is found by Hydra, stays light to import, and every hpo preset composes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper

from hydra_plugins.tlsweep_sweeper.tlsweep_sweeper import TlsweepSweeper

CONF = Path(__file__).parent / "apps" / "conf"
PRESETS = {
    "grid": "optuna.samplers.GridSampler",
    "random": "optuna.samplers.RandomSampler",
    "tpe": "optuna.samplers.TPESampler",
    "gp": "optuna.samplers.GPSampler",
    "cmaes": "optuna.samplers.CmaEsSampler",
    "qmc": "optuna.samplers.QMCSampler",
}


def test_plugin_is_discovered() -> None:
    # Hydra's scan loads plugin modules afresh, so compare names, not class objects
    found = {f"{c.__module__}.{c.__name__}" for c in Plugins.instance().discover(Sweeper)}
    assert f"{TlsweepSweeper.__module__}.TlsweepSweeper" in found


def test_public_modules_do_not_import_optuna() -> None:
    code = (
        "import sys, hydra_plugins.tlsweep_sweeper.tlsweep_sweeper, tlsweep.hpo.pruning\n"
        "print('optuna' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_hpo_preset_selects_sweeper_and_sampler(preset: str) -> None:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("objective", [f"hpo={preset}", "method=toy"], return_hydra_config=True)
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_ == f"{TlsweepSweeper.__module__}.TlsweepSweeper"
    assert sweeper.sampler._target_ == PRESETS[preset]
    assert sweeper.sampler.seed == 0
    assert sweeper.direction == "minimize"
    assert dict(sweeper.search_space_defaults) == {"x0": "interval(5, 6)", "x1": "choice(-1, 0)"}


def test_hpo_none_keeps_basic_sweeper() -> None:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("objective", ["hpo=none"], return_hydra_config=True)
    assert cfg.hydra.sweeper._target_.endswith("BasicSweeper")


def test_pruner_group() -> None:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(
            "objective",
            ["hpo=tpe", "hydra/sweeper/pruner=tlsweep_hyperband"],
            return_hydra_config=True,
        )
    assert cfg.hydra.sweeper.pruner._target_ == "optuna.pruners.HyperbandPruner"
