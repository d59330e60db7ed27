"""The value of a literal, or the reason Python would refuse it.

libcst accepts string and number literals that Python's compiler rejects (an unknown ``\\N{...}`` name,
a truncated ``\\x`` escape, ``09``). Their value is computed by compiling the literal, which then
fails; :class:`InvalidLiteral` carries the node so the scanner can report the file at that place.
"""

from __future__ import annotations

import libcst as cst

Literal = cst.SimpleString | cst.ConcatenatedString | cst.Integer | cst.Float | cst.Imaginary


class InvalidLiteral(Exception):
    """A literal in user code that Python would not compile: the file does not compile either."""

    def __init__(self, node: cst.CSTNode, detail: str) -> None:
        super().__init__(detail)
        self.node = node
        self.detail = detail


def evaluated(node: Literal) -> object:
    """``node.evaluated_value``; InvalidLiteral when Python would reject the literal."""
    try:
        return node.evaluated_value
    except (SyntaxError, ValueError) as exc:
        detail = exc.msg if isinstance(exc, SyntaxError) else str(exc)
        raise InvalidLiteral(node, detail) from exc
