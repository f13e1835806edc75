"""The code digest in a pretraining's cache key: code edits re-pretrain, docstring edits do not."""

from __future__ import annotations

import json
import logging
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from tlsweep.methods import code_digest
from tlsweep.methods.assemble import build_method, pretrained_encoder
from tlsweep.methods.code_digest import code_modules, normalised, pretraining_roots
from tlsweep.tracking.protocol import NullTracker

PACKAGE = "tldigest_demo"
FILES = {
    "__init__.py": '"""A user\'s methods, outside tlsweep."""\n',
    "fills.py": '''
        """The 'loss' of the demo pretraining: it fills every weight with one value."""

        from __future__ import annotations

        import torch


        def fill(weight: torch.Tensor, scale: float) -> torch.Tensor:
            """A constant tensor like ``weight``."""
            return torch.full_like(weight, scale)
    ''',
    "method.py": '''
        """A pretraining method that lives in a user's package."""

        from __future__ import annotations

        from tlsweep.methods.base import Pretrained, PretrainingMethod

        from .fills import fill


        class Fill(PretrainingMethod):
            """'Pretrains' by filling a fresh encoder's float weights with ``scale``."""

            def __init__(self, freeze_stages: int = 1, scale: float = 0.5) -> None:
                super().__init__(freeze_stages)
                self.scale = scale

            def pretrain(self, ctx, tracker) -> Pretrained:
                state = ctx.make_encoder().state_dict()
                new = {k: fill(v, self.scale) for k, v in state.items() if v.is_floating_point()}
                return Pretrained({**state, **new})
    ''',
    "unrelated.py": '"""Imported by nothing the method runs."""\n\nX = 1\n',
}


class Recorder(NullTracker):
    """A null tracker that keeps the tags a run sets (``tlsweep.pretrain_cache``: hit/miss)."""

    def set_tags(self, tags: dict[str, Any]) -> None:
        self.tags.update(tags)


@pytest.fixture(autouse=True)
def fresh_digests() -> Iterator[None]:
    code_digest.cache_clear()
    yield
    code_digest.cache_clear()


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The demo package on ``sys.path`` (no bytecode: edits within a second must be seen)."""
    folder = tmp_path / "mod" / PACKAGE
    folder.mkdir(parents=True)
    for name, text in FILES.items():
        (folder / name).write_text(textwrap.dedent(text).lstrip())
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.syspath_prepend(str(tmp_path / "mod"))
    yield folder
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
        del sys.modules[name]


def edit(path: Path, old: str, new: str) -> None:
    """Edit a source file, then forget what this process knew, as a new trial process would."""
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
        del sys.modules[name]
    code_digest.cache_clear()


def trial(cfg: Any, ctx: Any) -> tuple[str, str, torch.Tensor]:
    """One trial's pretraining: its key, cache status (hit/miss) and a pretrained weight."""
    ctx.tracker = Recorder()
    method = build_method({"_target_": f"{PACKAGE}.method.Fill", "freeze_stages": 1})
    state = pretrained_encoder(method, ctx).state
    weight = next(v for v in state.values() if v.is_floating_point())
    tags = ctx.tracker.tags
    return tags["tlsweep.pretrain_key"], tags["tlsweep.pretrain_cache"], weight


def test_an_edit_to_a_plugins_code_re_pretrains_a_docstring_edit_does_not(
    package: Path, tiny, caplog: pytest.LogCaptureFixture
) -> None:
    cfg, ctx = tiny("method=pretrain_freeze")
    key, status, weight = trial(cfg, ctx)
    assert status == "miss" and torch.all(weight == 0.5)
    assert trial(cfg, ctx)[:2] == (key, "hit")

    edit(package / "method.py", "'Pretrains' by filling", "Pretrains by filling")  # docstring
    edit(
        package / "method.py",
        "        state = ctx",
        "        # the fresh weights\n        state = ctx",
    )
    edit(
        package / "fills.py",
        "(weight: torch.Tensor, scale: float) -> torch.Tensor",
        "(weight, scale)",
    )
    assert trial(cfg, ctx)[:2] == (key, "hit"), "comments, docstrings, hints are not code"

    edit(
        package / "fills.py",
        "torch.full_like(weight, scale)",
        "torch.full_like(weight, 2 * scale)",
    )
    with caplog.at_level(logging.INFO, logger="tlsweep.methods.assemble"):
        new_key, status, weight = trial(cfg, ctx)
    assert new_key != key and status == "miss", "a changed helper module must re-pretrain"
    assert torch.all(weight == 1.0), "the new code ran, the old entry was not loaded"
    explained = [r.getMessage() for r in caplog.records if "other code" in r.getMessage()]
    assert len(explained) == 1 and key in explained[0] and new_key in explained[0], explained

    meta = json.loads((Path(cfg.pretrain.cache_dir) / f"{new_key}.json").read_text())
    assert (
        meta["spec"]["code"]
        != json.loads((Path(cfg.pretrain.cache_dir) / f"{key}.json").read_text())["spec"]["code"]
    )
    assert f"{PACKAGE}.fills" in meta["code_modules"]
    assert {f"{PACKAGE}.unrelated", f"{PACKAGE}"}.isdisjoint(meta["code_modules"])
    assert {"tlsweep.methods.base", "tlsweep.models.tiny3d"} <= set(meta["code_modules"])


def test_the_digest_follows_the_code_a_pretraining_runs() -> None:
    encoder = "tlsweep.models.tiny3d.Tiny3D"
    simclr = code_modules(pretraining_roots("tlsweep.methods.simclr", encoder))
    supervised = code_modules(pretraining_roots("tlsweep.methods.pretrain_freeze", encoder))
    for needed in ("methods.losses", "data.augment", "train.loop", "train.data", "models.tiny3d"):
        assert f"tlsweep.{needed}" in simclr, needed
    for needed in ("methods.probe", "train.supervised", "train.evaluate", "models.base"):
        assert f"tlsweep.{needed}" in supervised, needed
    assert "tlsweep.methods.probe" not in simclr, "a probe scores SimCLR after its pretraining"
    for modules in (simclr, supervised):
        assert not [m for m in modules if m.startswith(code_digest.NOT_TRAINING)], modules
        assert "torch" not in modules and "tlsweep.methods.assemble" not in modules


SOURCE = '''
"""Module docstring."""

from __future__ import annotations


def loss(x: float, scale: float = 2.0) -> float:
    """Docstring."""
    # a comment
    return x * scale
'''


@pytest.mark.parametrize(
    ("old", "new", "same"),
    [
        ('"""Docstring."""', '"""Another docstring, longer."""', True),
        ('"""Module docstring."""', "", True),
        ("    # a comment\n", "", True),
        ("x: float, scale: float = 2.0) -> float", "x, scale=2.0)", True),
        ("return x * scale", "return (\n        x  *  scale\n    )", True),
        ("return x * scale", "return x * scale * 2", False),
        ("scale: float = 2.0", "scale: float = 3.0", False),
        ("def loss(", "def loss_(", False),
    ],
)
def test_only_code_edits_change_a_modules_normalised_source(
    old: str, new: str, same: bool
) -> None:
    assert old in SOURCE
    assert (normalised(SOURCE) == normalised(SOURCE.replace(old, new))) is same


def test_the_encoders_module_is_a_root_and_a_missing_module_is_none() -> None:
    roots = pretraining_roots("tlsweep.methods.simclr", "tlsweep.models.sfcn.SFCN")
    assert roots == ("tlsweep.methods.simclr", "tlsweep.models.sfcn")
    assert pretraining_roots("tlsweep.methods.simclr", None) == ("tlsweep.methods.simclr",)
    assert code_digest.module_file("tlsweep.errors.ConfigError") is None
