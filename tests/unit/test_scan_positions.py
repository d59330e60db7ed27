"""Positions of located nodes: the text/ast fast paths must give exactly libcst's PositionProvider starts.

Each case checks two things: the fast path really placed the nodes (so a pass is not just the PositionProvider
fallback answering), and the places equal the ones libcst's own metadata reports.
"""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider

from pikku.cli.scan import positions as positions_module
from pikku.cli.scan import scan_source
from pikku.cli.scan.astplaces import _cst_calls, ast_places
from pikku.cli.scan.deflines import def_lines
from pikku.cli.scan.positions import Locator


def _metadata_places(module: cst.Module) -> dict[int, tuple[int, int]]:
    """``id(node) -> (line, column)`` as PositionProvider reports the start (columns made 1-based)."""
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)  # keep node identities
    ranges = wrapper.resolve(PositionProvider)
    return {id(node): (r.start.line, r.start.column + 1) for node, r in ranges.items()}


class _Calls(cst.CSTVisitor):
    """Every call, f-strings included (a plain visitor, independent of the walk under test)."""

    def __init__(self) -> None:
        self.calls: list[cst.Call] = []

    def visit_Call(self, node: cst.Call) -> None:
        self.calls.append(node)


def _located(module: cst.Module) -> list[cst.CSTNode]:
    """What extraction may locate: module-level defs and their annotations, calls and their arguments."""
    nodes: list[cst.CSTNode] = []
    for stmt in module.body:
        if isinstance(stmt, cst.FunctionDef):
            nodes.append(stmt)
            params = [*stmt.params.posonly_params, *stmt.params.params, *stmt.params.kwonly_params]
            nodes += [p.annotation.annotation for p in params if p.annotation is not None]
            if stmt.returns is not None:
                nodes.append(stmt.returns.annotation)
    visitor = _Calls()
    module.visit(visitor)  # a visitor may rebuild nodes it changed; it changes none, so identities hold
    for call in visitor.calls:
        nodes.append(call)
        nodes += [arg.value for arg in call.args]
    return nodes


def _check_fast(source: bytes, *, complete: bool = False) -> list[str]:
    """The fast places equal the metadata ones (all located nodes placed when ``complete``); code not placed."""
    module = cst.parse_module(source)
    nodes = _located(module)
    fast = positions_module._fast_places(module, source, nodes)
    reference = _metadata_places(module)
    assert {key: reference[key] for key in fast} == fast
    missing = sorted({id(n): module.code_for_node(n) for n in nodes if id(n) not in fast}.values())
    assert not (complete and missing), missing
    return missing


def _check_locator(source: bytes) -> None:
    """The Locator (fast paths plus fallback) places every located node where the metadata does."""
    module = cst.parse_module(source)
    nodes = _located(module)
    locator = Locator("m.py")
    tickets = [locator.at(node) for node in nodes]
    resolve = locator.resolver(module, source)
    reference = _metadata_places(module)
    got = [(resolve(t).line, resolve(t).column) for t in tickets]
    assert got == [reference[id(n)] for n in nodes]


CASES = {
    "non-ascii before a call": 'x = "é☕"; f(1)\ny = "𝄞"; g(h("ü"), k=m(2))\n',
    "nested calls": "f(g(h(1)))(2)\na.b(c).d(e)(f)\n(a)(b)\n(a.b)(c)\n",
    "decorators": "@dec(arg())\n@other\ndef f(x: int) -> str: ...\n\n\n@d\nasync def g(): await h()\n",
    "multi-line calls": "f(\n    g(1),\n    h=k(\n        2,\n    ),\n    *rest(),\n    **more(),\n)\n",
    "tabs": "if x:\n\tf(1)\n\tif y:\n\t\tg(h(2))\ndef w(s, d):\n\treturn s.workflow.do('a', 'b')\n",
    "crlf": "a = 1\r\n\r\ndef f(s, d: T):\r\n    return g(\r\n        1)\r\n",
    "bom": "\ufeffdef f(): g(1)\n",
    "keywords before star args": "f(a=g(), *h(), b=k(), **m())\nf(x, y=1, y2=z())\n",
    "source order differs from fields": (
        "x = b() if c() else d()\n"
        "try:\n    e()\nexcept f() as err:\n    g()\n"
        "def p(a=q(), /, b=r(), *c, d=s(), **e) -> t(): u()\n"
        "class K(base(), metaclass=meta()):\n    @deco()\n    def m(self): v()\n"
        "match w():\n    case [1] if guard(): body()\n"
        "lam = lambda a=z(): y()\n"
        "comp = [i() for i in j() if k()]\n"
        "d = {a(): b() for c in d()}\n"
    ),
    "defs and calls in strings are text": (
        '"""Docstring.\n\ndef fake(): call()\n"""\n\ndef real(s, d):\n    """def nope(): x()"""\n    return f(1)\n'
    ),
    "unicode identifiers and text": "def é(s, d: Ä) -> Ö:\n    return ß.ü('ö', 2)\n",
    "f-string calls fall back": "def f(s, d):\n    return g(f\"{h(1)}-{k('x')}\", m())\n",
    "tuple and genexp arguments fall back": "f((a, b), (x for x in y), [c], {d: e})\ng(x for x in y)\n",
    "form feed falls back": "\x0cdef f(): g()\n",
}
# A lone "\r" ends a line for Python and for PositionProvider; the fast paths leave such files alone.
LONE_CR = b"a = 1\rdef f(): g()\n"


@pytest.mark.parametrize("source", CASES.values(), ids=CASES.keys())
def test_fast_places_match_metadata(source: str) -> None:
    """Whatever the fast paths place is where libcst's metadata puts it."""
    _check_fast(source.encode("utf-8"))


@pytest.mark.parametrize("source", CASES.values(), ids=CASES.keys())
def test_locator_matches_metadata(source: str) -> None:
    """With the PositionProvider fallback for the rest, every located node is where libcst's metadata puts it."""
    _check_locator(source.encode("utf-8"))


COMPLETE = [name for name in CASES if "fall" not in name]


@pytest.mark.parametrize("name", COMPLETE)
def test_fast_paths_place_the_usual_nodes(name: str) -> None:
    """The fast paths really answer for every def, call and argument (not only the fallback)."""
    _check_fast(CASES[name].encode("utf-8"), complete=True)


@pytest.mark.parametrize(
    ("name", "left"),
    [
        ("f-string calls fall back", ["h(1)", "k('x')", "1", "'x'"]),
        ("tuple and genexp arguments fall back", ["(a, b)", "(x for x in y)", "x for x in y"]),
        ("form feed falls back", ["def f(): g()\n", "g()"]),
    ],
)
def test_fast_paths_leave_uncertain_nodes(name: str, left: list[str]) -> None:
    """Calls in f-strings, tuples and generators (whose ast start differs), form feeds: left to PositionProvider."""
    assert _check_fast(CASES[name].encode("utf-8")) == sorted(left)


def test_lone_cr_is_placed_by_position_provider() -> None:
    """A lone "\\r" line end: the fast paths stay out and the places are PositionProvider's (def on line 2)."""
    module = cst.parse_module(LONE_CR)
    nodes = _located(module)
    assert positions_module._fast_places(module, LONE_CR, nodes) == {}
    _check_locator(LONE_CR)
    locator = Locator("m.py")
    ticket = locator.at(module.body[1])
    assert locator.resolver(module, LONE_CR)(ticket).line == 2


def test_positions_use_public_libcst_api_only() -> None:
    """The scanner imports nothing from libcst's private modules (``libcst._...``): upgrades cannot break it."""
    scan_dir = Path(positions_module.__file__).parent
    offenders = [p.name for p in scan_dir.glob("*.py") if "libcst._" in p.read_text(encoding="utf-8")]
    assert offenders == []


def test_latin1_coding_declaration_counts_characters() -> None:
    """ast columns are UTF-8 bytes of the decoded line; a latin-1 file's columns are still characters."""
    source = "# -*- coding: latin-1 -*-\nx = 'éé'; f(g(1))\ndef h(): k()\n".encode("latin-1")
    _check_fast(source, complete=True)
    _check_locator(source)


def test_calls_are_walked_in_source_order() -> None:
    """The libcst call walk follows the written order (that is what pairs it with sorted ast calls)."""
    module = cst.parse_module(CASES["source order differs from fields"])
    reference = _metadata_places(module)
    starts = [reference[id(call)] for call in _cst_calls(module)]
    assert len(starts) == 26
    assert starts == sorted(starts)


def test_mismatched_calls_pair_nothing() -> None:
    """When the two trees disagree about the calls, ast places none of them (the fallback does)."""
    module = cst.parse_module("f(1)\ng(2)\n")
    calls = _cst_calls(module)
    assert set(ast_places(module, b"f(1)\ng(2)\n", calls)) == {id(c) for c in calls}
    # The same libcst tree against other text: the callee check refuses the pairing.
    assert ast_places(module, b"g(1)\nf(2)\n", calls) == {}
    # And against text with another number of calls.
    assert ast_places(module, b"f(1)\n", calls) == {}


def test_def_lines_skip_strings_and_comments() -> None:
    """Only real module-level defs count: not in strings, comments, classes or indented blocks."""
    source = (
        b'"""\ndef in_docstring(): ...\n"""\n'
        b"# def in_comment(): ...\n"
        b"x = 'def in_string' \\\n'more'\n"
        b"s = 'line \\\ndef in_continued_string(): ...'\n"
        b"class C:\n    def method(self): ...\n"
        b"if x:\n    def indented(): ...\n"
        b"@decorated\nasync def a(): ...\n"
        b"def b[T](x: T) -> T: ...\n"
        b"def  c (): ...\n"
    )
    assert def_lines(source) == [(b"a", 14), (b"b", 15), (b"c", 16)]


@pytest.mark.parametrize(
    "source",
    [
        b'x = f"{d["k"]}"\ndef g(): ...\n',  # 3.12: the field holds the string's own quote
        b'x = f"{a} {b["k"]}"\n',
        b"x = f'''{a + # comment (3.12)\n b}'''\n",
        b"x = f'{a:'>10}'\n",  # a quote in a format spec
        b"x = f\"{f'{y}'}\"\n",  # a nested f-string
        b"x = f'{'''a'''}'\n",  # a nested triple-quoted string
        b"x = f'{a \\\n + b}'\n",  # a line continuation in a field
    ],
)
def test_def_lines_give_up_on_uncertain_fstrings(source: bytes) -> None:
    """An f-string this reading cannot follow for certain makes the text reading unknown."""
    assert def_lines(source) is None


def test_def_lines_read_fstring_fields() -> None:
    """Ordinary f-string fields (other quotes, specs, escaped braces, brackets) do not stop the reading."""
    source = (
        b'x = f"{a}-{b.c:>10}" f"no fields" f"{d[\'k\']!r:{width}.{p}}" rf\'{{lit}} {e}}}\'\n'
        b"y = f'{ {1: 2}[1] } {f(a, b=\"}\")} \\n {x=}'\n"
        b'z = F"""{a}\ndef in_string(): {b}\n"""\n'
        b"\ndef g(): ...\n"
    )
    assert def_lines(source) == [(b"g", 7)]


def test_uncertain_text_reading_falls_back_to_ast(monkeypatch: pytest.MonkeyPatch) -> None:
    """When the text reading gives up, ast (not the fallback) places the defs."""
    source = b"x = f'{d[\"k\"]}'\n\n@dec\ndef real(): ...\n"
    module = cst.parse_module(source)
    monkeypatch.setattr(positions_module, "_locate", _no_codegen)
    assert positions_module._fast_places(module, source, [module.body[1]]) == {id(module.body[1]): (4, 1)}


def _no_codegen(module: cst.Module, nodes: list[cst.CSTNode]) -> dict[int, tuple[int, int]]:
    raise AssertionError("PositionProvider fallback used")


_PROJECT_FILE = '''\
"""A workflow file with diagnostics."""

from typing import Any

from pikku import pikku_func, wire_workflow
from app.models import Item


@pikku_func(name=make_name())
async def flow(services: Any, data: Missing) -> Item:
    """Steps, with a few problems."""
    wf = services.workflow
    café = "☕"; first = await wf.do("a", "fn.a", {"k": café})
    await wf.do(name_var, "fn.b", {})
    await wf.sleep("soon")
    await wf.do(
        f"loop-{café}",
        lambda: 1,
    )
    return first


wire_workflow(name=flow_name, description="x", execution_mode="sometimes", func=flow)
wire_workflow(name="ok", func=(flow))
'''


@pytest.mark.parametrize("source", [_PROJECT_FILE, _PROJECT_FILE.replace("\n", "\r\n")], ids=["lf", "crlf"])
def test_scan_source_same_with_and_without_fast_paths(source: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The facts (every location and diagnostic) are the same as with PositionProvider alone (the plain path)."""
    data = source.encode("utf-8")
    fast = scan_source("app/flows.py", data)
    assert len(fast.diagnostics) + sum(len(f.step_diagnostics) for f in fast.functions) >= 4
    monkeypatch.setattr(positions_module, "_fast_places", lambda module, source, nodes: {})
    assert scan_source("app/flows.py", data) == fast


def test_example_app_same_with_and_without_fast_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same for every file of the example app and of the golden cases."""
    root = Path(__file__).resolve().parents[2]
    files = sorted([*root.joinpath("example_app").rglob("*.py"), *root.joinpath("tests", "golden").rglob("*.py")])
    assert files
    fast = [scan_source(p.relative_to(root).as_posix(), p.read_bytes()) for p in files]
    monkeypatch.setattr(positions_module, "_fast_places", lambda module, source, nodes: {})
    assert [scan_source(p.relative_to(root).as_posix(), p.read_bytes()) for p in files] == fast
