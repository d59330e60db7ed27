"""A cheap pre-order walk of libcst trees, for the few node kinds the scanner looks for.

A CSTVisitor rebuilds every node it passes (about the cost of the parse again); this walk only reads
attributes, skips fields that hold whitespace or punctuation, and never puts leaves (names, literals)
on its stack.
"""

from __future__ import annotations

import libcst as cst

from pikku.cli.scan.astplaces import code_fields

_WALKED: dict[type, bool] = {}


def find(root: cst.CSTNode, kinds: frozenset[type]) -> list[cst.CSTNode]:
    """Nodes under ``root`` (itself included) whose exact class is in ``kinds``, in source order.

    Every scope is entered: nested functions, lambdas and classes too. Exact classes are compared
    because ``isinstance`` against libcst's abstract base classes dominated the cost of this walk.
    """
    found: list[cst.CSTNode] = []
    stack: list[cst.CSTNode] = [root]
    while stack:
        node = stack.pop()
        if type(node) in kinds:
            found.append(node)
        stack.extend(reversed(_children(node)))
    return found


def _children(node: cst.CSTNode) -> list[cst.CSTNode]:
    children: list[cst.CSTNode] = []
    for name in code_fields(type(node)):
        value = getattr(node, name)
        if type(value) is tuple or type(value) is list:
            children.extend(v for v in value if _is_walked(type(v)))
        elif _is_walked(type(value)):
            children.append(value)
    return children


def _is_walked(kind: type) -> bool:
    # Leaves (names, literals: nothing left to walk) are not even put on the stack.
    walked = _WALKED.get(kind)
    if walked is None:
        walked = issubclass(kind, cst.CSTNode) and bool(code_fields(kind))
        _WALKED[kind] = walked
    return walked
