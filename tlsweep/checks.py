"""Range and consistency checks of the run-level config, before any data is read.

The schema (:mod:`tlsweep.schemas`) types every key and restricts the fixed choices to Enums, so
``train.scheduler=linear`` fails when the config is composed. What a type cannot say is checked
here: numeric domains (``train.epochs=0`` would log an untrained model as a finished run), keys
that must agree (``split.val_pool`` and ``sample_size.n_val``), a tracking URI's scheme and the
folders a run will write to. :func:`check_config` is cheap and pure (it reads the file system,
never writes; no torch, MONAI or MLflow), so the sweeper calls it for every cell before it queues
anything, and every run calls it first.
"""

from __future__ import annotations

import logging
import math
import os
import re
from pathlib import Path
from urllib.parse import urlparse

from omegaconf import DictConfig, OmegaConf

from tlsweep.errors import ConfigError, bad_option, suggest

log = logging.getLogger(__name__)

# key -> (smallest valid integer, what the bound means); None values (optional keys) pass
MINIMUM: dict[str, tuple[int, str]] = {
    "sample_size.n_train": (1, "labelled training subjects"),
    "sample_size.n_val": (1, "validation subjects"),
    "split.val_pool": (1, "subjects reserved for validation"),
    "split.strata_bins": (1, "quantile bins; 1 = no stratification"),
    "split.seed": (0, "a non-negative seed"),
    "split.draw": (0, "null = the split's own order"),
    "train.epochs": (1, "0 epochs would record an untrained model"),
    "train.batch_size": (1, "subjects per step"),
    "train.warmup_epochs": (0, "0 = no warm-up"),
    "train.patience": (0, "0 disables early stopping"),
    "train.threads": (0, "0 = this trial's share of the CPUs"),
    "pretrain.epochs": (1, "0 epochs would cache a random encoder as pretrained"),
    "pretrain.batch_size": (1, "subjects per step"),
    "pretrain.patience": (0, "0 disables early stopping"),
    "hpo.source_trials": (1, "null = n_trials, or half of it with hpo.budget=shared"),
    "final.seeds": (0, "0 = no final reruns"),
    "final.first_seed": (0, "a non-negative seed"),
}
# key -> (low, high, low included); high is always excluded
FRACTIONS: dict[str, tuple[float, float, bool]] = {
    "split.test_fraction": (0.0, 1.0, False),
    "split.source_fraction": (0.0, 1.0, False),
    "split.source_val_fraction": (0.0, 1.0, False),
}
DIRECTIONS = ("minimize", "maximize")
DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")
DATABASES = ("mssql", "mysql", "postgresql", "sqlite")  # MLflow's SQLAlchemy stores
TRACKING_SCHEMES = ("databricks", "file", "http", "https", *DATABASES)
#: Fewer validation subjects than this and the score that selects a configuration is mostly noise:
#: with 20 the standard error of a validation MAE is still ~22% of the spread of the errors
#: (1/sqrt(20)), the size of many differences between trials. plan and the report warn.
SMALL_VALIDATION = 20
# metrics where smaller is better; every other known metric is maximised (train/metrics.py)
ERROR_METRICS = frozenset({"mae", "rmse", "mse", "loss", "nt_xent"})


def check_config(cfg: DictConfig) -> None:
    """Reject out-of-range numbers, inconsistent keys and unusable paths in a run config.

    Warns (``logging.warning``) when ``direction`` contradicts the objective's metric.

    Args:
        cfg: a composed run config (``RunConfig`` with its groups; a ``hydra`` node is ignored).

    Raises:
        ConfigError: one line naming the key, the value and the valid range or options.
    """
    for key, (low, meaning) in MINIMUM.items():
        _at_least(cfg, key, low, meaning)
    for key, (low, high, closed) in FRACTIONS.items():
        _fraction(cfg, key, low, high, closed)
    for section in ("train", "pretrain"):
        _positive(cfg, f"{section}.lr", strict=True)
        _positive(cfg, f"{section}.weight_decay", strict=False)
    _check_split(cfg)
    _check_train(cfg)
    for key in ("source_task", "target_task"):
        _check_task(cfg, key)
    _check_objective(cfg)
    if _get(cfg, "tracking.enabled"):
        _check_tracking_uri(str(_get(cfg, "tracking.uri")))
    for key in ("cache_dir", "pretrain.cache_dir", "output_dir"):
        _check_folder(cfg, key)


def small_validation(n_val: int | None) -> str | None:
    """One warning line when ``sample_size.n_val`` is below :data:`SMALL_VALIDATION`, else None.

    For ``tlsweep plan`` and the report (a run does not warn: a sweep would repeat it per trial).

    Args:
        n_val: validation subjects of a cell (``sample_size.n_val``); None: unknown, no warning.
    """
    if n_val is None or n_val >= SMALL_VALIDATION:
        return None
    return (
        f"sample_size.n_val={n_val} < {SMALL_VALIDATION} validation subjects: the score that "
        "selects the tuned configuration is noisy, so tuning may select little better than chance"
    )


def _get(cfg: DictConfig, key: str) -> object:
    """The value at ``key``; None when absent, missing (``???``) or not resolvable here."""
    try:
        return OmegaConf.select(cfg, key, default=None, throw_on_missing=False)
    except Exception:  # e.g. ${hydra:runtime.output_dir} outside a Hydra app
        return None


def _at_least(cfg: DictConfig, key: str, low: int, meaning: str) -> None:
    value = _get(cfg, key)
    if value is not None and value < low:
        raise ConfigError(f"{key}={value}: must be >= {low} ({meaning})")


def _fraction(cfg: DictConfig, key: str, low: float, high: float, closed: bool) -> None:
    value = _get(cfg, key)
    if value is None:
        return
    above = value >= low if closed else value > low
    if not (above and value < high):  # also rejects nan
        interval = f"{'[' if closed else '('}{low:g}, {high:g})"
        raise ConfigError(f"{key}={value}: must be in {interval}")


def _positive(cfg: DictConfig, key: str, strict: bool) -> None:
    value = _get(cfg, key)
    if value is None:
        return
    ok = math.isfinite(value) and (value > 0 if strict else value >= 0)
    if not ok:
        raise ConfigError(f"{key}={value}: must be a finite number {'>' if strict else '>='} 0")


def _check_split(cfg: DictConfig) -> None:
    """The held-out and source fractions must leave a labelled target pool."""
    test, source = _get(cfg, "split.test_fraction"), _get(cfg, "split.source_fraction")
    if test is not None and source is not None and test + source >= 1:
        raise ConfigError(
            f"split.test_fraction={test} + split.source_fraction={source} = {test + source:g}: "
            "must be < 1 to leave subjects for the target training and validation pool"
        )
    pool, n_val = _get(cfg, "split.val_pool"), _get(cfg, "sample_size.n_val")
    if pool is not None and n_val is not None and pool < n_val:
        raise ConfigError(
            f"split.val_pool={pool} is smaller than sample_size.n_val={n_val}: validation draws "
            "from that pool; raise split.val_pool or lower n_val"
        )


def _check_train(cfg: DictConfig) -> None:
    warmup, epochs = _get(cfg, "train.warmup_epochs"), _get(cfg, "train.epochs")
    if warmup is not None and epochs is not None and warmup > epochs:
        raise ConfigError(
            f"train.warmup_epochs={warmup} exceeds train.epochs={epochs}: the learning rate "
            "would never reach train.lr; use at most train.epochs warm-up epochs"
        )
    pretrain_epochs = _get(cfg, "pretrain.epochs")
    if warmup and pretrain_epochs is not None and warmup > pretrain_epochs:
        log.warning(
            "train.warmup_epochs=%s exceeds pretrain.epochs=%s: a pretraining phase (which uses "
            "train's warm-up) never leaves warm-up",
            warmup,
            pretrain_epochs,
        )
    device = _get(cfg, "train.device")
    if device is not None and not DEVICE.fullmatch(str(device)):
        raise bad_option("train.device", device, ("auto", "cpu", "cuda", "cuda:N"))
    if _get(cfg, "train.cudnn_benchmark") and _get(cfg, "train.deterministic"):
        raise ConfigError(
            "train.cudnn_benchmark=true: cuDNN autotuning picks algorithms by timing, so results "
            "are not reproducible; set train.deterministic=false with it"
        )


def _check_task(cfg: DictConfig, key: str) -> None:
    """A classification task always uses cross-entropy: another loss would be ignored."""
    kind, loss = _get(cfg, f"{key}.type"), _get(cfg, f"{key}.loss")
    if kind == "classification" and loss not in (None, "auto"):
        raise ConfigError(
            f"{key}.loss={loss}: a classification task always trains with cross-entropy; "
            "options for it: auto"
        )
    if _get(cfg, f"{key}.column") == "":
        raise ConfigError(f"{key}.column is empty: name a participants-table column")


def _check_objective(cfg: DictConfig) -> None:
    direction, objective = _get(cfg, "direction"), _get(cfg, "objective")
    if direction is not None and direction not in DIRECTIONS:
        raise bad_option("direction", direction, DIRECTIONS)
    if objective is None or direction is None:
        return
    metric = str(objective).rpartition("/")[2]
    if direction == "maximize" and metric in ERROR_METRICS:
        log.warning(
            "direction=maximize with objective=%s, an error metric: the sweeper will "
            "select the worst model; use direction=minimize",
            objective,
        )
    elif direction == "minimize" and _maximised(metric):
        log.warning(
            "direction=minimize with objective=%s, a score where higher is better: the "
            "sweeper will select the worst model; use direction=maximize",
            objective,
        )
    source = _get(cfg, "hpo.source_objective")
    if source is not None and _maximised(str(source).rpartition("/")[2]):
        log.warning(
            "hpo.source_objective=%s is minimised in stage 1, but higher is better "
            "for it; use source_val/loss",
            source,
        )


def _maximised(metric: str) -> bool:
    from tlsweep.train.metrics import MAXIMIZE  # numpy only; no torch

    return metric in MAXIMIZE


def _check_tracking_uri(uri: str) -> None:
    """A scheme MLflow knows, and for sqlite a database file that can be created."""
    scheme, sep, rest = uri.partition(":")
    if not sep or len(scheme) == 1:  # a plain path (or C:\...) is MLflow's file store
        return
    engine = scheme.lower().partition("+")[0]  # postgresql+psycopg2: engine + driver
    if engine not in TRACKING_SCHEMES:
        raise ConfigError(
            f"tracking.uri={uri}: unknown scheme '{scheme}'; {suggest(engine, TRACKING_SCHEMES)}"
            f"options: {', '.join(TRACKING_SCHEMES)}"
        )
    if engine == "file":
        _writable(f"tracking.uri={uri}", Path(urlparse(uri).path))
    elif engine == "sqlite":
        path = rest.removeprefix("///").partition("?")[0]
        if not rest.startswith("///"):
            raise ConfigError(
                f"tracking.uri={uri}: a sqlite URI is sqlite:///relative/path.db or "
                "sqlite:////absolute/path.db"
            )
        if path and path != ":memory:":
            _writable(f"tracking.uri={uri}", Path(path).parent)


def _check_folder(cfg: DictConfig, key: str) -> None:
    value = _get(cfg, key)
    if value:
        _writable(f"{key}={value}", Path(str(value)))


def _writable(what: str, folder: Path) -> None:
    """``folder`` is, or can be created as, a writable directory (nothing is created here)."""
    probe = Path(os.path.abspath(folder))
    while not probe.exists():  # the first existing ancestor decides
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigError(f"{what}: {probe} is a file, so the folder {folder} cannot be created")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"{what}: no permission to write in {probe}")
