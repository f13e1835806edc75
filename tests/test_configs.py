"""Every yaml in every config group composes and builds; the method ones also run (smoke).

Parametrised over the files on disk, so an option is tested the moment its yaml exists.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hydra.utils import instantiate

from tests.conf_options import group_yamls
from tlsweep.run import build_method, run


def options(group: str) -> list[str]:
    return sorted(group_yamls(group))


@pytest.mark.parametrize("name", options("encoder"))
def test_encoder_yaml_builds(make_cfg, name: str) -> None:
    cfg = make_cfg(f"encoder={name}", "debug=smoke")
    encoder = instantiate(cfg.encoder)
    assert encoder.out_features > 0 and encoder.num_stages >= 3


@pytest.mark.parametrize("name", options("sample_size"))
def test_sample_size_yaml_composes(make_cfg, name: str) -> None:
    cfg = make_cfg(f"sample_size={name}")
    assert cfg.sample_size.name == name and 0 < cfg.sample_size.n_val <= cfg.split.val_pool


@pytest.mark.parametrize("name", options("hpo"))
def test_hpo_yaml_composes(make_cfg, name: str) -> None:
    cfg = make_cfg(f"hpo={name}")
    assert cfg.objective.startswith("val/")


@pytest.mark.parametrize("name", options("method"))
def test_method_yaml_runs_smoke(make_cfg, name: str) -> None:
    cfg = make_cfg(f"method={name}", "debug=smoke")
    build_method(cfg.method)
    value = run(cfg)
    assert math.isfinite(value) and value > 0, f"smoke run returns a finite val/mae: {value}"


@pytest.mark.parametrize("name", options("debug"))
def test_debug_yaml_composes_onto_every_method(make_cfg, name: str) -> None:
    for method in options("method"):
        cfg = make_cfg(f"debug={name}", f"method={method}")
        assert cfg.train.epochs <= 2 and cfg.pretrain.epochs <= 2


USER_CONF = Path(__file__).parents[1] / "conf"


@pytest.mark.parametrize("name", sorted(p.stem for p in (USER_CONF / "experiment").glob("*.yaml")))
def test_user_experiment_presets_compose(make_cfg, monkeypatch, name: str) -> None:
    monkeypatch.setenv("TLSWEEP_CONF", str(USER_CONF))
    cfg = make_cfg(f"+experiment={name}")
    assert "experiment" not in cfg, "found as a preset, not added as a stray key"
    assert instantiate(cfg.encoder).out_features > 0


def test_user_slurm_launcher_preset_composes(monkeypatch) -> None:
    from hydra import compose, initialize_config_module

    monkeypatch.setenv("TLSWEEP_CONF", str(USER_CONF))
    with initialize_config_module(version_base="1.3", config_module="tlsweep.conf"):
        cfg = compose("config", overrides=["hydra/launcher=slurm"], return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher") and launcher.gpus_per_node == 1
