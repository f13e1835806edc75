"""Where a run is put together: the method, its pretrained encoder, the network to fine-tune.

:func:`build_method` instantiates a method from its group yaml; :func:`prepare_model` gives the
network a run trains, its encoder pretrained through the disk cache (:mod:`.cache`) when the
method is a :class:`~tlsweep.methods.base.PretrainingMethod`; :func:`source_scores` is the
source-side objective of stage 1 of ``hpo.stage=source_then_target``. The cache lives here, not
in the methods, so a method only says how it pretrains and the modules import one way
(``assemble → base, cache, code_digest, probe``).

A pretraining starts from the run seed, and consumes random numbers on a cache miss and none on
a hit; the RNG is reseeded from the run seed after it, so a run is bit-identical with the cache
hit, missed or off (``tlsweep rerun`` retrains with it off).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any

import torch

from tlsweep.errors import ConfigError
from tlsweep.methods.base import Context, Method, Pretrained, PretrainingMethod
from tlsweep.methods.cache import EncoderCache, State, cache_key
from tlsweep.methods.code_digest import code_digest, code_modules, pretraining_roots
from tlsweep.methods.probe import linear_probe
from tlsweep.models.base import Encoder, Head, Network

log = logging.getLogger(__name__)
# Keys of a method's yaml that are for the sweeper, not the constructor.
SWEEPER_KEYS = ("search_space", "pretrain_search_space")
# Run settings that do not change what a pretraining produces, left out of its key.
NOT_IN_KEY = ("progress", "checkpoint_every_epoch", "threads", "device")
# Keys of a pretraining's spec that stand for its code (a miss on these alone is explained).
CODE_KEYS = ("version", "code")


def build_method(node: Any) -> Method:
    """Instantiate the method from its group yaml (its search spaces are for the sweeper)."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    kwargs = OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node
    kwargs = {k: v for k, v in kwargs.items() if k not in SWEEPER_KEYS}
    return instantiate(kwargs, _convert_="all")


def prepare_model(method: Method, ctx: Context, encoder: Encoder) -> Network:
    """The network a run trains on the target task: ``encoder`` (pretrained, frozen) + a head.

    For a :class:`PretrainingMethod`, the pretrained weights come from the cache (pretrained
    and stored on a miss) and are loaded into ``encoder``; the RNG is then reseeded from
    ``ctx.seed``, so the head and everything after are the same on a hit and on a miss.

    Args:
        method: the run's method.
        ctx: the run's context.
        encoder: a fresh encoder of the configured kind (its weights are replaced).

    Returns:
        The network on ``ctx.device``, lowest ``method.freeze_stages`` stages frozen.
    """
    if isinstance(method, PretrainingMethod):
        encoder.load_state_dict(pretrained_encoder(method, ctx).state)
        reseed(ctx.seed)
    encoder.freeze(method.freeze_stages)
    head = Head(encoder.out_features, ctx.target_task.out_features)
    return Network(encoder, head).to(ctx.device)


def source_scores(method: Method, ctx: Context) -> dict[str, float]:
    """Stage 1 of ``source_then_target``: score ``method``'s pretraining on the source task.

    Pretrains through the cache, then scores on ``source_val``: the pretraining's own
    source-task head at its selected epoch when it has one (kept in the cache entry, so a hit
    reports it too), else a linear probe on frozen pooled features fitted on ``source``. The
    scores are also logged to ``ctx.tracker``. No target label is read.

    Returns:
        ``source_val/<metric>`` for the source task's metrics, and ``source_val/loss`` (log loss
        or MSE; lower is better: the default stage-1 objective, to minimise).

    Raises:
        ConfigError: when ``method`` has no pretraining.
    """
    if not isinstance(method, PretrainingMethod):
        raise ConfigError(
            f"hpo.stage=source_then_target: method {type(method).__name__} has no pretraining "
            "to score on the source task; use hpo.stage=target_only"
        )
    pretrained = pretrained_encoder(method, ctx)
    scores = pretrained.source_metrics
    if scores is None:
        encoder = ctx.make_encoder()
        encoder.load_state_dict(pretrained.state)
        task = ctx.source_task
        source, source_val = ctx.subset("source", task), ctx.subset("source_val", task)
        scores = linear_probe(encoder.to(ctx.device), source, source_val, task, ctx.device)
    ctx.tracker.log_metrics(scores)
    return scores


def reseed(seed: int) -> None:
    """Seed torch (every device) and NumPy's global RNG as a run does at its start."""
    import numpy as np

    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)


def pretrained_encoder(method: PretrainingMethod, ctx: Context) -> Pretrained:
    """``method``'s pretraining: from the cache, or pretrained (and cached) now.

    A pretraining is logged as its own MLflow run (tags ``tlsweep.role=pretraining`` and
    ``tlsweep.pretrain_key``); this run is tagged with ``tlsweep.pretrain_key``,
    ``tlsweep.pretrain_cache`` (hit, miss, or off with ``pretrain.cache=false``) and
    ``tlsweep.pretrain_run_id`` with ``tlsweep.pretrain_run_uri`` (recorded in the entry, so
    hits link to it too, even from another tracking store). A run that pretrains (a miss, or
    the cache off) also records the seconds it took: tag ``tlsweep.pretrain_s``, the entry's
    ``pretrain_s`` and its log line ``pretrained encoder KEY: cache miss, 12.345 s pretraining``
    (read back by :mod:`tlsweep.report.budget`: the compute pretraining costs, in no budget).
    """
    from tlsweep.tracking.mlflow_tracker import flatten

    spec = pretrain_spec(method, ctx)
    key = cache_key(spec)
    name = f"pretrain-{type(method).__name__.lower()}-{key[:8]}"
    spent: list[float] = []  # seconds this run spent pretraining (none on a hit)

    def build() -> tuple[State, dict[str, Any]]:
        own = getattr(ctx.tracker, "tags", {})  # the method, encoder and dataset it is for
        tags = {k: own[k] for k in ("method", "encoder", "dataset") if k in own}
        tags |= {"tlsweep.role": "pretraining", "tlsweep.pretrain_key": key}
        with ctx.tracker.open_sibling(name, tags) as run:
            run.log_params(flatten(spec))
            started = time.perf_counter()
            # from the run seed, whatever consumed random numbers before (the cache's key check
            # builds an encoder; pretrain.cache=false does not): off, miss and hit agree
            reseed(ctx.seed)
            result = method.pretrain(ctx, run)
            spent.append(round(time.perf_counter() - started, 3))
        meta = {"run_id": run.run_id, "run_uri": run.uri, "spec": spec, "pretrain_s": spent[-1]}
        meta["code_modules"] = list(code_modules(_code_roots(method, ctx)))
        return result.state, {**meta, "source_metrics": result.source_metrics}

    if ctx.pretrain.cache:
        expected = set(ctx.make_encoder().state_dict())
        cache = EncoderCache(Path(ctx.pretrain.cache_dir))

        def rebuild() -> tuple[State, dict[str, Any]]:
            _explain_miss(cache, spec, key)
            return build()

        entry, hit = cache.get_or_build(key, rebuild, expected)
        state, meta, status = entry.state, entry.meta, ("hit" if hit else "miss")
    else:
        (state, meta), status = build(), "off"
    tags = {"tlsweep.pretrain_key": key, "tlsweep.pretrain_cache": status}
    tags |= {"tlsweep.pretrain_s": spent[-1]} if spent else {}
    if meta.get("run_id"):  # the cache may be shared by several MLflow stores: say which
        tags["tlsweep.pretrain_run_id"] = meta["run_id"]
        tags["tlsweep.pretrain_run_uri"] = meta.get("run_uri")
        ctx.tracker.link_pretraining(meta["run_id"], meta.get("run_uri"))
    ctx.tracker.set_tags(tags)
    took = f", {spent[-1]:.3f} s pretraining" if spent else ""
    log.info("pretrained encoder %s: cache %s%s", key, status, took)
    return Pretrained(state, meta.get("source_metrics"))


def pretrain_spec(method: PretrainingMethod, ctx: Context) -> dict[str, Any]:
    """Everything that determines ``method``'s pretraining in this run (hashed into its key).

    The method (class, ``VERSION``, a digest of the code the pretraining runs:
    :func:`~tlsweep.methods.code_digest.code_digest` of the method's and the encoder's modules
    and what they import, and
    :meth:`~tlsweep.methods.base.PretrainingMethod.pretrain_args`: every constructor argument
    but the fine-tuning ones, and the source task), the dataset config, a fingerprint of the
    source subjects (their ids in order, their participants-table rows, the preprocessed-volume
    cache they are read from), the split config, the encoder config, the pretraining schedule
    (``pretrain`` over ``train``, which is what the loop uses) and the seed.
    """
    dataset = _plain(ctx.dataset_cfg) or {}
    dataset.pop("cache_dir", None)  # where the cohort is cached does not change it
    schedule = _plain(ctx.pretrain_settings)
    return {
        "method": f"{type(method).__module__}.{type(method).__qualname__}",
        "version": method.VERSION,
        "code": code_digest(_code_roots(method, ctx)),
        "args": method.pretrain_args(ctx),
        "dataset": dataset,
        "data": _source_fingerprint(ctx),
        "split": _plain(ctx.split_cfg),
        "encoder": _plain(ctx.encoder_cfg),
        "schedule": {k: v for k, v in schedule.items() if k not in NOT_IN_KEY},
        "seed": ctx.seed,
    }


def _code_roots(method: PretrainingMethod, ctx: Context) -> tuple[str, ...]:
    encoder = _plain(ctx.encoder_cfg)
    target = encoder.get("_target_") if isinstance(encoder, dict) else None
    # this module too: it decides where a pretraining starts (its seed) and what it is given
    return tuple(sorted({*pretraining_roots(type(method).__module__, target), __name__}))


def _explain_miss(cache: EncoderCache, spec: dict[str, Any], key: str) -> None:
    """Say so when the miss is only because an entry for the same spec came from other code."""
    settings = cache_key({k: v for k, v in spec.items() if k not in CODE_KEYS})
    for meta in cache.metadata():
        old = meta.get("spec")
        if not isinstance(old, dict) or meta.get("key") == key:
            continue
        if cache_key({k: v for k, v in old.items() if k not in CODE_KEYS}) == settings:
            log.info(
                "pretrained encoder %s: entry %s has the same settings but other code (VERSION "
                "%s, code digest %s; now %s, %s), so it is pretrained again",
                key,
                meta.get("key"),
                old.get("version"),
                old.get("code", "not recorded"),
                spec.get("version"),
                spec.get("code"),
            )
            return


def _plain(node: Any) -> Any:
    from omegaconf import DictConfig, OmegaConf

    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node


def _source_fingerprint(ctx: Context) -> dict[str, str | None]:
    import pandas as pd

    roles = [ctx.splits["source"], ctx.splits["source_val"]]
    digest = hashlib.sha256(json.dumps(roles).encode())
    rows = ctx.cohort.table.loc[roles[0] + roles[1]]
    digest.update(pd.util.hash_pandas_object(rows, index=True).to_numpy().tobytes())
    volumes = getattr(ctx.cohort.images, "filename", None)  # memory-mapped volume cache
    volumes = Path(volumes).parent.name if volumes else None
    return {"subjects": digest.hexdigest(), "volumes": volumes}
