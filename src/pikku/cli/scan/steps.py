"""Workflow steps: the ``workflow.do`` / ``workflow.sleep`` calls in one function body.

The body is walked with a plain field iterator instead of a libcst visitor: a CSTVisitor rebuilds every
node it passes (about the cost of the parse again), while this walk only reads attributes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from pikku._duration import parse_duration
from pikku._errors import InvalidDurationError
from pikku.cli.model import Diagnostic, StepForm, StepMeta
from pikku.cli.scan.astplaces import code_fields
from pikku.cli.scan.diagnostics import BAD_DURATION, STEP_NAME_NOT_LITERAL, diagnostic
from pikku.cli.scan.positions import Locator

# Code inside these runs later or elsewhere (an inline step's lambda, a helper def), not as the
# workflow's own sequence of steps, so it is not searched.
_OTHER_SCOPES = frozenset({cst.FunctionDef, cst.Lambda, cst.ClassDef})
# Fields that only hold whitespace and punctuation: skipping them makes the walk several times cheaper.
_WALKED: dict[type, bool] = {}
_WANTED = frozenset({cst.Call, cst.Assign, cst.AnnAssign})
_CODEGEN = cst.Module(body=())


def find_steps(func: cst.FunctionDef, locator: Locator) -> tuple[list[StepMeta], list[Diagnostic]]:
    """Steps in ``func``'s own body (walk order) and the diagnostics about their arguments."""
    services = first_parameter(func)
    if services is None:
        return [], []
    scan = _StepScan(locator, func.name.value, services)
    for node in _interesting(func.body):
        if isinstance(node, cst.Call):
            scan.call(node)
        elif isinstance(node, cst.Assign | cst.AnnAssign):
            scan.track_alias(node)
    return scan.steps, scan.diagnostics


def first_parameter(func: cst.FunctionDef) -> str | None:
    """Name of the first positional parameter (``services`` by convention), if any."""
    params = [*func.params.posonly_params, *func.params.params]
    return params[0].name.value if params else None


def literal_str(node: cst.BaseExpression | None) -> str | None:
    """The value of a plain (non-f, non-bytes) string literal, else None."""
    if isinstance(node, cst.SimpleString):
        return _simple_value(node)
    if isinstance(node, cst.ConcatenatedString):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    return None


def _simple_value(node: cst.SimpleString) -> str | None:
    # evaluated_value compiles the literal with ast.literal_eval; most step names and rpc names have
    # no escapes, so their text is the value and the compile is skipped.
    prefix = node.prefix.lower()
    if "b" in prefix:
        return None
    raw = node.raw_value
    if "r" in prefix or "\\" not in raw:
        return raw
    value = node.evaluated_value
    return value if isinstance(value, str) else None


def template_of(node: cst.BaseExpression) -> str | None:
    """An f-string's text with its ``{...}`` fields as written (``f"charge-{i}"`` -> ``charge-{i}``)."""
    if isinstance(node, cst.FormattedString):
        return "".join(_CODEGEN.code_for_node(part) for part in node.parts)
    if isinstance(node, cst.ConcatenatedString):
        left, right = _template_part(node.left), _template_part(node.right)
        if left is not None and right is not None:
            return left + right
    return None


def _template_part(node: cst.BaseExpression) -> str | None:
    if isinstance(node, cst.SimpleString):
        # Braces in a plain part are text, so they are escaped the way an f-string would write them.
        return node.raw_value.replace("{", "{{").replace("}", "}}")
    return template_of(node)


@dataclass(slots=True)
class _StepScan:
    locator: Locator
    function: str
    services: str
    aliases: set[str] = field(default_factory=set)
    steps: list[StepMeta] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def is_workflow(self, node: cst.BaseExpression) -> bool:
        """``services.workflow`` or a local name assigned from it."""
        if isinstance(node, cst.Name):
            return node.value in self.aliases
        return (
            isinstance(node, cst.Attribute)
            and node.attr.value == "workflow"
            and isinstance(node.value, cst.Name)
            and node.value.value == self.services
        )

    def track_alias(self, node: cst.Assign | cst.AnnAssign) -> None:
        """Remember ``workflow = services.workflow``; forget a name reassigned to anything else."""
        targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
        is_alias = node.value is not None and self.is_workflow(node.value)
        for target in targets:
            if isinstance(target, cst.Name):
                (self.aliases.add if is_alias else self.aliases.discard)(target.value)

    def call(self, node: cst.Call) -> None:
        """Record ``node`` if it is ``<workflow>.do(...)`` or ``<workflow>.sleep(...)``."""
        func = node.func
        if not isinstance(func, cst.Attribute) or not self.is_workflow(func.value):
            return
        positional, keywords = _split_args(node)
        if func.attr.value == "do":
            self.do_step(node, positional, keywords)
        elif func.attr.value == "sleep":
            self.sleep_step(node, positional, keywords)

    def do_step(
        self, node: cst.Call, positional: list[cst.BaseExpression], keywords: dict[str, cst.BaseExpression]
    ) -> None:
        """An rpc step (2nd argument a string literal) or an inline one (anything else)."""
        name_node = positional[0] if positional else keywords.get("name")
        literal = literal_str(name_node)
        template = template_of(name_node) if name_node is not None and literal is None else None
        if literal is None and template is None:
            self.error_not_literal(node, name_node)
            return
        target = positional[1] if len(positional) > 1 else keywords.get("target")
        rpc_name = literal_str(target)
        form: StepForm = "rpc" if rpc_name is not None else "inline"
        name = literal if literal is not None else template
        self.add(node, name or "", template is not None, keywords, form, rpc_name=rpc_name)

    def sleep_step(
        self, node: cst.Call, positional: list[cst.BaseExpression], keywords: dict[str, cst.BaseExpression]
    ) -> None:
        """A durable sleep, named ``name=`` or ``sleep:<duration>`` as the runtime names it."""
        duration_node = positional[0] if positional else keywords.get("duration")
        duration = self.duration(duration_node)
        name = literal_str(keywords.get("name")) or f"sleep:{duration if duration is not None else '?'}"
        self.add(node, name, False, keywords, "sleep", duration=duration)

    def duration(self, node: cst.BaseExpression | None) -> str | None:
        """The literal duration (checked like the runtime checks it), or None when not a literal."""
        if isinstance(node, cst.Integer | cst.Float):
            return str(node.evaluated_value)
        text = literal_str(node)
        if text is None or node is None:
            return None
        try:
            parse_duration(text)
        except InvalidDurationError:
            message = f"workflow.sleep duration {text!r} in {self.function} is not a valid duration"
            self.diagnostics.append(diagnostic(BAD_DURATION, self.locator.at(node), message))
        return text

    def add(
        self,
        node: cst.Call,
        name: str,
        is_template: bool,
        keywords: dict[str, cst.BaseExpression],
        form: StepForm,
        *,
        rpc_name: str | None = None,
        duration: str | None = None,
    ) -> None:
        """Append the step ``node`` stands for; its location is the call's start."""
        step = StepMeta(
            name=name,
            is_template=is_template,
            form=form,
            rpc_name=rpc_name,
            description=literal_str(keywords.get("description")),
            duration=duration,
            location=self.locator.at(node),
        )
        self.steps.append(step)

    def error_not_literal(self, node: cst.Call, name_node: cst.BaseExpression | None) -> None:
        """PKU002 at the offending name (or the call when the name is missing altogether)."""
        if name_node is None:
            message = f"workflow.do(...) in {self.function} has no step name"
        else:
            shown = _CODEGEN.code_for_node(name_node)
            message = f"step name {shown} of workflow.do(...) in {self.function} is not a string literal or f-string"
        where = self.locator.at(name_node if name_node is not None else node)
        self.diagnostics.append(diagnostic(STEP_NAME_NOT_LITERAL, where, message))


def _split_args(node: cst.Call) -> tuple[list[cst.BaseExpression], dict[str, cst.BaseExpression]]:
    positional: list[cst.BaseExpression] = []
    keywords: dict[str, cst.BaseExpression] = {}
    after_star = False
    for arg in node.args:
        if arg.keyword is not None:
            keywords[arg.keyword.value] = arg.value
        elif arg.star:
            # After ``*args`` the position of later arguments is unknown.
            after_star = True
        elif not after_star:
            positional.append(arg.value)
    return positional, keywords


def _interesting(root: cst.CSTNode) -> list[cst.CSTNode]:
    """Calls and assignments under ``root`` in pre-order, children in source order.

    Nested functions, lambdas and classes are not entered. Type checks compare exact classes because
    ``isinstance`` against libcst's abstract base classes dominated the cost of this walk.
    """
    found: list[cst.CSTNode] = []
    stack: list[cst.CSTNode] = [root]
    while stack:
        node = stack.pop()
        kind = type(node)
        if kind in _WANTED:
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
        walked = issubclass(kind, cst.CSTNode) and kind not in _OTHER_SCOPES and bool(code_fields(kind))
        _WALKED[kind] = walked
    return walked
