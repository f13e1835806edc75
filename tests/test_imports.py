"""The module import graph of tlsweep and its sweeper plugin has no cycle.

Built from the source with ``ast``, not by importing: a cycle that happens to import in today's
order breaks the day someone imports the other module first. Module-level imports must form no
cycle. Imports inside functions run late (that is how the CLI keeps torch and MLflow out of its
start-up path) and ``if TYPE_CHECKING:`` imports never run, so neither breaks an import; but both
are still dependencies, and a loop through them is a boundary drawn in the wrong place (the old
``methods/base`` -> ``methods/cache`` call with a ``TYPE_CHECKING`` import back). Such loops
fail too, unless listed by name in ``ALLOWED_LATE_CYCLES`` as deliberate.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("tlsweep", "hydra_plugins/tlsweep_sweeper")
# cycles closed only by function-local or TYPE_CHECKING imports, each a sorted tuple of modules
ALLOWED_LATE_CYCLES: set[tuple[str, ...]] = set()


def modules() -> dict[str, Path]:
    """Every module of the packages, by dotted name."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, late: bool = False) -> Iterator[tuple[ast.stmt, bool]]:
    """(import statement, whether it runs late or never) for every import in ``tree``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, late
        inner = late or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        inner = inner or (isinstance(node, ast.If) and _is_type_checking(node))
        yield from _imports(node, inner)


def _targets(node: ast.stmt, module: str, is_package: bool, known: set[str]) -> set[str]:
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        assert isinstance(node, ast.ImportFrom)
        base = node.module or ""
        if node.level:
            parts = module.split(".")
            keep = len(parts) - node.level + (1 if is_package else 0)
            base = ".".join([*parts[:keep], *([base] if base else [])])
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
    # the nearest known module: `import tlsweep.data.cohort as c` depends on tlsweep.data.cohort
    out = set()
    for name in names:
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name and name != module:
            out.add(name)
    return out


def graph(include_late: bool) -> dict[str, dict[str, int]]:
    """module -> {imported module: line of the first import}."""
    known = modules()
    edges: dict[str, dict[str, int]] = {}
    for name, path in known.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        edges[name] = {}
        for node, late in _imports(tree):
            if late and not include_late:
                continue
            for target in _targets(node, name, path.name == "__init__.py", set(known)):
                edges[name].setdefault(target, node.lineno)
    return edges


def cycles(edges: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def describe(component: list[str], edges: dict[str, dict[str, int]]) -> str:
    """The imports inside one cycle, as ``a.py:12 -> b``."""
    inside = set(component)
    lines = [
        f"{modules()[a].relative_to(ROOT)}:{line} -> {b}"
        for a in component
        for b, line in sorted(edges[a].items())
        if b in inside
    ]
    return "; ".join(lines)


def test_the_graph_sees_real_imports() -> None:
    edges = graph(include_late=True)
    assert "hydra_plugins.tlsweep_sweeper._space" in edges["hydra_plugins.tlsweep_sweeper._study"]
    assert len(edges) > 20


def test_a_cycle_is_found_and_named() -> None:
    edges = {"a": {"b": 3}, "b": {"c": 5}, "c": {"a": 7}, "d": {"a": 1}}
    assert cycles(edges) == [["a", "b", "c"]]


def test_module_level_imports_have_no_cycle() -> None:
    edges = graph(include_late=False)
    found = cycles(edges)
    assert not found, "import cycles: " + " | ".join(describe(c, edges) for c in found)


def test_late_imports_close_no_new_cycle() -> None:
    edges = graph(include_late=True)
    new = [c for c in cycles(edges) if tuple(c) not in ALLOWED_LATE_CYCLES]
    assert not new, "cycles through function-local or TYPE_CHECKING imports: " + " | ".join(
        describe(c, edges) for c in new
    )


# What the plugin may use of tlsweep: the benchmark application's public API and its errors.
PLUGIN_MAY_IMPORT = ("tlsweep.benchmark.", "tlsweep.errors", "tlsweep.benchmark")
PLUGIN = "hydra_plugins.tlsweep_sweeper"
# plan validates search spaces in the sweeper's own grammar; that module stays private because
# Hydra imports every public plugin module into every app at start-up
SEARCH_SPACE = ("tlsweep.benchmark.plan_check", f"{PLUGIN}._space")


def test_the_plugin_adapts_and_the_application_decides() -> None:
    """The plugin imports only tlsweep's public benchmark API; tlsweep imports no private module
    of the plugin, and the benchmark application none of it (Hydra's plugins are the model)."""
    edges = graph(include_late=True)
    wrong = []
    for module, targets in edges.items():
        for target, line in targets.items():
            where = f"{modules()[module].relative_to(ROOT)}:{line} -> {target}"
            if module.startswith(PLUGIN) and target.startswith("tlsweep"):
                if not target.startswith(PLUGIN_MAY_IMPORT):
                    wrong.append(where)
            elif module.startswith("tlsweep") and target.startswith(PLUGIN):
                private = target.rsplit(".", 1)[-1].startswith("_")
                application = module.startswith("tlsweep.benchmark")
                if (private or application) and (module, target) != SEARCH_SPACE:
                    wrong.append(where)
    assert not wrong, "imports across the plugin boundary: " + "; ".join(wrong)
