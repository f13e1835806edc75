"""Sphinx extension: resolve a docstring's reference to a name the way Python resolves it.

A reference Sphinx cannot resolve by itself gets a second look, from the module it was written
in: ``:class:`JobInfo``` in a module that imports ``JobInfo`` (at run time, under
``TYPE_CHECKING`` or inside a function) links to where it is defined,
``tlsweep.benchmark.jobs.JobInfo``, as does a type hint that names it; in a package page's
table of modules, a module's summary line is read in that module. A name that exists but has no
page in this build is shown as plain text: another project's (``tlsweep_unlinked_packages``: the
standard library, torch, …), a private module's, a ``TypeVar``, a constant without a ``#:``
comment. A name that does not exist where it is written stays a broken reference, so the
nitpicky build still fails on it.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import sys
from types import ModuleType
from typing import Any

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment

_MISSING = object()


@functools.cache
def imported_names(modname: str) -> dict[str, str]:
    """Every name an ``import`` statement anywhere in the module binds -> what it denotes."""
    module = sys.modules.get(modname)
    try:
        tree = ast.parse(inspect.getsource(module)) if module else None
    except (OSError, TypeError):
        tree = None
    names: dict[str, str] = {}
    for node in ast.walk(tree) if tree else ():
        if isinstance(node, ast.Import):
            for alias in node.names:
                bound = alias.asname or alias.name.partition(".")[0]
                names[bound] = alias.name if alias.asname else bound
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module or "", node.level, module)
            for alias in node.names:
                names[alias.asname or alias.name] = f"{base}.{alias.name}"
    return names


def _absolute(name: str, level: int, module: ModuleType | None) -> str:
    if not level or module is None:
        return name
    package = (module.__package__ or "").split(".")
    return ".".join([*package[: len(package) - level + 1], *([name] if name else [])])


def qualified(target: str, modname: str) -> str:
    """The full name ``target`` denotes in module ``modname`` (itself when already full)."""
    head, _, rest = target.partition(".")
    module = sys.modules.get(modname)
    obj = getattr(module, head, _MISSING) if module else _MISSING
    if obj is _MISSING:
        base = imported_names(modname).get(head)
    elif inspect.ismodule(obj):
        base = obj.__name__
    elif getattr(obj, "__qualname__", None) and getattr(obj, "__module__", None):
        base = f"{obj.__module__}.{obj.__qualname__}"
    else:  # a constant: imported, or defined here
        base = imported_names(modname).get(head, f"{modname}.{head}")
    if base is None:
        return target
    return f"{base}.{rest}" if rest else base


def exists(full: str) -> bool:
    """Whether ``full`` names something in an imported package, importing its longest module
    prefix (never a new top-level package: a word like ``this`` is not looked up)."""
    parts = full.split(".")
    if not all(part.isidentifier() for part in parts) or parts[0] not in sys.modules:
        return False
    for cut in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except Exception:  # noqa: BLE001 (a module that fails to import is reported by autodoc)
            continue
        for part in parts[cut:]:
            obj = getattr(obj, part, _MISSING)
            if obj is _MISSING:
                return False
        return True
    return False


def _summarised_module(node: nodes.Element) -> str | None:
    """In a row of an autosummary table of modules: the module the row summarises."""
    row = node.parent
    while row is not None and not isinstance(row, nodes.row):
        row = row.parent
    if row is None:
        return None
    for ref in row.findall(lambda n: isinstance(n, (addnodes.pending_xref, nodes.reference))):
        name = ref.get("reftarget") or ref.get("reftitle")
        return name if name in sys.modules else None
    return None


def _resolve(
    app: Sphinx, env: BuildEnvironment, node: addnodes.pending_xref, contnode: nodes.Element
) -> nodes.Element | None:
    modname = _summarised_module(node) or node.get("py:module")
    if node.get("refdomain") != "py" or not modname:
        return None
    target = node["reftarget"]
    full = qualified(target, modname)
    if full.partition(".")[0] in set(app.config.tlsweep_unlinked_packages):
        return contnode
    if full != target:
        retry = node.deepcopy()
        retry["reftarget"] = full
        retry["py:module"] = modname
        found = env.get_domain("py").resolve_xref(
            env, node["refdoc"], app.builder, node["reftype"], full, retry, contnode
        )
        if found is not None:
            return found
    return contnode if exists(full) else None


def setup(app: Sphinx) -> dict[str, object]:
    """Register ``tlsweep_unlinked_packages`` and the fallback resolver."""
    app.add_config_value("tlsweep_unlinked_packages", (), "env", types=[list, tuple])
    app.connect("missing-reference", _resolve)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
