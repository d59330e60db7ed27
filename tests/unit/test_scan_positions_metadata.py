"""Locator places checked against libcst's own PositionProvider, on text chosen to trip a cheap mapping.

The scanner takes def/call places from cheaper sources than libcst's metadata (the def lines read from the
text, the stdlib ``ast``, libcst's PositionProvider itself as the fallback). Whatever source answers, every place
must be the one PositionProvider reports: line, and column in characters (1-based).
"""

from __future__ import annotations

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider

from pikku.cli.scan import positions
from pikku.cli.scan.positions import Locator


def _wanted(module: cst.Module) -> list[cst.CSTNode]:
    """Module-level defs with their annotations, and every call with its argument values."""
    found: list[cst.CSTNode] = []

    class Collect(cst.CSTVisitor):
        def visit_Call(self, node: cst.Call) -> None:
            found.append(node)
            found.extend(arg.value for arg in node.args)

    for statement in module.body:
        if isinstance(statement, cst.FunctionDef):
            found.append(statement)
            params = statement.params
            for param in [*params.posonly_params, *params.params, *params.kwonly_params]:
                if param.annotation is not None:
                    found.append(param.annotation.annotation)
            if statement.returns is not None:
                found.append(statement.returns.annotation)
    module.visit(Collect())
    return found


def _mismatches(source: bytes) -> list[tuple[str, tuple[int, int], tuple[int, int]]]:
    """(code, Locator's place, PositionProvider's place) for every wanted node where the two differ."""
    module = cst.parse_module(source)
    expected = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    nodes = _wanted(module)
    assert nodes, "a case must locate something"
    locator = Locator("case.py")
    tickets = [locator.at(node) for node in nodes]
    resolve = locator.resolver(module, source)
    wrong = []
    for node, ticket in zip(nodes, tickets, strict=True):
        got = resolve(ticket)
        start = expected[node].start
        if (got.line, got.column) != (start.line, start.column + 1):
            wrong.append((module.code_for_node(node)[:40], (got.line, got.column), (start.line, start.column + 1)))
    return wrong


CASES: dict[str, bytes] = {
    "plain": b"from pikku import pikku_func\n\n\n@pikku_func(name='x')\nasync def f(services, data: int) -> str:\n"
    b"    return g(data)\n",
    "non-ASCII before a call on its line": "def f():\n    s = 'é€😀'; g(1, h('ü'), k=m('ß'))\n".encode(),
    "non-ASCII in a comment line above": "# ünïcödé\nx = f(1)  # ✓\ny = 'π' + g(2)\n".encode(),
    "non-ASCII name": "def café(x: Ä) -> Ö: return ß(x)\n".encode(),
    "nested calls": b"f(g(h(1))(2))(3).k(4)[m(5)](n(6))\n",
    "decorators": b"@a(b(1))\n@c\n@d . e(\n  2)\nasync def f(x: A(1)) -> B: pass\n\n@g\ndef h(): pass\n",
    "decorated class and method": b"@d(1)\nclass A(B(2), metaclass=M(3)):\n  @e(4)\n  def m(self) -> N(5): f(6)\n",
    "multi-line call": b"x = f(\n  1,\n  g(\n   2),\n  *h(3),\n  **k(\n4))\n",
    "tabs": b"def f():\n\tif 1:\n\t\tg(1);\th(2)\n\t\tx = [\tk(3)]\n",
    "tabs and non-ASCII": "def f():\n\tif 1:\n\t\ts = 'é';\tg(1)\n".encode(),
    "CRLF": "def f(a: int) -> str:\r\n    g('é', h(1))\r\n\r\nk(2)\r\n".encode(),
    "BOM": b"\xef\xbb\xbfdef f(): g(1)\nh(2)\n",
    "coding latin-1": b"# -*- coding: latin-1 -*-\nx = '\xe9\xe9'; f(1)\ndef g(a: '\xe9') -> int: pass\n",
    "backslash continuation": b"x = 1 + \\\n  f(2)\n",
    "async, backslash, def": b"x = 1\nasync \\\ndef f(x: int) -> int:\n    return g(x)\n",
    "async, backslash, indented def": b"async\\\n    def f(): pass\n",
    "byte order mark, async, backslash, def": b"\xef\xbb\xbfasync \\\ndef f(): g(1)\ndef h(): pass\n",
    # libcst drops a backslash continuation that starts a line: its places are a line above the text's.
    "backslash line before a def": b"x = 1\n\\\ndef f(a: int) -> B(1): pass\n",
    "backslash line before a call": "x = 1\n\\\n\\\r\nf(g(1), 'é')\n".encode(),
    "indented backslash line": b"def f():\n    x = 1\n    \\\n    g(1)\n",
    "byte order mark, backslash line": b"\xef\xbb\xbf\\\nf(1)\ndef g(): pass\n",
    "def-like text in strings and comments": b'# def a():\nx = """\ndef b():\n"""\ns = "\\\ndef c(): pass"\n'
    b"def d(): pass\n",
    "a def's own name on a def-like line in a string above it": b'x = """\ndef f():\n"""\n\ndef f(a: int): g(1)\n',
    "def-like lines in strings, defs alone": b"s = '''\nasync def f(): pass\n'''\n@d\nasync def f(): pass\n"
    b"def \\\n  g(): pass\n",
    "f-string fields": b"x = f'{g(1)}' + h(2)\ny = f'{k(3)!r:>{m(4)}}' f'{n(5)}'\ndef p(): pass\n",
    "parentheses": b"x = (f)(1) + ((g(2)))\ny = ((a)).b(3)\n",
    "generator, tuple and lambda arguments": b"f(x for x in g(1))\nh((1, k(2)), lambda a=m(3): n(a))\n",
    "conditional and comprehensions": b"x = f(1) if g(2) else h(3)\ny = [k(x) for x in m(1) if n(x) for z in p(2)]\n",
    "handlers, match and walrus": b"try:\n  pass\nexcept f(1) as e:\n  g(2)\nmatch h(3):\n  case A(x=1) if k(4): m(5)\n"
    b"if (n := p(6)) > q(7): pass\n",
    "dict, set, subscripts and annotations": b"d = {f(1): g(2), **h(3)}\ns = {k(4)}\nx[m(5)]: n(6) = p(7)\n",
    "parameters": b"def f(a: int = g(1), /, b: h(2) = k(3), *args: m(4), c=n(5), **kw: p(6)) -> q(7): pass\n",
    "form feed": b"x = f(1)\n\x0c\ndef g(): h(2)\n",
    "semicolons and one-liners": b"x=1;f(1);g(2)\ndef h(): k(3); m(4)\nclass A: n(5)\n",
    "strings with quotes and escapes": b"x = 'a\\'b'; f(\"\\\"\", r'\\\\', '''a''' '''b''')\ndef g(): pass\n",
}


@pytest.mark.parametrize("source", CASES.values(), ids=CASES.keys())
def test_places_equal_position_provider(source: bytes) -> None:
    """Every located def, annotation, call and call argument is where libcst's metadata says."""
    assert _mismatches(source) == []


def test_plain_code_needs_no_codegen(monkeypatch: pytest.MonkeyPatch) -> None:
    """Defs and calls of ordinary code are placed without regenerating the module (the cost being cut)."""

    def no_codegen(module: cst.Module, nodes: list[cst.CSTNode]) -> dict[int, tuple[int, int]]:
        raise AssertionError(f"PositionProvider fallback asked for {[module.code_for_node(n)[:30] for n in nodes]}")

    monkeypatch.setattr(positions, "_locate", no_codegen)
    names = ["plain", "non-ASCII before a call on its line", "nested calls", "decorators", "tabs", "CRLF"]
    names += ["byte order mark, async, backslash, def", "def-like lines in strings, defs alone"]
    for name in names:
        assert _mismatches(CASES[name]) == [], name
