"""The module-level import table: what each top-level name of a file refers to, as a dotted path.

libcst's QualifiedNameProvider/ScopeProvider would answer this too, but they analyse every scope of
the file; prebuild only ever asks about module-level names, which one loop over the statements gives.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import libcst as cst


class Binding(NamedTuple):
    """A name's dotted ``target``, the ``module`` to import to reach it, and whether it was imported."""

    target: str
    module: str
    imported: bool


@dataclass(slots=True)
class Bindings:
    """Module-level names of one file; later statements win, as they do at import time."""

    module: str
    names: dict[str, Binding] = field(default_factory=dict)
    # Modules named by ``import a.b.c`` statements: ``a.b.c.X`` must import ``a.b.c``, not only ``a``.
    imported_modules: set[str] = field(default_factory=set)
    star_modules: list[str] = field(default_factory=list)

    def qualify(self, expr: cst.BaseExpression) -> Binding | None:
        """The binding a Name or dotted Attribute chain refers to, or None when it is not module-level."""
        chain = dotted_parts(expr)
        if chain is None:
            return None
        head = self.names.get(chain[0])
        if head is None:
            return self._from_star(chain)
        if len(chain) == 1:
            return head
        target = ".".join([head.target, *chain[1:]])
        module = self._module_for(target, head) if head.imported else head.module
        return Binding(target, module, head.imported)

    def may_name(self, name: str) -> bool:
        """True when some expression of this file may refer to ``pikku.<name>`` (an import of it, or of pikku)."""
        if "pikku" in self.star_modules:
            return True
        return any(
            b.imported and (b.target == "pikku" or (b.target.startswith("pikku.") and b.target.endswith(f".{name}")))
            for b in self.names.values()
        )

    def imports(self) -> dict[str, str]:
        """Imported names -> dotted target, for the link phase to follow re-exports."""
        return {name: b.target for name, b in sorted(self.names.items()) if b.imported}

    def _module_for(self, target: str, head: Binding) -> str:
        # For ``import a.b`` then ``a.b.X`` the module is the longest imported module the chain runs through.
        parent = target.rsplit(".", 1)[0]
        best = head.module
        for mod in self.imported_modules:
            if (parent == mod or parent.startswith(mod + ".")) and len(mod) > len(best):
                best = mod
        return best

    def _from_star(self, chain: Sequence[str]) -> Binding | None:
        # Only ``from pikku import *`` is trusted: for any other star import the origin of a name is a guess.
        if "pikku" in self.star_modules and len(chain) == 1:
            return Binding(f"pikku.{chain[0]}", "pikku", True)
        return None


def dotted_parts(expr: cst.BaseExpression) -> list[str] | None:
    """``a.b.c`` -> ``["a", "b", "c"]``; None when the expression is not a plain dotted name."""
    parts: list[str] = []
    node: cst.BaseExpression = expr
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if not isinstance(node, cst.Name):
        return None
    parts.append(node.value)
    parts.reverse()
    return parts


def collect_bindings(module: cst.Module, module_name: str, is_package: bool) -> Bindings:
    """Bind every module-level name: imports, defs, classes and assignments (also under if/try/with)."""
    bindings = Bindings(module_name)
    package = module_name if is_package else module_name.rpartition(".")[0]
    for stmt in _module_level_statements(module.body):
        _bind_statement(bindings, stmt, package)
    return bindings


def _module_level_statements(
    body: Sequence[cst.BaseStatement | cst.BaseSmallStatement],
) -> Iterable[cst.CSTNode]:
    # ``if TYPE_CHECKING:`` / ``try: import x`` blocks still bind module-level names.
    for stmt in body:
        if isinstance(stmt, cst.SimpleStatementLine):
            yield from stmt.body
        elif isinstance(stmt, cst.If | cst.Try | cst.With):
            yield from _nested_statements(stmt)
        else:
            yield stmt


def _nested_statements(stmt: cst.If | cst.Try | cst.With) -> Iterable[cst.CSTNode]:
    blocks: list[cst.BaseSuite] = [stmt.body]
    if isinstance(stmt, cst.If) and stmt.orelse is not None:
        blocks.append(stmt.orelse.body)
    if isinstance(stmt, cst.Try):
        blocks.extend(h.body for h in stmt.handlers)
        blocks.extend(b.body for b in (stmt.orelse, stmt.finalbody) if b is not None)
    for block in blocks:
        if isinstance(block, cst.IndentedBlock):
            yield from _module_level_statements(block.body)
        elif isinstance(block, cst.SimpleStatementSuite):
            yield from block.body


def _bind_statement(bindings: Bindings, stmt: cst.CSTNode, package: str) -> None:
    if isinstance(stmt, cst.Import):
        _bind_import(bindings, stmt)
    elif isinstance(stmt, cst.ImportFrom):
        _bind_import_from(bindings, stmt, package)
    elif isinstance(stmt, cst.FunctionDef | cst.ClassDef):
        _bind_local(bindings, stmt.name.value)
    elif isinstance(stmt, cst.Assign):
        for target in stmt.targets:
            _bind_target(bindings, target.target)
    elif isinstance(stmt, cst.AnnAssign | cst.TypeAlias):
        _bind_target(bindings, stmt.target if isinstance(stmt, cst.AnnAssign) else stmt.name)


def _bind_local(bindings: Bindings, name: str) -> None:
    bindings.names[name] = Binding(f"{bindings.module}.{name}", bindings.module, False)


def _bind_target(bindings: Bindings, target: cst.BaseExpression) -> None:
    if isinstance(target, cst.Name):
        _bind_local(bindings, target.value)
    elif isinstance(target, cst.Tuple | cst.List):
        for element in target.elements:
            _bind_target(bindings, element.value)


def _bind_import(bindings: Bindings, stmt: cst.Import) -> None:
    for alias in stmt.names:
        parts = dotted_parts(alias.name)
        if parts is None:
            continue
        full = ".".join(parts)
        bindings.imported_modules.add(full)
        if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
            bindings.names[alias.asname.name.value] = Binding(full, full, True)
        else:  # ``import a.b.c`` binds only ``a``
            bindings.names[parts[0]] = Binding(parts[0], parts[0], True)


def _bind_import_from(bindings: Bindings, stmt: cst.ImportFrom, package: str) -> None:
    base = resolve_from_module(stmt, package)
    if base is None:
        return
    if isinstance(stmt.names, cst.ImportStar):
        bindings.star_modules.append(base)
        return
    for alias in stmt.names:
        if not isinstance(alias.name, cst.Name):
            continue
        local = alias.name.value
        if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
            local = alias.asname.name.value
        bindings.names[local] = Binding(f"{base}.{alias.name.value}", base, True)


def resolve_from_module(stmt: cst.ImportFrom, package: str) -> str | None:
    """The absolute module of ``from <dots><module> import ...``; None when it climbs above the root."""
    parts = dotted_parts(stmt.module) if stmt.module is not None else []
    if parts is None:
        return None
    level = len(stmt.relative)
    if level == 0:
        return ".".join(parts)
    base = package.split(".") if package else []
    if level - 1 > len(base):
        return None
    base = base[: len(base) - (level - 1)]
    result = ".".join([*base, *parts])
    return result or None
