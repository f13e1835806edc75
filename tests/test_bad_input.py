"""Ordinary mistakes in the run config: one line naming key and value, exit 2, nothing run.

The CLI cases run the real ``tlsweep`` command; every one of them fails in the config checks
(:mod:`tlsweep.checks`, or an Enum field of the schema at composition), before any data is read,
so each takes a few seconds. The in-process cases cover every key :func:`check_config` knows.
"""

from __future__ import annotations

import copy
import logging
import re
import subprocess
from pathlib import Path

import pytest
from omegaconf import DictConfig, OmegaConf

from tests.conftest import run_cli as tlsweep
from tlsweep.checks import FRACTIONS, MINIMUM, check_config
from tlsweep.errors import ConfigError, explain


def assert_one_line(result: subprocess.CompletedProcess, pattern: str) -> None:
    """Exit 2, one ``tlsweep: error:`` line matching ``pattern``, and no traceback."""
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert result.returncode == 2, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("tlsweep: error:")]
    assert len(errors) == 1, result.stderr[-3000:]
    assert re.search(pattern, errors[0]), errors[0]


# Each group is one class of mistake; every case is silently accepted (exit 0) without the checks.
CASES = {
    "integer below its minimum": [
        (["train.epochs=0"], r"train\.epochs=0: must be >= 1"),
        (["pretrain.epochs=0"], r"pretrain\.epochs=0: must be >= 1"),
        (["train.patience=-1"], r"train\.patience=-1: must be >= 0 \(0 disables"),
        (["sample_size.n_train=-5"], r"sample_size\.n_train=-5: must be >= 1"),
        (["train.batch_size=0"], r"train\.batch_size=0: must be >= 1"),
        (["train.threads=-2"], r"train\.threads=-2: must be >= 0"),
        (["final.seeds=-1"], r"final\.seeds=-1: must be >= 0"),
    ],
    "real number out of its domain": [
        (["train.lr=0"], r"train\.lr=0\.0: must be a finite number > 0"),
        (["pretrain.lr=-0.001"], r"pretrain\.lr=-0\.001: must be a finite number > 0"),
        (["train.lr=nan"], r"train\.lr=nan: must be a finite number > 0"),
        (["train.weight_decay=-1e-4"], r"train\.weight_decay=-0\.0001: must be .*>= 0"),
    ],
    "fixed choice not among its options": [
        (["train.scheduler=linear"], r"train\.scheduler=linear is not a valid option; "),
        (["hpo.stage=both"], r"hpo\.stage=both is not a valid option; .*source_then_target"),
        (["target_task.type=regresion"], r"target_task\.type=regresion .*'regression'"),
        (["target_task.loss=L1"], r"target_task\.loss=L1 .*did you mean 'l1'\?"),
        (["source_task.loss=huber"], r"source_task\.loss=huber: a classification task "),
        (["train.device=gpu"], r"train\.device=gpu is not a valid option; .*cuda:N"),
    ],
    "split fractions and sizes that cannot add up": [
        (
            ["split.test_fraction=0.6", "split.source_fraction=0.5"],
            r"split\.test_fraction=0\.6 \+ split\.source_fraction=0\.5 = 1\.1: must be < 1",
        ),
        (["split.source_val_fraction=1.0"], r"split\.source_val_fraction=1\.0: must be in \(0"),
        (["split.test_fraction=0"], r"split\.test_fraction=0\.0: must be in \(0, 1\)"),
        (["split.val_pool=4"], r"split\.val_pool=4 is smaller than sample_size\.n_val=8"),
        (["split.strata_bins=0"], r"split\.strata_bins=0: must be >= 1"),
        (["train.warmup_epochs=5"], r"train\.warmup_epochs=5 exceeds train\.epochs=2"),
    ],
    "tracking URI with an unknown scheme": [
        (["tracking.uri=sqlit:///x.db"], r"tracking\.uri=sqlit:///x\.db: unknown scheme 'sqlit'"),
        (["tracking.uri=s3://bucket/mlruns"], r"tracking\.uri=s3://bucket/mlruns: unknown sch"),
    ],
}


# One real CLI run per class of mistake (a CLI start costs seconds on a loaded machine); the
# whole table is checked in process below.
CLI_CASES = [c[0] for c in CASES.values()]


@pytest.mark.parametrize(
    ("args", "pattern"), [pytest.param(a, p, id=" ".join(a)) for a, p in CLI_CASES]
)
def test_bad_value_is_one_line_before_any_data(
    args: list[str], pattern: str, tmp_path: Path, cache_dir: Path
) -> None:
    result = tlsweep("debug=smoke", *args, cwd=tmp_path, cache_dir=cache_dir)
    assert_one_line(result, pattern)
    assert not (tmp_path / "mlflow.db").exists(), "nothing is logged for a rejected config"
    assert not list(tmp_path.glob("outputs/*/*/splits.csv")), "no data was split"


@pytest.mark.parametrize("key", ["tracking.uri", "cache_dir", "output_dir"])
def test_folder_under_a_regular_file_is_named(key: str, tmp_path: Path, cache_dir: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    target = blocker / "sub"
    override = {
        "tracking.uri": f"tracking.uri=sqlite:///{target}/mlflow.db",
        "cache_dir": f"cache_dir={target}",
        "output_dir": f"hydra.run.dir={target}",  # output_dir is ${hydra:runtime.output_dir}
    }[key]
    result = tlsweep("debug=smoke", override, cwd=tmp_path, cache_dir=cache_dir)
    if key == "output_dir":  # Hydra creates it before tlsweep runs: errors.explain names it
        assert_one_line(result, rf"cannot create or write {re.escape(str(target))}: Not a dir")
    else:
        assert_one_line(result, rf"{re.escape(key)}=\S*: {re.escape(str(blocker))} is a file")


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_sweeper_storage_under_a_regular_file_is_named(
    kind: str, tmp_path: Path, cache_dir: Path
) -> None:
    """As cache_dir and tracking.uri: one line, exit 2, and no study, lock or trial left."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    spec = f"sqlite:///{blocker}/hpo.db" if kind == "sqlite" else str(blocker / "sub" / "j.log")
    result = tlsweep(
        "-m",
        "hpo=tpe",
        "debug=smoke",
        f"hydra.sweeper.storage='{spec}'",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        cwd=tmp_path,
        cache_dir=cache_dir,
    )
    key = re.escape(f"hydra.sweeper.storage={spec}")
    assert_one_line(result, rf"{key}: {re.escape(str(blocker))} is a file, so \S+ cannot be")
    left = [p.name for p in (tmp_path / "sweep").rglob("*")]
    assert not [n for n in left if n.endswith((".lock", ".flock", ".log", ".db")) or n == ".hydra"]


def test_sweep_queues_nothing_for_a_bad_value(tmp_path: Path, cache_dir: Path) -> None:
    """The tlsweep sweeper validates every cell before it queues a trial."""
    result = tlsweep(
        "-m",
        "hpo=tpe",
        "debug=smoke",
        "method=scratch,pretrain_freeze",
        "train.epochs=0",
        "hydra.sweeper.n_trials=2",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        cwd=tmp_path,
        cache_dir=cache_dir,
    )
    assert_one_line(result, r"nothing queued: .*train\.epochs=0: must be >= 1")
    assert not (tmp_path / "mlflow.db").exists()
    assert not list((tmp_path / "sweep").rglob("metrics.json"))


# --- in process: every key check_config knows, without a subprocess -------------------------


def compose_run(tmp: Path, *overrides: str) -> DictConfig:
    """The packaged config as a run gets it, with its folders under ``tmp``."""
    from hydra import compose, initialize_config_module

    with initialize_config_module(version_base="1.3", config_module="tlsweep.conf"):
        return compose(
            "config",
            overrides=[f"cache_dir={tmp / 'cache'}", f"output_dir={tmp / 'run'}", *overrides],
        )


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> DictConfig:
    return compose_run(tmp_path_factory.mktemp("checks"), "debug=smoke")


@pytest.fixture
def cfg(smoke: DictConfig) -> DictConfig:
    """A fresh copy of the smoke config per test (composing each time costs a second)."""
    return copy.deepcopy(smoke)


@pytest.mark.parametrize(
    ("args", "pattern"),
    [pytest.param(a, p, id=f"{group}: {' '.join(a)}") for group, c in CASES.items() for a, p in c],
)
def test_every_case_in_process(cfg: DictConfig, args: list[str], pattern: str) -> None:
    """The same message as the CLI's, from the schema (Enum fields) or from check_config."""
    import yaml

    try:
        for arg in args:
            key, _, value = arg.partition("=")
            OmegaConf.update(cfg, key, yaml.safe_load(value))
        check_config(cfg)
    except Exception as exc:  # noqa: BLE001 - an Enum field raises OmegaConf's ValidationError
        message = explain(exc)
    else:
        pytest.fail(f"{args} passed the checks")
    assert message is not None and "\n" not in message
    assert re.search(pattern, message), message


def test_the_packaged_configs_pass(tmp_path: Path) -> None:
    for overrides in ([], ["debug=smoke"], ["hpo=tpe", "method=simclr"]):
        check_config(compose_run(tmp_path, *overrides))


@pytest.mark.parametrize(("key", "bound"), [(k, low) for k, (low, _) in MINIMUM.items()])
def test_every_integer_minimum(cfg: DictConfig, key: str, bound: int) -> None:
    if key == "split.val_pool":
        OmegaConf.update(cfg, "sample_size.n_val", bound)  # the pool must hold n_val
    OmegaConf.update(cfg, key, bound)
    check_config(cfg)  # the bound itself is valid
    OmegaConf.update(cfg, key, bound - 1)
    with pytest.raises(ConfigError, match=rf"^{re.escape(key)}={bound - 1}: must be >= {bound}"):
        check_config(cfg)


@pytest.mark.parametrize("key", FRACTIONS)
@pytest.mark.parametrize("value", [0.0, 1.0, -0.1, float("nan")])
def test_every_fraction(cfg: DictConfig, key: str, value: float) -> None:
    OmegaConf.update(cfg, key, value)
    with pytest.raises(ConfigError, match=rf"^{re.escape(key)}=\S+: must be in \(0, 1\)"):
        check_config(cfg)


@pytest.mark.parametrize("section", ["train", "pretrain"])
def test_learning_rate_and_weight_decay(cfg: DictConfig, section: str) -> None:
    OmegaConf.update(cfg, f"{section}.weight_decay", 0.0)
    check_config(cfg)  # no weight decay is fine
    for key, value in ((f"{section}.lr", 0.0), (f"{section}.weight_decay", float("inf"))):
        bad = cfg.copy()
        OmegaConf.update(bad, key, value)
        with pytest.raises(ConfigError, match=rf"^{re.escape(key)}="):
            check_config(bad)


@pytest.mark.parametrize(
    ("uri", "ok"),
    [
        ("sqlite:///mlflow.db", True),
        ("http://127.0.0.1:5000", True),
        ("postgresql+psycopg2://u@h/db", True),
        ("file:///tmp/mlruns", True),
        ("mlruns", True),
        ("sqlite://mlflow.db", False),
        ("ftp://host/x", False),
    ],
)
def test_tracking_uri_schemes(cfg: DictConfig, uri: str, ok: bool) -> None:
    OmegaConf.update(cfg, "tracking.enabled", True)
    OmegaConf.update(cfg, "tracking.uri", uri)
    if ok:
        check_config(cfg)
    else:
        with pytest.raises(ConfigError, match=rf"^tracking\.uri={re.escape(uri)}: "):
            check_config(cfg)


def test_cudnn_benchmark_needs_nondeterministic(cfg: DictConfig) -> None:
    OmegaConf.update(cfg, "train.cudnn_benchmark", True)
    with pytest.raises(ConfigError, match=r"^train\.cudnn_benchmark=true: "):
        check_config(cfg)
    OmegaConf.update(cfg, "train.deterministic", False)
    check_config(cfg)


@pytest.mark.parametrize(
    ("direction", "objective", "warned"),
    [
        ("maximize", "val/mae", True),
        ("maximize", "val/rmse", True),
        ("minimize", "val/r2", True),
        ("minimize", "val/auroc", True),
        ("minimize", "val/mae", False),
        ("maximize", "val/pearson_r", False),
    ],
)
def test_direction_contradicting_the_metric_warns(
    cfg: DictConfig, direction: str, objective: str, warned: bool, caplog: pytest.LogCaptureFixture
) -> None:
    OmegaConf.update(cfg, "direction", direction)
    OmegaConf.update(cfg, "objective", objective)
    with caplog.at_level(logging.WARNING, logger="tlsweep.checks"):
        check_config(cfg)
    lines = [r.getMessage() for r in caplog.records if r.name == "tlsweep.checks"]
    assert bool(lines) == warned, lines
    if warned:
        assert f"direction={direction} with objective={objective}" in lines[0]
        assert "\n" not in lines[0]


def test_a_bad_direction_is_an_option_error(cfg: DictConfig) -> None:
    OmegaConf.update(cfg, "direction", "max")
    with pytest.raises(ConfigError, match=r"^direction=max is not a valid option; .*maximize"):
        check_config(cfg)


def test_enum_fields_still_compare_as_strings(cfg: DictConfig) -> None:
    """Code that compares ``scheduler == "cosine"`` and JSON cache keys keep working."""
    import json

    assert cfg.train.scheduler == "cosine" and f"{cfg.train.scheduler}" == "cosine"
    assert cfg.target_task.type == "regression" and cfg.hpo.stage == "target_only"
    plain = OmegaConf.to_container(cfg.train, resolve=True)
    assert json.loads(json.dumps(plain))["scheduler"] == "cosine"
    assert "scheduler: cosine" in OmegaConf.to_yaml(cfg.train)
