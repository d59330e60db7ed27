"""Review of the depth guard: shapes it let through to libcst (a segmentation fault that kills prebuild),
and ordinary code it refused. Each deep case runs in a child process, since the failure is a crash."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pikku.cli.scan.depth import MAX_DEPTH, too_deep
from pikku.cli.scan.extract import scan_source

# Shapes CPython keeps flat (so the symtable pass sees no depth) but libcst nests one node per link.
BYPASSES = {
    # Python 3.11's tokenizer gives an f-string as one STRING token: the 'and' words inside are not counted.
    "and_chain_in_fstring": "x = f'{" + " and ".join(["a"] * 20_000) + "}'\n",
    # CPython keeps a dotted import name as one string; libcst builds an Attribute per dot.
    "dotted_import": "import " + ".".join(["a"] * 20_000) + "\n",
    "dotted_from_import": "from " + ".".join(["a"] * 20_000) + " import b\n",
}

_CHILD = (
    "import sys\n"
    "from pikku.cli.scan.extract import scan_source\n"
    "facts = scan_source('app/deep.py', sys.stdin.buffer.read())\n"
    "print(' '.join(d.code for d in facts.diagnostics))\n"
)


@pytest.mark.parametrize("shape", BYPASSES)
def test_shapes_flat_in_cpython_but_deep_in_libcst_are_refused_not_a_crash(shape: str) -> None:
    child = subprocess.run(
        [sys.executable, "-c", _CHILD], input=BYPASSES[shape].encode(), capture_output=True, timeout=120, check=False
    )
    assert child.returncode == 0, (child.returncode, child.stderr[-500:])  # -11: segmentation fault
    assert child.stdout.split() == [b"PKU001"], child.stdout


def test_many_short_boolean_expressions_in_one_statement_are_read() -> None:
    """A table of 400 conditions (one statement, but each expression two levels deep) is ordinary code."""
    source = "RULES = {\n" + "".join(f"    {i}: lambda u: u.a and u.b,\n" for i in range(400)) + "}\n"
    assert too_deep("app/rules.py", source.encode()) is None
    facts = scan_source("app/rules.py", source.encode())
    assert [d.code for d in facts.diagnostics] == [], facts.diagnostics
    calls = "check(" + ", ".join(f"x{i} or y{i}" for i in range(MAX_DEPTH + 10)) + ")\n"
    assert too_deep("app/calls.py", calls.encode()) is None


def test_a_long_chain_split_across_brackets_is_still_refused() -> None:
    """Counting per expression must not lose a chain whose links sit in nested parentheses."""
    chain = "x = " + " and (".join(["a"] * 150) + ")" * 149 + " or " + " or ".join(["b"] * 200) + "\n"
    problem = too_deep("app/deep.py", chain.encode())
    assert problem is not None and "'and'/'or'" in problem.message, problem


@pytest.mark.parametrize(
    ("source", "line"),
    [
        ("# header\n\n\nz = " + " and ".join(["a"] * 400) + "\n", 4),
        ("x = 1\n\n# a comment\n\ny = (\n" + " or ".join(["a"] * 400) + ")\n", 5),
        ("def f():\n    x = 1\n\n    return (\n" + " and ".join(["a"] * 400) + ")\n", 4),
        ("x = 1; y = (" + " or ".join(["a"] * 400) + ")\n", 1),
    ],
)
def test_a_long_chain_is_reported_at_the_line_its_statement_starts(source: str, line: int) -> None:
    """Not at the line after the previous statement (a blank line or a comment before this one)."""
    problem = too_deep("app/chain.py", source.encode())
    assert problem is not None and problem.location.line == line, problem


def test_statements_of_strings_and_names_do_not_add_up() -> None:
    source = "".join("'doc'\nx.y\n" for _ in range(MAX_DEPTH + 5))
    assert too_deep("app/strings.py", source.encode()) is None


@pytest.mark.parametrize("branches", [MAX_DEPTH + 30, 1_000])
def test_a_long_elif_chain_is_read(branches: int) -> None:
    """CPython compiles and libcst reads an if/elif chain of 1,000 branches (a dispatcher, a state machine);
    the symtable pass counted each elif as a level (CPython nests it in the orelse) and refused the file."""
    source = "def f(a):\n    if a == -1:\n        return 0\n" + "".join(
        f"    elif a == {i}:\n        return {i}\n" for i in range(branches)
    )
    compile(source, "app/dispatch.py", "exec")
    assert too_deep("app/dispatch.py", source.encode()) is None
    assert scan_source("app/dispatch.py", source.encode()).diagnostics == ()


def test_an_elif_chain_does_not_hide_a_deep_expression() -> None:
    source = "if a:\n    pass\n" + "".join(f"elif a == {i}:\n    pass\n" for i in range(400))
    source += "else:\n    x = " + "+".join(["a"] * 2 * MAX_DEPTH) + "\n"
    problem = too_deep("app/dispatch.py", source.encode())
    assert problem is not None and "levels deep" in problem.message, problem


def test_a_file_with_cr_line_endings_is_counted_per_statement() -> None:
    """Python (and libcst) read a lone CR as a line end; the token pass saw one line, one statement."""
    source = "from pikku import pikku_func\r\r@pikku_func\rasync def f(services, data: int) -> int:\r    return 1\r"
    source += "".join(f"x{i} = a and b\r" for i in range(MAX_DEPTH + 100))
    compile(source, "app/old_mac.py", "exec")
    assert too_deep("app/old_mac.py", source.encode()) is None
    facts = scan_source("app/old_mac.py", source.encode())
    assert facts.diagnostics == () and [f.name for f in facts.functions] == ["f"]
    deep = "x = 1\ry = (\r" + " and ".join(["a"] * (MAX_DEPTH + 1)) + ")\r"
    problem = too_deep("app/old_mac.py", deep.encode())
    assert problem is not None and problem.location.line == 2, problem
