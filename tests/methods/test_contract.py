"""The method contract (:mod:`tlsweep.methods.base`), checked for every method yaml on disk.

Parametrised over the files of ``tlsweep/conf/method/`` and of the user's ``conf/method/``
(``$TLSWEEP_CONF`` or ``./conf``, as the CLI sees them), never over a hand-kept list: a method
added as one ``.py`` and one ``.yaml`` enters every test here (shown by
``test_a_new_method_enters_the_suite_without_editing_a_test``).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hydra.utils import get_class
from omegaconf import OmegaConf

from hydra_plugins.tlsweep_searchpath.searchpath import user_conf_dir
from tests.conf_options import run_with_plugins
from tlsweep.data.splits import Splits
from tlsweep.errors import ConfigError
from tlsweep.methods.assemble import (
    SWEEPER_KEYS,
    build_method,
    prepare_model,
    pretrain_spec,
    reseed,
    source_scores,
)
from tlsweep.methods.base import HELD_OUT_ROLES, Context, Method, PretrainingMethod
from tlsweep.methods.cache import cache_key
from tlsweep.methods.labels import META, SOURCE_TASK, TARGET_TASK, LabelUse
from tlsweep.methods.simclr import SimCLR
from tlsweep.models.base import Head, Network
from tlsweep.tracking.protocol import NullTracker
from tlsweep.train.data import Batch, to_device
from tlsweep.train.loop import Objective, TrainSettings
from tlsweep.train.metrics import metric_names
from tlsweep.train.supervised import fit_subsets

ROOT = Path(__file__).resolve().parents[2]
PACKAGED = ROOT / "tlsweep" / "conf" / "method"


def method_yamls() -> dict[str, Path]:
    """Every method option the CLI offers: packaged yamls, then the user's (appended)."""
    folders = [PACKAGED]
    user = user_conf_dir()
    if user is not None:
        folders.append(user / "method")
    found: dict[str, Path] = {}
    for folder in folders:
        for path in sorted(folder.glob("*.yaml")):
            found.setdefault(path.stem, path)
    return found


def method_class(name: str) -> type[Method]:
    return get_class(OmegaConf.load(method_yamls()[name])["_target_"])


METHODS = sorted(method_yamls())
PRETRAINING = [m for m in METHODS if issubclass(method_class(m), PretrainingMethod)]


def test_the_packaged_methods_are_all_found() -> None:
    assert {"scratch", "pretrain_freeze", "simclr", "vat", "warp_consistency"} <= set(METHODS)
    assert {"pretrain_freeze", "simclr"} <= set(PRETRAINING)


@pytest.mark.parametrize("name", METHODS)
def test_loss_is_a_scalar_with_a_gradient(tiny, name: str) -> None:
    cfg, ctx = tiny(f"method={name}")
    method = build_method(cfg.method)
    assert isinstance(method, Method)
    torch.manual_seed(0)
    encoder = ctx.make_encoder()
    model = Network(encoder, Head(encoder.out_features, ctx.target_task.out_features))
    train, unlabelled = ctx.subset("train", ctx.target_task), method.unlabelled(ctx)
    batch = Batch(
        to_device(train.images[:4], ctx.device),
        train.targets[:4],
        None if unlabelled is None else to_device(unlabelled.images[:4], ctx.device),
    )
    out = method.loss(model, batch, ctx.target_task, 0.5)
    loss, parts = out if isinstance(out, tuple) else (out, {})
    assert isinstance(loss, torch.Tensor) and loss.ndim == 0 and torch.isfinite(loss)
    for part, value in parts.items():
        assert isinstance(value, torch.Tensor) and value.ndim == 0, f"part {part} is no scalar"
        assert torch.isfinite(value), part
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads), "the loss has no gradient"


def unlabelled_variants(node: Any) -> list[Any]:
    """The method config, with ``use_target_unlabelled`` both ways when it has that switch."""
    if "use_target_unlabelled" not in node:
        return [node]
    return [OmegaConf.merge(node, {"use_target_unlabelled": flag}) for flag in (True, False)]


@pytest.mark.parametrize("name", METHODS)
def test_unlabelled_images_are_none_or_never_held_out(tiny, name: str) -> None:
    cfg, ctx = tiny(f"method={name}")
    for node in unlabelled_variants(cfg.method):
        unlabelled = build_method(node).unlabelled(ctx)
        if unlabelled is None:
            continue
        held_out = {pid for role in HELD_OUT_ROLES for pid in ctx.splits[role]}
        allowed = {pid for ids in ctx.splits.roles.values() for pid in ids} - held_out
        assert unlabelled.ids and set(unlabelled.ids) <= allowed, set(unlabelled.ids) - allowed
        assert unlabelled.targets is None, "unlabelled images carry no labels"
        assert len(unlabelled.images) == len(unlabelled.ids)


@pytest.mark.parametrize("name", METHODS)
def test_search_spaces_split_by_stage(name: str) -> None:
    raw = OmegaConf.to_container(OmegaConf.load(method_yamls()[name]))
    cls = method_class(name)
    params = set(inspect.signature(cls.__init__).parameters) - {"self"}
    finetune = set(getattr(cls, "FINETUNE_ARGS", params))  # no pretraining: all fine-tuning
    assert finetune <= params, f"FINETUNE_ARGS names no constructor argument: {finetune - params}"
    assert set(raw) - {"_target_", *SWEEPER_KEYS} <= params
    for key in raw.get("search_space") or {}:
        group, arg = key.split(".")[:2]
        assert group in ("train", "method"), f"search_space.{key}: fine-tuning keys only"
        assert group == "train" or arg in finetune, f"search_space.{key} changes the pretraining"
    if not issubclass(cls, PretrainingMethod):
        assert "pretrain_search_space" not in raw, "a method without pretraining"
        return
    assert raw.get("pretrain_search_space"), "a pretraining method declares what it tunes"
    for key in raw["pretrain_search_space"]:
        group, arg = key.split(".")[:2]
        assert group in ("pretrain", "method"), f"pretrain_search_space.{key}"
        assert group == "pretrain" or (arg in params and arg not in finetune), key


def leaves(args: dict[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Paths of the leaf values of nested keyword arguments (lists are leaves)."""
    for key, value in args.items():
        if isinstance(value, dict) and value:
            yield from leaves(value, (*prefix, key))
        else:
            yield (*prefix, key)


def alternatives(value: Any) -> list[Any]:
    """Other values of the same kind, tried in order until the constructor accepts one."""
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        return [value + 1, value - 1]
    if isinstance(value, float):
        return [value * 0.5, value * 2, value + 0.1] if value else [0.1, 1.0]
    if isinstance(value, str):
        return [value + "_changed"]
    if isinstance(value, (list, tuple)) and value:
        return [[*value[:-1], v] for v in alternatives(value[-1])] + [[*value, value[-1]]]
    return [1, 0.5, "changed", True, [1]]


def changed(method: PretrainingMethod, path: tuple[str, ...]) -> PretrainingMethod:
    """The method rebuilt with the argument at ``path`` set to another accepted value."""
    args = OmegaConf.to_container(OmegaConf.create(method.init_args))
    node = args
    for key in path[:-1]:
        node = node[key]
    for value in alternatives(node[path[-1]]):
        node[path[-1]] = value
        try:
            return type(method)(**args)
        except ConfigError:
            continue
    pytest.fail(f"method.{'.'.join(path)}: no other value is accepted by the constructor")


@pytest.mark.parametrize("name", PRETRAINING)
def test_cache_key_has_every_argument_but_fine_tuning_ones(tiny, name: str) -> None:
    cfg, ctx = tiny(f"method={name}")
    method = build_method(cfg.method)
    assert "freeze_stages" in method.FINETUNE_ARGS and "freeze_stages" in method.init_args
    base = cache_key(pretrain_spec(method, ctx))
    for path in leaves(method.init_args):
        key = cache_key(pretrain_spec(changed(method, path), ctx))
        if path[0] in method.FINETUNE_ARGS:
            assert key == base, f"method.{'.'.join(path)} is fine-tuning only"
        else:
            assert key != base, f"method.{'.'.join(path)} is missing from the cache key"


@pytest.mark.parametrize("name", PRETRAINING)
def test_pretrained_state_is_a_fresh_encoders(tiny, name: str) -> None:
    cfg, ctx = tiny(f"method={name}")
    pretrained = build_method(cfg.method).pretrain(ctx, NullTracker())
    fresh = ctx.make_encoder().state_dict()
    assert set(pretrained.state) == set(fresh)
    for key, value in pretrained.state.items():
        assert value.shape == fresh[key].shape and value.device.type == "cpu", key
    if pretrained.source_metrics is not None:
        names = metric_names(ctx.source_task.is_classification)
        assert set(pretrained.source_metrics) == {f"source_val/{m}" for m in (*names, "loss")}


@pytest.mark.parametrize("name", PRETRAINING)
def test_source_scores_are_the_same_on_a_hit(tiny, name: str) -> None:
    cfg, ctx = tiny(f"method={name}")
    method = build_method(cfg.method)
    miss, hit = source_scores(method, ctx), source_scores(method, ctx)
    names = metric_names(ctx.source_task.is_classification)
    assert set(miss) == {f"source_val/{m}" for m in (*names, "loss")}
    assert math.isfinite(miss["source_val/loss"]) and miss["source_val/loss"] >= 0
    assert hit == miss
    (entry,) = Path(cfg.pretrain.cache_dir).glob("*.json")  # one pretraining
    stored = json.loads(entry.read_text())["source_metrics"]  # a head's, or None: a probe's
    assert stored is None or stored == miss


@pytest.mark.parametrize("name", PRETRAINING)
def test_fine_tuning_is_identical_after_a_miss_a_hit_and_no_cache(tiny, name: str) -> None:
    """Whatever ran before (another job in the process, the cache's own checks)."""
    cfg, ctx = tiny(f"method={name}", "train.epochs=1")
    method = build_method(cfg.method)
    histories = []
    for before, cache in enumerate((True, True, False)):  # miss, hit, off
        ctx.pretrain.cache = cache
        torch.manual_seed(before)  # another RNG state each time: a pretraining starts anew
        model = prepare_model(method, ctx, ctx.make_encoder())
        result = fit_subsets(
            model,
            method.loss,
            ctx.subset("train", ctx.target_task),
            ctx.subset("val", ctx.target_task),
            ctx.target_task,
            TrainSettings.from_config(cfg.train, ctx.device, cfg.seed),
            Objective("val/mae", "minimize"),
        )
        histories.append((result.history, {k: v.clone() for k, v in model.state_dict().items()}))
    (first, weights), *others = histories
    for history, weights_again in others:
        assert history == first
        assert all(torch.equal(weights[k], weights_again[k]) for k in weights)


# ---- label use: what a method declares it reads, checked against what it reads ----

SOURCE_ROLES = {"source", "source_val"}
# every pretraining method, and simclr's y-aware variant (whose declaration changes with sigma)
PRETRAINING_RUNS = [pytest.param(m, (), id=m) for m in PRETRAINING] + [
    pytest.param("simclr", ("method.sigma=5.0",), id="simclr_yaware")
]


@dataclasses.dataclass(frozen=True)
class ReadingSplits(Splits):
    """Splits that remember which roles were asked for."""

    read: set[str] = dataclasses.field(default_factory=set)

    def __getitem__(self, role: str) -> list[str]:
        self.read.add(role)
        return super().__getitem__(role)


def reading(ctx: Context) -> Context:
    return dataclasses.replace(ctx, splits=ReadingSplits(dict(ctx.splits.roles)))


def scrambled(ctx: Context, use: LabelUse) -> Context:
    """``ctx`` with all it does not declare changed: label columns permuted, images redrawn."""
    rng = np.random.default_rng(1)
    table, images = ctx.cohort.table.copy(), np.array(ctx.cohort.images, copy=True)
    tasks = {TARGET_TASK: ctx.target_task.column, SOURCE_TASK: ctx.source_task.column}
    kept = {tasks[label] for label in use.labels if label in tasks} | set(use.meta_columns)
    for column in set(table.columns) - kept:
        table[column] = rng.permutation(table[column].to_numpy())
    hidden = [
        pid for role, ids in ctx.splits.roles.items() if role not in use.roles for pid in ids
    ]
    rows = [table.index.get_loc(pid) for pid in hidden]
    images[rows] = rng.normal(size=(len(rows), *images.shape[1:])).astype(images.dtype)
    cohort = dataclasses.replace(ctx.cohort, table=table, images=images)
    return dataclasses.replace(ctx, cohort=cohort)


def pretrained_state(method: PretrainingMethod, ctx: Context) -> dict[str, torch.Tensor]:
    reseed(ctx.seed)
    return method.pretrain(ctx, NullTracker()).state


def same_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("name", METHODS)
def test_label_use_is_declared_from_the_configuration(tiny, name: str) -> None:
    cfg, _ = tiny(f"method={name}")
    method = build_method(cfg.method)
    use = method.label_use()
    assert isinstance(use, LabelUse)
    assert TARGET_TASK in use.labels and "train" in use.roles, "every method fine-tunes"
    assert all(
        label in (TARGET_TASK, SOURCE_TASK) or label.startswith(META) for label in use.labels
    )
    assert set(method.unlabelled_roles()) <= set(use.roles)
    assert use.tags() == {
        "tlsweep.labels": ",".join(use.labels),
        "tlsweep.roles": ",".join(use.roles),
    }
    if isinstance(method, PretrainingMethod):
        pretraining, stage1 = method.pretrain_label_use(), method.label_use(stage1=True)
        assert set(pretraining.roles) <= SOURCE_ROLES, "a pretraining sees the source set only"
        assert TARGET_TASK not in stage1.labels and set(stage1.roles) <= SOURCE_ROLES
        assert SOURCE_TASK in stage1.labels, "stage 1 is scored on the source task"


@pytest.mark.parametrize("name", METHODS)
def test_unlabelled_images_come_from_the_declared_roles(tiny, name: str) -> None:
    cfg, ctx = tiny(f"method={name}")
    for node in unlabelled_variants(cfg.method):
        method, seen = build_method(node), reading(ctx)
        unlabelled = method.unlabelled(seen)
        declared = set(method.label_use().roles) - {"train"}  # train's images come labelled
        assert seen.splits.read <= declared, f"read {seen.splits.read - declared} undeclared"
        ids = set() if unlabelled is None else set(unlabelled.ids)
        assert ids <= {pid for role in declared for pid in ctx.splits[role]}


@pytest.mark.parametrize(("name", "overrides"), PRETRAINING_RUNS)
def test_a_pretraining_reads_only_what_it_declares(tiny, name: str, overrides: tuple) -> None:
    """The roles it asks for are declared, and scrambling the rest changes no weight."""
    cfg, ctx = tiny(f"method={name}", *overrides)
    method = build_method(cfg.method)
    declared, seen = method.pretrain_label_use(), reading(ctx)
    clean = pretrained_state(method, seen)
    assert seen.splits.read <= set(declared.roles), seen.splits.read - set(declared.roles)
    assert same_state(clean, pretrained_state(method, scrambled(ctx, declared)))


@pytest.mark.parametrize("name", PRETRAINING)
def test_stage_one_reads_only_what_it_declares(tiny, name: str) -> None:
    cfg, ctx = tiny(f"method={name}", "pretrain.cache=false")
    method = build_method(cfg.method)
    declared = method.label_use(stage1=True)
    assert source_scores(method, ctx) == source_scores(method, scrambled(ctx, declared))


class HidesItsMeta(SimCLR):
    """y-aware SimCLR that does not declare the column it weights by: the check must see it."""

    def pretrain_label_use(self) -> LabelUse:
        return LabelUse((), ("source", "source_val"))


def test_the_check_catches_an_undeclared_label(tiny) -> None:
    cfg, ctx = tiny("method=simclr", "method.sigma=5.0")
    method = HidesItsMeta(**build_method(cfg.method).init_args)
    declared = method.pretrain_label_use()
    assert not same_state(
        pretrained_state(method, ctx), pretrained_state(method, scrambled(ctx, declared))
    )


def test_simclr_declares_the_meta_column_only_when_y_aware(tiny) -> None:
    cfg, _ = tiny("method=simclr")
    plain = build_method(cfg.method)
    yaware = build_method(OmegaConf.merge(cfg.method, {"sigma": 2.0, "meta_column": "age"}))
    assert plain.label_use().labels == (TARGET_TASK,)
    assert yaware.label_use().labels == ("meta:age", TARGET_TASK)
    assert yaware.label_use(stage1=True).labels == ("meta:age", SOURCE_TASK)
    assert plain.label_use().roles == ("source", "source_val", "train")


NEW_METHODS = {
    "contract_demo.py": '''
        """Two methods that live outside tlsweep: one keeps the contract, one breaks it."""

        from __future__ import annotations

        import torch

        from tlsweep.methods.base import Method, Pretrained, PretrainingMethod
        from tlsweep.train.data import Subset


        class ScaledInit(PretrainingMethod):
            """'Pretrains' by scaling a fresh encoder's weights."""

            def __init__(self, freeze_stages: int = 1, scale: float = 0.5) -> None:
                super().__init__(freeze_stages)
                self.scale = scale

            def pretrain(self, ctx, tracker) -> Pretrained:
                encoder = ctx.make_encoder()
                with torch.no_grad():
                    for p in encoder.parameters():
                        p.mul_(self.scale)
                return Pretrained({k: v.cpu() for k, v in encoder.state_dict().items()})


        class Leaky(Method):
            """Uses the validation images as unlabelled data: the suite must catch it."""

            def unlabelled(self, ctx) -> Subset:
                return Subset.from_cohort(ctx.cohort, ctx.splits["val"])
    ''',
    "scaled_init.yaml": """
        _target_: contract_demo.ScaledInit
        freeze_stages: 1
        scale: 0.5
        search_space:
          train.lr: tag(log, interval(1e-4, 1e-2))
          method.freeze_stages: range(0, 3)
        pretrain_search_space:
          method.scale: interval(0.1, 1.0)
    """,
    "leaky.yaml": """
        _target_: contract_demo.Leaky
        search_space:
          train.lr: tag(log, interval(1e-4, 1e-2))
    """,
}


@pytest.mark.slow
def test_a_new_method_enters_the_suite_without_editing_a_test(tmp_path: Path) -> None:
    """One ``.py`` on the path and one ``.yaml`` in the user's conf: the suite runs them."""
    files = {
        (f"mod/{name}" if name.endswith(".py") else f"conf/method/{name}"): text
        for name, text in NEW_METHODS.items()
    }
    ran = run_with_plugins(tmp_path, files, [__file__], "scaled_init or leaky")
    outcomes = {name: outcome for name, outcome in ran.items() if outcome != "skipped"}
    scaled = {name for name in outcomes if name.endswith("[scaled_init]")}
    assert len(scaled) == 11 and all(outcomes[n] == "passed" for n in scaled), outcomes
    leaky = {name: outcome for name, outcome in outcomes.items() if name.endswith("[leaky]")}
    assert leaky == {
        "test_loss_is_a_scalar_with_a_gradient[leaky]": "passed",
        "test_unlabelled_images_are_none_or_never_held_out[leaky]": "failed",
        "test_search_spaces_split_by_stage[leaky]": "passed",
        "test_label_use_is_declared_from_the_configuration[leaky]": "passed",
        "test_unlabelled_images_come_from_the_declared_roles[leaky]": "failed",
    }


def readme_methods() -> dict[str, dict[str, str]]:
    """The README's methods table: method → column → cell text."""
    text = (ROOT / "README.md").read_text()
    table = text.split("<!-- docs:methods-table -->")[1].split("<!-- /docs:methods-table -->")[0]
    lines = [
        [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        for line in table.strip().splitlines()
    ]
    header, rows = lines[0], lines[2:]
    return {row[0].strip("`"): dict(zip(header, row, strict=True)) for row in rows}


@pytest.mark.parametrize(
    "name", ["scratch", "pretrain_freeze", "simclr", "vat", "warp_consistency"]
)
def test_the_readme_methods_table_matches_the_declarations(tiny, name: str) -> None:
    cfg, _ = tiny(f"method={name}")
    method = build_method(cfg.method)
    row = readme_methods()[name]
    said = {"target task": TARGET_TASK, "source task": SOURCE_TASK}
    stated = {label for words, label in said.items() if words in row["labels used"]}
    used = method.label_use()
    if isinstance(method, PretrainingMethod):  # what stage 1 of source_then_target adds
        used |= method.label_use(stage1=True)
    assert stated == {label for label in used.labels if not label.startswith(META)}, row
    roles = {"source": "source", "source_val": "source", "train": "target training"}
    for role in used.roles:
        assert roles[role] in row["subjects used"] or row["subjects used"].startswith("as "), role
