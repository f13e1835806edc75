"""A digest of the code a pretraining runs, so a code change never reuses a stale cached encoder.

The pretrained-encoder cache (:mod:`.cache`) keys an entry by everything that determines the
pretraining; the code is part of that. :func:`code_digest` hashes the source of some root modules
(the method's module and the encoder's, :func:`pretraining_roots`) and of every module they import,
transitively, that belongs to ``tlsweep`` or to a root's own top-level package (so a user's
method or encoder outside ``tlsweep`` is hashed too, with the ``tlsweep`` code it builds on).
Imports are read from the source (``ast``), including those inside functions; nothing is imported.

Each module is hashed as its syntax tree with docstrings, other bare string statements and the
annotations of arguments and return values removed, so comments, docstrings, type hints and
formatting can be edited without invalidating every cached encoder; any other edit changes the
digest. Modules that cannot change what a pretraining computes (:data:`NOT_TRAINING`: error
messages, config schemas, tracking, worker counts, benchmark identities) are left out, so editing
them does not either.
Third-party libraries (torch, MONAI) are not hashed. Digests are computed once per process.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import json
import logging
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)
PACKAGE = "tlsweep"
#: Modules (or packages) that cannot change what a pretraining computes: error messages, config
#: dataclasses (the values they hold are in the key already), tracking, worker counts, and what a
#: benchmark cell is (``checkpoint`` asks it whether a run may resume).
NOT_TRAINING = (
    "tlsweep.errors",
    "tlsweep.schemas",
    "tlsweep.tracking",
    "tlsweep.resources",
    "tlsweep.progress",
    "tlsweep.benchmark",
)


def pretraining_roots(method_module: str, encoder_target: str | None) -> tuple[str, ...]:
    """The modules a pretraining starts from: the method's and the encoder's (from ``_target_``).

    Args:
        method_module: ``type(method).__module__``.
        encoder_target: the encoder config's ``_target_`` (``tlsweep.models.sfcn.SFCN``), if any.
    """
    roots = [method_module]
    if encoder_target:
        parts = encoder_target.split(".")
        found = (".".join(parts[:i]) for i in range(len(parts) - 1, 0, -1))
        roots += [next((name for name in found if module_file(name) is not None), None)]
    return tuple(sorted({root for root in roots if root}))


@functools.cache
def code_digest(roots: tuple[str, ...]) -> str:
    """sha256 of the normalised source of ``roots`` and the modules they import (see above)."""
    digests = {name: module_digest(name) for name in code_modules(roots)}
    return hashlib.sha256(json.dumps(digests, sort_keys=True).encode()).hexdigest()[:24]


@functools.cache
def code_modules(roots: tuple[str, ...]) -> tuple[str, ...]:
    """``roots`` and every module they import, transitively, that :func:`code_digest` hashes."""
    followed = {PACKAGE, *(root.split(".")[0] for root in roots)}
    seen: set[str] = set()
    todo = [root for root in roots if not _excluded(root)]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for base, names in imports_of(name):
            if base.split(".")[0] in followed:
                todo += [m for m in (base, *_submodules(base, names)) if not _excluded(m)]
    return tuple(sorted(seen))


@functools.cache
def module_file(name: str) -> Path | None:
    """The source file of module ``name``, or None (not found, a namespace package, built in)."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):  # a parent is not a package, or not importable
        return None
    if spec is None or not spec.has_location or not spec.origin:
        return None
    return Path(spec.origin)


@functools.cache
def module_digest(name: str) -> str:
    """sha256 of module ``name``'s normalised syntax tree (of its bytes when it is not Python)."""
    path = module_file(name)
    if path is None:
        log.warning("no source for module %s: its edits cannot invalidate cached encoders", name)
        return "no source"
    data = path.read_bytes()
    if path.suffix == ".py":
        data = normalised(importlib.util.decode_source(data)).encode()
    return hashlib.sha256(data).hexdigest()


@functools.cache
def imports_of(name: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """What module ``name`` imports anywhere in its source: ``(module, names imported from it)``.

    ``import a.b`` gives ``("a.b", ())``; ``from .b import c`` in package ``a`` gives
    ``("a.b", ("c",))``. Module names are absolute.
    """
    path = module_file(name)
    if path is None or path.suffix != ".py":
        return ()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[tuple[str, tuple[str, ...]]] = set()
    for node in ast.walk(ast.parse(path.read_bytes())):
        if isinstance(node, ast.Import):
            found.update((alias.name, ()) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
            found.add((base, tuple(alias.name for alias in node.names)))
    return tuple(sorted(found))


def normalised(source: str) -> str:
    """``ast.dump`` of ``source`` without docstrings, bare strings and signature annotations."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            statements = getattr(node, field, None)
            if isinstance(statements, list):
                setattr(node, field, [s for s in statements if not _bare_string(s)])
        if isinstance(node, ast.arg):
            node.annotation = None
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            node.returns = None
    return ast.dump(tree)


def cache_clear() -> None:
    """Forget every digest computed in this process (for a process whose source files change)."""
    for cached in (code_digest, code_modules, module_file, module_digest, imports_of):
        cached.cache_clear()
    importlib.invalidate_caches()


def _bare_string(statement: ast.stmt) -> bool:
    """A statement that is only a string (a docstring, or a comment written as one)."""
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


def _submodules(base: str, names: Iterable[str]) -> list[str]:
    """Those of ``from base import names`` that are modules (``from tlsweep.data import x``)."""
    path = module_file(base)
    if path is None or path.name != "__init__.py":
        return []
    return [f"{base}.{n}" for n in names if n != "*" and module_file(f"{base}.{n}") is not None]


def _excluded(name: str) -> bool:
    return any(name == skip or name.startswith(f"{skip}.") for skip in NOT_TRAINING)
