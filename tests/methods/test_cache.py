"""The pretrained-encoder cache: once per key across processes, corrupt entries rebuilt, keys."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hydra.utils import instantiate
from mlflow.tracking import MlflowClient

from tlsweep.data.nifti import Cohort
from tlsweep.data.splits import Splits
from tlsweep.data.tasks import Task
from tlsweep.methods import cache as cache_module
from tlsweep.methods import code_digest
from tlsweep.methods.assemble import build_method, pretrain_spec
from tlsweep.methods.base import Context
from tlsweep.methods.cache import EncoderCache, cache_key
from tlsweep.run import run

KEYS = {"w", "b"}


def builder(calls: list[int], value: float):  # noqa: ANN201
    def build() -> tuple[dict[str, torch.Tensor], dict]:
        calls.append(1)
        return {"w": torch.full((3, 3), value), "b": torch.zeros(3)}, {"run_id": "abc"}

    return build


def test_second_request_is_a_hit_with_the_same_weights(tmp_path: Path) -> None:
    calls: list[int] = []
    cache = EncoderCache(tmp_path)
    first, hit1 = cache.get_or_build("k", builder(calls, 1.0), KEYS)
    second, hit2 = cache.get_or_build("k", builder(calls, 2.0), KEYS)
    assert (hit1, hit2, len(calls)) == (False, True, 1)
    assert torch.equal(second.state["w"], torch.ones(3, 3)) and second.meta["run_id"] == "abc"


@pytest.mark.parametrize("damage", ["truncate", "no_metadata", "wrong_keys"])
def test_corrupt_entry_is_rebuilt_never_loaded(tmp_path: Path, monkeypatch, damage: str) -> None:
    calls: list[int] = []
    cache = EncoderCache(tmp_path)
    cache.get_or_build("k", builder(calls, 1.0), KEYS)
    weights, meta, _ = cache.paths("k")
    expected = KEYS
    if damage == "truncate":  # killed mid-copy: the bytes no longer match the recorded sha256
        weights.write_bytes(weights.read_bytes()[:-100])
    elif damage == "no_metadata":  # killed between writing weights and metadata
        meta.unlink()
    else:
        expected = {"w", "b", "extra"}
    loaded: list[Path] = []
    real_load = torch.load
    monkeypatch.setattr(
        cache_module.torch, "load", lambda path, **kw: loaded.append(path) or real_load(path, **kw)
    )
    entry, hit = cache.get_or_build("k", builder(calls, 5.0), expected)
    assert not hit and len(calls) == 2 and torch.equal(entry.state["w"], torch.full((3, 3), 5.0))
    if damage != "wrong_keys":
        assert loaded == [], "a damaged file must not reach torch.load"
    assert json.loads(meta.read_text())["sha256"] == cache_module.file_sha256(weights)


WAITING = "is being built by another process; waiting"  # what EncoderCache logs as it waits
WORKER = textwrap.dedent(
    """
    import logging, os, sys, time, torch
    from pathlib import Path
    from tlsweep.methods.cache import EncoderCache
    root, counter, out = map(Path, sys.argv[1:4])
    waiting = sys.argv[4]
    logging.basicConfig(filename=out.with_suffix(".log"), level=logging.INFO)

    def build():
        with counter.open("a") as f:
            f.write(f"{os.getpid()}\\n")
        # Hold the lock until the other process says it waits for it (or builds too, which
        # the test reports): no sleep decides whether it arrived in time.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(counter.read_text().split()) < 2:
            if any(waiting in log.read_text() for log in out.parent.glob("*.log")):
                break
            time.sleep(0.01)
        torch.manual_seed(os.getpid())  # a second pretraining would give different weights
        return {"w": torch.randn(4, 4)}, {"run_id": str(os.getpid())}

    entry, hit = EncoderCache(root).get_or_build("same-key", build, {"w"})
    torch.save(entry.state, out)
    print("hit" if hit else "miss")
    """
)


def test_concurrent_processes_pretrain_once_and_share_weights(tmp_path: Path) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    counter = tmp_path / "pretrainings.txt"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(script),
                str(tmp_path / "cache"),
                str(counter),
                str(tmp_path / f"{i}.pt"),
                WAITING,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outputs = sorted(p.communicate(timeout=120)[0].strip() for p in procs)
    assert all(p.returncode == 0 for p in procs)
    assert len(counter.read_text().split()) == 1, "exactly one pretraining"
    assert outputs == ["hit", "miss"]
    waited = [log.name for log in tmp_path.glob("*.log") if WAITING in log.read_text()]
    assert len(waited) == 1, "the hit waited for the lock, not for a finished entry"
    a, b = (torch.load(tmp_path / f"{i}.pt", weights_only=True) for i in range(2))
    assert torch.equal(a["w"], b["w"])


@pytest.fixture
def keyer(make_cfg):  # noqa: ANN201
    """``key(*overrides)``: the cache key of a run's pretraining, on a tiny in-memory cohort."""
    ids = [f"sub-{i:02d}" for i in range(12)]
    table = pd.DataFrame({"age": np.arange(12.0), "sex": ["F", "M"] * 6}, index=ids)
    cohort = Cohort(table=table, images=np.zeros((12, 4, 4, 4), np.float16))
    roles = {
        "source": ids[:5],
        "source_val": ids[5:7],
        "train": ids[7:10],
        "val": ids[10:],
        "test": [],
        "unlabelled": [],
    }

    def key(*overrides: str) -> str:
        cfg = make_cfg(*overrides)
        source = Task("source_task", **cfg.source_task)
        source.check(table)
        ctx = Context(
            cohort,
            Splits(roles),
            source,
            Task("target_task", **cfg.target_task),
            lambda: instantiate(cfg.encoder),
            cfg.encoder,
            cfg.train,
            cfg.pretrain,
            torch.device("cpu"),
            cfg.seed,
            None,
            cfg.dataset,
            cfg.split,
        )
        return cache_key(pretrain_spec(build_method(cfg.method), ctx))

    return key


def test_key_changes_with_pretraining_settings_only(keyer) -> None:
    base = keyer("method=simclr")
    for changed in (
        "pretrain.lr=0.002",
        "method.temperature=0.2",
        "seed=1",
        "method.augment.warp.warp_std=0.03",
        "encoder.channels=[4,8,16,32]",
        "dataset.n_subjects=100",
        "pretrain.epochs=3",
        "train.scheduler=constant",
    ):
        assert keyer("method=simclr", changed) != base, changed
    for same in (
        "train.lr=0.01",
        "method.freeze_stages=1",
        "train.epochs=3",
        "sample_size=n25",
        "train.progress=true",
        "pretrain.cache_dir=/elsewhere",
    ):
        assert keyer("method=simclr", same) == base, same
    assert keyer("method=pretrain_freeze") != base
    assert keyer(
        "method=pretrain_freeze", "source_task.column=age", "source_task.type=regression"
    ) != keyer("method=pretrain_freeze")


NEW_FUNCTION = "def _unused() -> None:\n    pass\n\n\n"


@pytest.mark.parametrize(
    ("module", "old", "new", "changes"),
    [
        ("methods.losses", "z @ z.T / temperature", "z @ z.T / (2 * temperature)", "both"),
        ("train.loop", "def fit(", NEW_FUNCTION + "def fit(", "both"),
        ("data.augment", "def from_settings(", NEW_FUNCTION + "def from_settings(", "simclr"),
        ("models.tiny3d", "from torch import nn", "from torch import nn  # no code", ""),
        ("methods.probe", "C=1.0", "C=2.0", "both"),  # assemble (every pretraining) imports it
        ("methods.probe", '"""Source-side scores', '"""Scores', ""),
        ("errors", "did you mean", "perhaps you meant", ""),
        ("methods.assemble", "reseed(ctx.seed)\n            result", "result", "both"),
    ],
)
def test_key_changes_with_the_code_a_pretraining_runs(
    keyer, monkeypatch, tmp_path: Path, module: str, old: str, new: str, changes: str
) -> None:
    """An edited copy of a tlsweep module stands in for it: a code edit changes the key."""
    methods = ("simclr", "pretrain_freeze")
    code_digest.cache_clear()
    before = {m: keyer(f"method={m}", "encoder=tiny3d") for m in methods}
    real = code_digest.module_file
    source = real(f"tlsweep.{module}")
    text = source.read_text()
    assert old in text, old
    edited = tmp_path / source.name
    edited.write_text(text.replace(old, new))

    @functools.cache
    def module_file(name: str) -> Path | None:
        return edited if name == f"tlsweep.{module}" else real(name)

    monkeypatch.setattr(code_digest, "module_file", module_file)
    code_digest.cache_clear()
    after = {m: keyer(f"method={m}", "encoder=tiny3d") for m in methods}
    monkeypatch.undo()
    code_digest.cache_clear()
    expected = set(methods) if changes == "both" else {changes} - {""}
    assert {m for m in methods if after[m] != before[m]} == expected


@pytest.mark.slow
def test_fine_tuning_trials_share_one_logged_pretraining(make_cfg, tmp_path: Path) -> None:
    common = ("method=pretrain_freeze", "debug=smoke", f"pretrain.cache_dir={tmp_path / 'enc'}")
    cfgs = [make_cfg(*common, f"train.lr={lr}", tracking=True) for lr in (1e-3, 3e-3)]
    for cfg in cfgs:
        run(cfg)
    client = MlflowClient(tracking_uri=cfgs[0].tracking.uri)
    runs = client.search_runs([client.get_experiment_by_name("tlsweep").experiment_id])
    pretraining = [r for r in runs if r.data.tags.get("tlsweep.role") == "pretraining"]
    trials = sorted(
        (r for r in runs if r.data.tags.get("tlsweep.role") != "pretraining"),
        key=lambda r: r.info.start_time,
    )
    assert len(pretraining) == 1 and len(trials) == 2
    tags = [t.data.tags for t in trials]
    assert [t["tlsweep.pretrain_cache"] for t in tags] == ["miss", "hit"]
    assert {t["tlsweep.pretrain_key"] for t in tags} == {
        pretraining[0].data.tags["tlsweep.pretrain_key"]
    }
    assert {t["tlsweep.pretrain_run_id"] for t in tags} == {pretraining[0].info.run_id}
    history = client.get_metric_history(pretraining[0].info.run_id, "pretrain/loss")
    assert len(history) == 1, "pretraining metrics go to the pretraining run"
    assert not client.get_metric_history(trials[0].info.run_id, "pretrain/loss")
