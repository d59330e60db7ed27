"""Line/column of a few chosen nodes, at a fraction of the cost of libcst's PositionProvider.

PositionProvider records a range for every node and splits every token with a regex: on real code it
costs about 2.5x the parse itself, which alone would break prebuild's budget (cold scan <= 1.5x parse).
Here the module is code-generated once with a state that only counts lines and columns and remembers
the start of the nodes asked for (the same syntactic start PositionProvider reports), stopping as soon
as the last one is seen (positions match ``ast``'s lineno/col_offset + 1 for defs and calls).
Extraction hands out placeholder locations (line 0, column = ticket) and :meth:`Locator.resolver`
gives the function that swaps in the real ones, so extraction itself stays a single pass.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

import libcst as cst

# CodegenState is the hook libcst's own PositionProvider subclasses; it is not re-exported publicly.
from libcst._nodes.internal import CodegenState

from pikku.cli.model import Location

_NULL_CONTEXT = contextlib.nullcontext()


class _AllFound(Exception):
    """Raised inside code generation once every wanted node is located: the rest is not needed."""


@dataclass(slots=True)
class _LocatingState(CodegenState):
    wanted: set[int] = field(default_factory=set)
    found: dict[int, tuple[int, int]] = field(default_factory=dict)
    line: int = 1
    column: int = 0

    def add_indent_tokens(self) -> None:
        for token in self.indent_tokens:
            self.column += len(token)

    def add_token(self, value: str) -> None:
        # Tokens are not kept: only the position matters. "\r\n" and "\n" both end in "\n".
        newlines = value.count("\n")
        if newlines:
            self.line += newlines
            self.column = len(value) - value.rfind("\n") - 1
        else:
            self.column += len(value)

    # A shared null context instead of the base's generator-based one: this is called for nearly every
    # node, and creating a generator each time costs more than the rest of the pass.
    def record_syntactic_position(  # type: ignore[override]
        self, node: cst.CSTNode, *, start_node: cst.CSTNode | None = None, end_node: cst.CSTNode | None = None
    ) -> contextlib.nullcontext[None]:
        key = id(node)
        if key in self.wanted and key not in self.found:
            self.found[key] = (self.line, self.column + 1)
            if len(self.found) == len(self.wanted):
                raise _AllFound
        return _NULL_CONTEXT


class Locator:
    """Hands out placeholder locations for nodes of one file and resolves them in one codegen pass."""

    def __init__(self, file: str) -> None:
        self.file = file
        self._nodes: list[cst.CSTNode] = []

    def at(self, node: cst.CSTNode) -> Location:
        """A placeholder for ``node``'s position, valid until a :meth:`resolver` replaces it."""
        self._nodes.append(node)
        return Location(self.file, 0, len(self._nodes) - 1)

    def resolver(self, module: cst.Module) -> Callable[[Location], Location]:
        """A function turning each placeholder handed out so far into the real place (one codegen pass)."""
        if not self._nodes:
            return _unchanged
        found = _locate(module, self._nodes)
        # A node kind that never reports a syntactic position would stay unfound; none of the kinds
        # extraction asks about (defs, calls, expressions) is such a kind, so 1:1 is only a safety net.
        places = [found.get(id(n), (1, 1)) for n in self._nodes]
        file = self.file

        def resolve(location: Location) -> Location:
            if location.line != 0 or location.file != file:
                return location
            line, column = places[location.column]
            return Location(file, line, column)

        return resolve


def _unchanged(location: Location) -> Location:
    return location


def _locate(module: cst.Module, nodes: list[cst.CSTNode]) -> dict[int, tuple[int, int]]:
    state = _LocatingState(
        default_indent=module.default_indent,
        default_newline=module.default_newline,
        wanted={id(n) for n in nodes},
    )
    with contextlib.suppress(_AllFound):
        module._codegen(state)
    return state.found
