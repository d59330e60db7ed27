"""Annotations -> :class:`TypeRef`: every name rewritten to the dotted path generated code can import.

Only the annotation subtrees are visited (they are tiny), by a small recursive renderer rather than a
libcst transformer: it has to know which parts are types (string annotations are parsed) and which are
values (``Literal["a"]``, ``Annotated[int, Field(gt=0)]`` metadata, where strings stay strings).
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field

import libcst as cst

from pikku.cli.model import ANY, TypeRef
from pikku.cli.scan.bindings import Bindings, dotted_parts
from pikku.cli.scan.literals import evaluated

_BUILTINS = frozenset(dir(builtins))
_LITERAL = frozenset({"typing.Literal", "typing_extensions.Literal"})
_ANNOTATED = frozenset({"typing.Annotated", "typing_extensions.Annotated"})
# Renders literal nodes verbatim; any Module works since these nodes hold no indentation or newlines.
_CODEGEN = cst.Module(body=())


class UnresolvedAnnotation(Exception):
    """A name (or form) in an annotation that cannot be turned into an importable path."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def type_ref(annotation: cst.Annotation | None, bindings: Bindings) -> TypeRef:
    """The annotation with qualified names; ``ANY`` when absent. Raises UnresolvedAnnotation."""
    if annotation is None:
        return ANY
    renderer = _Renderer(bindings)
    expr = renderer.type(annotation.annotation)
    return TypeRef(expr, tuple(sorted(renderer.modules)))


@dataclass(slots=True)
class _Renderer:
    bindings: Bindings
    modules: set[str] = field(default_factory=set)

    def type(self, node: cst.BaseExpression) -> str:
        """Render ``node`` where a type is expected."""
        if isinstance(node, cst.Name | cst.Attribute):
            return self.name(node)
        if isinstance(node, cst.Subscript):
            return self.subscript(node)
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.BitOr):
            return f"{self.type(node.left)} | {self.type(node.right)}"
        if isinstance(node, cst.SimpleString | cst.ConcatenatedString):
            return self.forward_ref(node)
        return self.type_group(node)

    def type_group(self, node: cst.BaseExpression) -> str:
        """The ``[A, B]`` of ``Callable[[A, B], R]``, a tuple of types, or ``...``."""
        if isinstance(node, cst.Ellipsis):
            return "..."
        if isinstance(node, cst.List | cst.Tuple):
            inner = ", ".join(self.type(e.value) for e in node.elements)
            return f"[{inner}]" if isinstance(node, cst.List) else f"({inner})"
        raise UnresolvedAnnotation(f"unsupported annotation form {_CODEGEN.code_for_node(node)!r}")

    def value(self, node: cst.BaseExpression) -> str:
        """Render ``node`` where a value is expected: Literal members and Annotated metadata."""
        if isinstance(node, cst.Name) and node.value in {"None", "True", "False"}:
            return node.value
        if isinstance(node, cst.Name | cst.Attribute):
            return self.name(node)
        if isinstance(node, cst.Call):
            return self.call(node)
        if isinstance(node, cst.BaseNumber | cst.SimpleString | cst.ConcatenatedString):
            return _CODEGEN.code_for_node(node)
        if isinstance(node, cst.UnaryOperation) and isinstance(node.expression, cst.BaseNumber):
            return _CODEGEN.code_for_node(node)
        raise UnresolvedAnnotation(f"unsupported value in annotation {_CODEGEN.code_for_node(node)!r}")

    def name(self, node: cst.Name | cst.Attribute) -> str:
        """A qualified name; builtins stay bare. Raises for a name bound nowhere at module level."""
        binding = self.bindings.qualify(node)
        if binding is not None:
            self.modules.add(binding.module)
            return binding.target
        parts = dotted_parts(node) or []
        if len(parts) == 1 and parts[0] in _BUILTINS:
            return parts[0]
        raise UnresolvedAnnotation(".".join(parts))

    def subscript(self, node: cst.Subscript) -> str:
        """``base[...]``; members of Literal and metadata of Annotated are values, not types."""
        base = self.type(node.value)
        items: list[cst.BaseExpression] = []
        for element in node.slice:
            if not isinstance(element.slice, cst.Index):
                raise UnresolvedAnnotation("slice syntax in annotation")
            items.append(element.slice.value)
        if base in _LITERAL:
            rendered = [self.value(v) for v in items]
        elif base in _ANNOTATED and items:
            rendered = [self.type(items[0]), *(self.value(v) for v in items[1:])]
        else:
            rendered = [self.type(v) for v in items]
        return f"{base}[{', '.join(rendered)}]"

    def call(self, node: cst.Call) -> str:
        """A call in Annotated metadata, e.g. ``Field(gt=0)``, with its callee qualified."""
        func = self.value(node.func)
        args = []
        for arg in node.args:
            prefix = f"{arg.keyword.value}=" if arg.keyword is not None else arg.star
            args.append(prefix + self.value(arg.value))
        return f"{func}({', '.join(args)})"

    def forward_ref(self, node: cst.SimpleString | cst.ConcatenatedString) -> str:
        """A string annotation: parse its text and render that."""
        text = evaluated(node)
        if not isinstance(text, str):
            raise UnresolvedAnnotation(f"string annotation {_CODEGEN.code_for_node(node)} is not a plain string")
        try:
            parsed = cst.parse_expression(text.strip())
        except cst.ParserSyntaxError as exc:
            raise UnresolvedAnnotation(f"string annotation {text!r} does not parse") from exc
        return self.type(parsed)
