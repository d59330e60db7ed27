"""Line/column of libcst nodes taken from the stdlib ``ast`` of the same source.

libcst nodes carry no positions, and regenerating the code to count them costs about a third of the
parse; ``ast`` (the C parser) reads the same text several times faster and its nodes carry
``lineno``/``col_offset``. For the node kinds paired here those are exactly libcst's syntactic start
(the place PositionProvider reports): module-level defs, calls, and call arguments and def annotations of
the kinds in ``_SAME_START``. Pairs are made by order: the k-th module-level def of one tree is the k-th
of the other, and the k-th call in libcst source order is the k-th ast call sorted by position. Whatever
cannot be paired with certainty is left out; the caller then falls back to regenerating code.
"""

from __future__ import annotations

import ast
import dataclasses
import warnings
from collections import defaultdict, deque
from collections.abc import Iterator, Sequence
from typing import Literal

import libcst as cst

Place = tuple[int, int]

# Kinds whose start is the same in both trees, also when parenthesized (both leave the node's own
# parentheses out). Not here: Tuple and GeneratorExp, whose ast start includes the parentheses.
_SAME_START: frozenset[type[cst.CSTNode]] = frozenset(
    {
        cst.Name,
        cst.Attribute,
        cst.Call,
        cst.Subscript,
        cst.SimpleString,
        cst.ConcatenatedString,
        cst.FormattedString,
        cst.Integer,
        cst.Float,
        cst.Imaginary,
        cst.Ellipsis,
        cst.BinaryOperation,
        cst.BooleanOperation,
        cst.UnaryOperation,
        cst.Comparison,
        cst.Await,
        cst.Lambda,
        cst.List,
        cst.Dict,
        cst.Set,
        cst.ListComp,
        cst.SetComp,
        cst.DictComp,
    }
)

# Calls inside f-strings are paired on neither side: before Python 3.12, ast positions inside f-strings
# are reconstructed and not always right.
_CST_SKIPPED: frozenset[type] = frozenset(
    kind for kind in (cst.FormattedString, getattr(cst, "TemplatedString", None)) if kind is not None
)
_AST_SKIPPED: frozenset[type] = frozenset(
    kind for kind in (ast.JoinedStr, getattr(ast, "TemplateStr", None)) if kind is not None
)

# libcst fields in the order their code is written, where that differs from the dataclass field order.
_SOURCE_ORDER: dict[type[cst.CSTNode], tuple[str, ...]] = {
    cst.FunctionDef: ("decorators", "name", "type_parameters", "params", "returns", "body"),
    cst.ClassDef: ("decorators", "name", "type_parameters", "bases", "keywords", "body"),
    cst.Parameters: ("posonly_params", "posonly_ind", "params", "star_arg", "kwonly_params", "star_kwarg"),
    cst.IfExp: ("body", "test", "orelse"),
    cst.ExceptHandler: ("type", "name", "body"),
    cst.ExceptStarHandler: ("type", "name", "body"),
    cst.MatchCase: ("pattern", "guard", "body"),
    cst.TypeAlias: ("name", "type_parameters", "value"),
}
# Fields that only hold whitespace and punctuation, never a call: not walked.
_NOISE_PREFIXES: tuple[str, ...] = ("whitespace", "lpar", "rpar", "lbr", "rbr", "comma", "semicolon", "colon")
_NOISE_PREFIXES += ("equal", "dot", "operator", "leading_lines", "lines_after", "trailing_whitespace", "header")
_NOISE_PREFIXES += ("footer",)
# Declared field types that never hold a call (text, names), so walking them is skipped.
CALL_FREE_TYPES: tuple[object, ...] = (str, cst.Name, cst.Name | None, Literal["", "*", "**"], Literal["", "*"])
_CST_FIELDS: dict[type, tuple[str, ...]] = {}
_CST_WALKED: dict[type, bool] = {}


def ast_places(module: cst.Module, source: bytes, wanted: Sequence[cst.CSTNode]) -> dict[int, Place]:
    """``id(node) -> (line, column)`` (1-based, characters) for the ``wanted`` nodes that could be paired."""
    tree = _parse(source)
    if tree is None:
        return {}
    pairs: dict[int, ast.AST] = {}
    _pair_defs(module, tree, pairs)
    if any(id(node) not in pairs for node in wanted):
        _pair_calls(module, tree, pairs)
    columns = _Columns(source, module.encoding)
    places: dict[int, Place] = {}
    for node in wanted:
        found = pairs.get(id(node))
        if isinstance(found, ast.expr | ast.stmt):
            places[id(node)] = (found.lineno, columns.character(found.lineno, found.col_offset) + 1)
    return places


def _parse(source: bytes) -> ast.Module | None:
    # Warnings (invalid escapes and the like) would reach the user's terminal a second time: libcst
    # already accepted this text, and anything ast refuses just means no pairs.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return ast.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return None


class _Columns:
    """ast columns are UTF-8 byte offsets; locations count characters, as libcst does."""

    def __init__(self, source: bytes, encoding: str) -> None:
        # ast decodes with the same coding declaration (or BOM) libcst found; an ASCII file needs nothing.
        self._lines = None if source.isascii() else source.decode(encoding).split("\n")

    def character(self, line: int, byte_column: int) -> int:
        if self._lines is None or line > len(self._lines):
            return byte_column
        text = self._lines[line - 1]
        return byte_column if text.isascii() else len(text.encode()[:byte_column].decode())


# -- defs and their annotations -------------------------------------------------------------------------
def _pair_defs(module: cst.Module, tree: ast.Module, pairs: dict[int, ast.AST]) -> None:
    """Module-level defs in order (only when both trees name the same defs), with their annotations."""
    cst_defs = [s for s in module.body if isinstance(s, cst.FunctionDef)]
    ast_defs = [s for s in tree.body if isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef)]
    if [d.name.value for d in cst_defs] != [d.name for d in ast_defs]:
        return
    for cst_def, ast_def in zip(cst_defs, ast_defs, strict=True):
        pairs[id(cst_def)] = ast_def
        _pair_annotation(cst_def.returns, ast_def.returns, pairs)
        for param, arg in _params(cst_def.params, ast_def.args):
            _pair_annotation(param.annotation, arg.annotation, pairs)


def _params(params: cst.Parameters, args: ast.arguments) -> Iterator[tuple[cst.Param, ast.arg]]:
    groups = [(params.posonly_params, args.posonlyargs), (params.params, args.args)]
    groups += [(params.kwonly_params, args.kwonlyargs)]
    for cst_group, ast_group in groups:
        if len(cst_group) == len(ast_group):
            yield from zip(cst_group, ast_group, strict=True)
    if isinstance(params.star_arg, cst.Param) and args.vararg is not None:
        yield params.star_arg, args.vararg
    if params.star_kwarg is not None and args.kwarg is not None:
        yield params.star_kwarg, args.kwarg


def _pair_annotation(annotation: cst.Annotation | None, expr: ast.expr | None, pairs: dict[int, ast.AST]) -> None:
    if annotation is not None and expr is not None:
        _pair_expression(annotation.annotation, expr, pairs)


def _pair_expression(node: cst.BaseExpression, expr: ast.expr, pairs: dict[int, ast.AST]) -> None:
    if type(node) in _SAME_START:
        pairs[id(node)] = expr


# -- calls and their arguments --------------------------------------------------------------------------
def _pair_calls(module: cst.Module, tree: ast.Module, pairs: dict[int, ast.AST]) -> None:
    """Every call of the module with its arguments, when both trees hold the same calls."""
    cst_calls = _cst_calls(module)
    ast_calls = _ast_calls(tree)
    if len(cst_calls) != len(ast_calls):
        return
    if not all(_same_callee(c, a) for c, a in zip(cst_calls, ast_calls, strict=True)):
        return  # the orders disagree somewhere: pair nothing rather than something wrong
    for cst_call, ast_call in zip(cst_calls, ast_calls, strict=True):
        pairs[id(cst_call)] = ast_call
        _pair_arguments(cst_call, ast_call, pairs)


def _cst_calls(module: cst.Module) -> list[cst.Call]:
    """The module's calls in source order (pre-order, children in the order their code is written)."""
    found: list[cst.Call] = []
    stack: list[cst.CSTNode] = [module] if _may_hold_calls(type(module)) else []
    while stack:
        node = stack.pop()
        kind = type(node)
        if kind is cst.Call:
            found.append(node)  # type: ignore[arg-type]  # checked by the line above
        elif kind in _CST_SKIPPED:
            continue
        children: list[cst.CSTNode] = []
        for name in _CST_FIELDS[kind]:  # filled in for every kind _may_hold_calls let through
            value = getattr(node, name)
            if type(value) is tuple or type(value) is list:
                children += [v for v in value if _may_hold_calls(type(v))]
            elif _may_hold_calls(type(value)):
                children.append(value)
        children.reverse()
        stack += children
    return found


def _may_hold_calls(kind: type) -> bool:
    """True for a node kind with fields that can hold a call (cached: isinstance on libcst's ABCs is slow)."""
    known = _CST_WALKED.get(kind)
    if known is None:
        known = issubclass(kind, cst.CSTNode) and bool(code_fields(kind))
        _CST_WALKED[kind] = known
    return known


def code_fields(kind: type[cst.CSTNode]) -> tuple[str, ...]:
    """The fields of ``kind`` that can hold code (a call, an assignment), in source order; none for leaves
    such as names and literals. Cached: the scanners ask once per node."""
    cached = _CST_FIELDS.get(kind)
    if cached is not None:
        return cached
    names = _SOURCE_ORDER.get(kind) or tuple(
        f.name
        for f in dataclasses.fields(kind)
        if not f.name.startswith(_NOISE_PREFIXES) and f.type not in CALL_FREE_TYPES
    )
    _CST_FIELDS[kind] = names
    return names


def _ast_calls(tree: ast.Module) -> list[ast.Call]:
    """The tree's calls sorted by start; a call starting where another does is inside it, so it comes after."""
    found: list[ast.Call] = []
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        kind = type(node)
        if kind is ast.Call:
            found.append(node)  # type: ignore[arg-type]  # checked by the line above
        elif kind in _AST_SKIPPED:
            continue
        for name in kind._fields:
            value = getattr(node, name, None)
            if type(value) is list:
                stack += [v for v in value if isinstance(v, ast.AST)]
            elif isinstance(value, ast.AST):
                stack.append(value)
    found.sort(key=lambda c: (c.lineno, c.col_offset, -(c.end_lineno or 0), -(c.end_col_offset or 0)))
    return found


def _same_callee(cst_call: cst.Call, ast_call: ast.Call) -> bool:
    """A cheap check that a pair is right: the called name (or attribute) is the same."""
    func, expr = cst_call.func, ast_call.func
    if isinstance(func, cst.Name):
        return isinstance(expr, ast.Name) and expr.id == func.value
    if isinstance(func, cst.Attribute):
        return isinstance(expr, ast.Attribute) and expr.attr == func.attr.value
    return not isinstance(expr, ast.Name | ast.Attribute)


def _pair_arguments(cst_call: cst.Call, ast_call: ast.Call, pairs: dict[int, ast.AST]) -> None:
    """libcst keeps arguments in written order; ast splits them into positional ones and keywords."""
    positional = iter(ast_call.args)
    keywords: dict[str | None, deque[ast.keyword]] = defaultdict(deque)
    for keyword in ast_call.keywords:  # ``**mapping`` is a keyword without a name
        keywords[keyword.arg].append(keyword)
    for arg in cst_call.args:
        if arg.keyword is not None or arg.star == "**":
            named = keywords[arg.keyword.value if arg.keyword is not None else None]
            expr: ast.expr | None = named.popleft().value if named else None
        else:
            expr = next(positional, None)
            if arg.star == "*":
                expr = expr.value if isinstance(expr, ast.Starred) else None
        if expr is None:
            return
        _pair_expression(arg.value, expr, pairs)
