"""The runtime's modules form layers: no module imports, directly or through others, one that imports it.

Every import counts, also those under ``TYPE_CHECKING`` and inside functions (a lazy import hides a cycle,
it does not remove it). Re-exports through a package's ``__init__`` do not: ``from pikku import X`` is an
edge to the module that defines X, not to the package.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
ROOT = SRC / "pikku"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}
PACKAGES = {name for name, path in MODULES.items() if path.name == "__init__.py"}


def _reexports(package: str) -> dict[str, str]:
    """Names a package's __init__ imports from its submodules: name -> defining module."""
    found: dict[str, str] = {}
    for node in ast.walk(ast.parse(MODULES[package].read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                found[alias.asname or alias.name] = node.module
    return found


def _resolve(importer: str, node: ast.ImportFrom) -> str | None:
    if node.level == 0:
        return node.module
    base = importer.split(".")
    if importer not in PACKAGES:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _targets(importer: str, node: ast.AST) -> list[str]:
    """The pikku modules an import statement depends on (re-exports followed to their definers)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name in MODULES and a.name not in PACKAGES]
    if not isinstance(node, ast.ImportFrom):
        return []
    module = _resolve(importer, node)
    if module is None or not module.startswith("pikku"):
        return []
    out: list[str] = []
    for alias in node.names:
        sub = f"{module}.{alias.name}"
        if sub in MODULES:
            out.append(sub)
        elif module in PACKAGES:
            definer = _reexports(module).get(alias.name)
            out.append(definer if definer in MODULES else module)
        elif module in MODULES:
            out.append(module)
    return [t for t in out if t not in PACKAGES]


def import_graph() -> dict[str, set[str]]:
    """Module -> the pikku modules it imports (package __init__ modules are pass-through)."""
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        if name in PACKAGES:
            continue
        deps = {t for node in ast.walk(ast.parse(path.read_text())) for t in _targets(name, node)}
        graph[name] = deps - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path a -> ... -> a, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return [*stack[stack.index(dep) :], dep]
            if dep not in state and (cycle := visit(dep)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle_among_pikku_modules() -> None:
    """A cycle makes the layers (public API -> engine -> backends) meaningless; this names one."""
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
        ({"a": {"b"}, "b": {"a"}}, ["a", "b", "a"]),
        ({"a": {"b"}, "b": {"c"}, "c": {"b"}}, ["b", "c", "b"]),
    ],
)
def test_the_cycle_finder_finds_cycles(graph: dict[str, set[str]], expected: list[str] | None) -> None:
    """The checker itself can fail: it reports a planted cycle and passes a clean graph."""
    assert find_cycle(graph) == expected


def test_type_checking_imports_count() -> None:
    """An import under TYPE_CHECKING is an edge like any other (the context module imported the engine so)."""
    tree = ast.parse(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pikku._engine.engine import Engine\n"
    )
    targets = [t for node in ast.walk(tree) for t in _targets("pikku._engine.context", node)]
    assert targets == ["pikku._engine.engine"]
