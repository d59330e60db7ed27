"""``wire_workflow(..., timeout=...)``: a literal run time limit, checked as the runtime will read it.

A literal (a string such as ``"30s"`` or ``"1h"``, a number of seconds, ``-5``, ``True``) is parsed with
:func:`pikku._duration.parse_duration` at build time, so a limit the runtime would refuse fails prebuild
at its place instead of at import. Anything else (a name, a call, an f-string) is the runtime's to check.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import libcst as cst

from pikku._duration import parse_duration
from pikku._errors import InvalidDurationError
from pikku.cli.scan.literals import evaluated

_STRINGS = cst.SimpleString | cst.ConcatenatedString
_NUMBERS = cst.Integer | cst.Float | cst.Imaginary


@dataclass(frozen=True, slots=True)
class Timeout:
    """What ``timeout=`` says: ``seconds`` when it is a valid literal, ``problem`` when it is a bad one."""

    seconds: float | None = None
    problem: str | None = None


def read_timeout(node: cst.BaseExpression | None) -> Timeout:
    """The run time limit ``node`` gives; no limit for an absent ``timeout=``, ``None`` or a non-literal."""
    value = _literal(node)
    if value is _NOT_LITERAL or value is None:
        return Timeout()
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return Timeout(problem="it is neither a duration string nor a number of seconds")
    try:
        seconds = parse_duration(value)
    except InvalidDurationError:
        if isinstance(value, str):
            return Timeout(problem="it is not a duration")
        seconds = float(value)  # a negative number: refused below with the reason that fits it
    if math.isinf(seconds):
        return Timeout(problem="it is not a finite number of seconds")
    if not seconds > 0:
        return Timeout(problem="a run time limit must be more than 0 seconds")
    return Timeout(seconds=seconds)


class _NotLiteral:
    """Marks an expression whose value is only known when the program runs."""


_NOT_LITERAL = _NotLiteral()


def _literal(node: cst.BaseExpression | None) -> object:
    """The value of a literal ``node`` (signed numbers, ``True``/``False``/``None`` included), else _NOT_LITERAL."""
    if node is None:
        return None
    if isinstance(node, cst.Name) and node.value in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[node.value]
    if isinstance(node, _STRINGS | _NUMBERS):
        value = evaluated(node)  # an f-string part makes a ConcatenatedString's value None: not a literal
        return _NOT_LITERAL if value is None else value
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus | cst.Plus):
        inner = _literal(node.expression)
        if isinstance(inner, int | float | complex) and not isinstance(inner, bool):
            return -inner if isinstance(node.operator, cst.Minus) else inner
    return _NOT_LITERAL
