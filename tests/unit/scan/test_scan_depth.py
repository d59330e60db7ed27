"""Deep nesting: the scanner refuses what it cannot read (PKU001 naming the file and line), reads the rest.

Before the depth guard, a 600-level expression ended in PIKKU_INTERNAL (libcst ran out of recursion) and a
few thousand levels killed prebuild with a segmentation fault in libcst's native parser.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest

from pikku.cli.scan.depth import MAX_ADJACENT_LITERALS, MAX_DEPTH, too_deep
from pikku.cli.scan.extract import scan_source

# Expressions n levels deep, in every shape that nests: in CPython's tree, or only in libcst's.
SHAPES: dict[str, Callable[[int], str]] = {
    "attribute": lambda n: "a" + ".a" * n,
    "binary": lambda n: "+".join(["a"] * n),
    "unary": lambda n: "-" * n + "a",
    "subscript": lambda n: "a" + "[b]" * n,
    "call": lambda n: "a" + "()" * n,
    "not": lambda n: "not " * n + "a",
    "lambda": lambda n: "lambda: " * n + "1",
    "conditional": lambda n: "a if b else " * n + "c",
    "and": lambda n: " and ".join(["a"] * n),
    "or": lambda n: " or ".join(["a"] * n),
    "strings": lambda n: " ".join(["'x'"] * n),
}


def _module(expr: str) -> bytes:
    """A workflow-like module with ``expr`` in an annotation, an assignment and a step's input."""
    return (
        "from pikku import pikku_func\n\n\n@pikku_func\n"
        f"async def flow(services, data: {expr}) -> int:\n"
        "    workflow = services.workflow\n"
        f"    x = {expr}\n"
        f"    await workflow.do('a', 'x.y', {{'k': {expr}}})\n"
        "    return 1\n"
    ).encode()


@pytest.mark.parametrize("shape", SHAPES)
def test_nesting_within_the_limit_is_read(shape: str) -> None:
    facts = scan_source("app/flow.py", _module(SHAPES[shape](MAX_DEPTH - 10)))
    assert [d.code for d in facts.diagnostics] == [], facts.diagnostics
    assert too_deep("app/flow.py", _module(SHAPES[shape](MAX_DEPTH - 10))) is None


@pytest.mark.parametrize("depth", [2 * MAX_DEPTH, 20_000])
@pytest.mark.parametrize("shape", SHAPES)
def test_nesting_beyond_the_limit_is_pku001_at_the_file(shape: str, depth: int) -> None:
    """2x the limit used to be PIKKU_INTERNAL, 20,000 levels a segmentation fault (or minutes of parsing)."""
    limit_before = sys.getrecursionlimit()
    facts = scan_source("app/flow.py", _module(SHAPES[shape](depth)))
    assert sys.getrecursionlimit() == limit_before
    [problem] = facts.diagnostics
    assert problem.code == "PKU001" and problem.location.file == "app/flow.py"
    limit = MAX_ADJACENT_LITERALS if shape == "strings" else MAX_DEPTH
    assert "does not parse" in problem.message and str(limit) in problem.message, problem.message
    assert problem.hint is not None and "split the expression" in problem.hint
    assert not facts.functions


def test_chains_are_counted_per_statement_and_point_at_their_line() -> None:
    """Many short chains in one file are fine; one long chain is reported at the statement it starts."""
    short = "".join(f"x{i} = a and b or c\ny{i} = 'p' 'q'\n" for i in range(MAX_DEPTH))
    assert too_deep("app/many.py", short.encode()) is None
    long_chain = short + "z = (\n    " + " and ".join(["a"] * (MAX_DEPTH + 1)) + "\n)\n"
    problem = too_deep("app/many.py", long_chain.encode())
    assert problem is not None and problem.location.line == 2 * MAX_DEPTH + 1, problem
    assert "'and'/'or' operators" in problem.message
    literals = short + "s = (\n" + "\n".join(["    'x'"] * (MAX_ADJACENT_LITERALS + 1)) + "\n)\n"
    problem = too_deep("app/many.py", literals.encode())
    assert problem is not None and "adjacent string literals" in problem.message, problem


def test_brackets_beyond_python_point_at_the_column_python_stops() -> None:
    problem = too_deep("app/deep.py", b"x = 1\ny = " + b"[" * 5000 + b"]" * 5000 + b"\n")
    assert problem is not None and (problem.location.line, problem.location.column) == (2, 205), problem
    assert "too many nested parentheses" in problem.message


def test_a_latin1_file_is_measured_in_its_declared_encoding() -> None:
    source = b"# -*- coding: latin-1 -*-\nNAME = 'caf\xe9'\nx = " + SHAPES["binary"](2 * MAX_DEPTH).encode() + b"\n"
    problem = too_deep("app/legacy.py", source)
    assert problem is not None and "levels deep" in problem.message, problem


def test_ordinary_syntax_errors_are_left_to_libcst() -> None:
    """The guard reports only depth; a plain syntax error keeps libcst's place and message."""
    source = b"x = (" + b"a + " * MAX_DEPTH + b"\n"
    assert too_deep("app/broken.py", source) is None
    facts = scan_source("app/broken.py", source)
    assert [d.code for d in facts.diagnostics] == ["PKU001"] and "levels" not in facts.diagnostics[0].message


def test_a_long_text_of_adjacent_literals_is_read() -> None:
    """A SQL text written as 400+ lines of string literals is real code: strings have their own, higher limit,
    and libcst reads them (here three times over: in an annotation, an assignment and a step's input)."""
    facts = scan_source("app/flow.py", _module(SHAPES["strings"](MAX_ADJACENT_LITERALS - 10)))
    assert [d.code for d in facts.diagnostics] == [], facts.diagnostics
