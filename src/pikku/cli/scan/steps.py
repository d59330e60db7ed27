"""Workflow steps: the ``workflow.do`` / ``sleep`` / ``wait_for_event`` / ``suspend`` / ``call_workflow`` /
``start_workflow`` calls in one function body.

The body is searched whole, nested ``async def`` closures, lambdas and classes included: a step a
closure takes runs in the workflow as much as one in the body itself (:mod:`pikku.cli.scan.walk`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from pikku._duration import parse_duration
from pikku._errors import InvalidDurationError
from pikku.cli.model import ANY, Diagnostic, StepForm, StepMeta, TypeRef
from pikku.cli.scan import diagnostics as codes
from pikku.cli.scan.annotations import UnresolvedAnnotation, type_ref
from pikku.cli.scan.bindings import Bindings
from pikku.cli.scan.diagnostics import diagnostic
from pikku.cli.scan.literals import evaluated
from pikku.cli.scan.positions import Locator
from pikku.cli.scan.walk import find

#: Calls (steps), assignments (aliases of services.workflow) and expression statements (unawaited steps).
STEP_NODES = frozenset({cst.Call, cst.Assign, cst.AnnAssign, cst.Expr})
_STEP_METHODS = frozenset({"do", "sleep", "wait_for_event", "suspend", "call_workflow", "start_workflow"})
_CHILD_METHODS = frozenset({"call_workflow", "start_workflow"})
# The engine numbers a name reached again in one pass ``name#1``, ``name#2``: the character is reserved.
RESERVED_IN_STEP_NAMES = "#"
_CODEGEN = cst.Module(body=())


def find_steps(
    func: cst.FunctionDef,
    locator: Locator,
    bindings: Bindings | None = None,
    nodes: list[cst.CSTNode] | None = None,
) -> tuple[list[StepMeta], list[Diagnostic]]:
    """Steps in ``func``'s own body (walk order) and the diagnostics about their arguments. ``bindings``
    (the module's names) resolve the payload models of waits; without them a model is ``Any``. ``nodes``:
    ``find(func.body, STEP_NODES)`` when the caller has walked the body already."""
    services = first_parameter(func)
    if services is None:
        return [], []
    scan = _StepScan(locator, func.name.value, services, bindings)
    for node in find(func.body, STEP_NODES) if nodes is None else nodes:
        if isinstance(node, cst.Call):
            scan.call(node)
        elif isinstance(node, cst.Expr):
            scan.check_awaited(node)
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
        value = evaluated(node)
        return value if isinstance(value, str) else None
    return None


def _simple_value(node: cst.SimpleString) -> str | None:
    # evaluated() compiles the literal with ast.literal_eval; most step names and rpc names have
    # no escapes, so their text is the value and the compile is skipped.
    prefix = node.prefix.lower()
    if "b" in prefix:
        return None
    raw = node.raw_value
    if "r" in prefix or "\\" not in raw:
        return raw
    value = evaluated(node)
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


def static_text(node: cst.BaseExpression) -> str:
    """The text a name literal or f-string writes itself, its ``{...}`` fields left out."""
    if isinstance(node, cst.SimpleString | cst.ConcatenatedString):
        value = literal_str(node)
        if value is not None:
            return value
    if isinstance(node, cst.ConcatenatedString):
        return static_text(node.left) + static_text(node.right)
    if isinstance(node, cst.FormattedString):
        return "".join(p.value for p in node.parts if isinstance(p, cst.FormattedStringText))
    return ""


def _is_none(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and node.value == "None"


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
    bindings: Bindings | None = None
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

    def step_method(self, node: cst.Call) -> str | None:
        """``do``, ``sleep``, ``wait_for_event``, ``suspend``, ``call_workflow`` or ``start_workflow`` for
        ``<workflow>.<method>(...)``, else None."""
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value in _STEP_METHODS and self.is_workflow(func.value):
            return func.attr.value
        return None

    def call(self, node: cst.Call) -> None:
        """Record ``node`` if it is a step call of ``<workflow>``."""
        method = self.step_method(node)
        if method is None:
            return
        positional, keywords = split_args(node)
        if method == "do":
            self.do_step(node, positional, keywords)
        elif method in _CHILD_METHODS:
            self.child_step(node, positional, keywords, detached=method == "start_workflow")
        elif method == "sleep":
            self.sleep_step(node, positional, keywords)
        elif method == "wait_for_event":
            self.event_step(node, positional, keywords)
        else:
            self.suspend_step(node, keywords)

    def check_awaited(self, node: cst.Expr) -> None:
        """PKU015 for a step call standing alone as a statement: its coroutine is never awaited."""
        call = node.value
        method = self.step_method(call) if isinstance(call, cst.Call) else None
        if method is not None:
            message = f"workflow.{method}(...) in {self.function} is not awaited, so that step never runs"
            self.diagnostics.append(diagnostic(codes.STEP_NOT_AWAITED, self.locator.at(call), message))

    def do_step(
        self, node: cst.Call, positional: list[cst.BaseExpression], keywords: dict[str, cst.BaseExpression]
    ) -> None:
        """An rpc step (2nd argument a string literal) or an inline one (anything else)."""
        named = self.step_name(node, positional, keywords)
        if named is None:
            return
        target = positional[1] if len(positional) > 1 else keywords.get("target")
        rpc_name = literal_str(target)
        form: StepForm = "rpc" if rpc_name is not None else "inline"
        on_error = literal_str(keywords.get("on_error"))
        self.add(node, named[0], named[1], keywords, form, rpc_name=rpc_name, on_error=on_error)

    def child_step(
        self,
        node: cst.Call,
        positional: list[cst.BaseExpression],
        keywords: dict[str, cst.BaseExpression],
        *,
        detached: bool,
    ) -> None:
        """A child workflow step: its name, and the child workflow's name when that is a literal."""
        named = self.step_name(node, positional, keywords)
        if named is None:
            return
        workflow = literal_str(positional[1] if len(positional) > 1 else keywords.get("workflow"))
        self.add(node, named[0], named[1], keywords, "child", workflow=workflow, detached=detached)

    def step_name(
        self, node: cst.Call, positional: list[cst.BaseExpression], keywords: dict[str, cst.BaseExpression]
    ) -> tuple[str, bool] | None:
        """(the step name as written, is a template); None after a PKU002 (not a literal or f-string)."""
        name_node = positional[0] if positional else keywords.get("name")
        literal = literal_str(name_node)
        template = template_of(name_node) if name_node is not None and literal is None else None
        if literal is None and template is None:
            self.error_not_literal(node, name_node)
            return None
        assert name_node is not None  # a literal or template was read from it
        self.check_reserved(name_node, static_text(name_node))
        name = literal if literal is not None else template
        return name or "", template is not None

    def sleep_step(
        self, node: cst.Call, positional: list[cst.BaseExpression], keywords: dict[str, cst.BaseExpression]
    ) -> None:
        """A durable sleep, named ``name=`` or ``sleep:<duration>`` as the runtime names it."""
        duration_node = positional[0] if positional else keywords.get("duration")
        duration = self.duration(duration_node)
        named = self.sleep_name(keywords.get("name"))
        if named is None:
            return
        name, is_template = named
        # Without a name the runtime calls it sleep:<duration>; a non-literal duration gives "sleep:?" on
        # purpose (like a template: one entry for every duration).
        name = name or f"sleep:{duration if duration is not None else '?'}"
        self.add(node, name, is_template, keywords, "sleep", duration=duration)

    def event_step(
        self, node: cst.Call, positional: list[cst.BaseExpression], keywords: dict[str, cst.BaseExpression]
    ) -> None:
        """A wait for an event: its literal name (PKU030 otherwise), payload model and literal timeout; named
        ``name=`` or ``event:<event>`` as the runtime names it."""
        event_node = positional[0] if positional else keywords.get("event")
        event = literal_str(event_node)
        if not event:
            shown = "nothing" if event_node is None else _CODEGEN.code_for_node(event_node)
            message = (
                f"the event name of workflow.wait_for_event(...) in {self.function} is {shown}, not a string literal"
            )
            where = self.locator.at(event_node if event_node is not None else node)
            self.diagnostics.append(diagnostic(codes.EVENT_NAME_NOT_LITERAL, where, message))
            return
        model_node = positional[1] if len(positional) > 1 else keywords.get("model")
        timeout = self.duration(keywords.get("timeout"), "workflow.wait_for_event timeout")
        named = self.sleep_name(keywords.get("name"), "wait_for_event")
        if named is None:
            return
        name, is_template = named
        model = self.model(model_node, event)
        self.add(
            node, name or f"event:{event}", is_template, keywords, "event", duration=timeout, event=event, model=model
        )

    def suspend_step(self, node: cst.Call, keywords: dict[str, cst.BaseExpression]) -> None:
        """A suspend, named ``name=`` or ``suspend`` as the runtime names it."""
        named = self.sleep_name(keywords.get("name"), "suspend")
        if named is not None:
            self.add(node, named[0] or "suspend", named[1], keywords, "suspend")

    def model(self, node: cst.BaseExpression | None, event: str) -> TypeRef:
        """The payload model of a wait as a type generated code can name; Any (and PKU012) when unresolvable."""
        if node is None or self.bindings is None:
            return ANY
        try:
            return type_ref(cst.Annotation(annotation=node), self.bindings)
        except UnresolvedAnnotation as exc:
            message = f"cannot resolve {exc.what!r} in the payload model of event {event!r} in {self.function}"
            self.diagnostics.append(diagnostic(codes.UNRESOLVED_ANNOTATION, self.locator.at(node), message))
            return ANY

    def sleep_name(self, node: cst.BaseExpression | None, method: str = "sleep") -> tuple[str, bool] | None:
        """(name= as written, is a template); ("", False) when absent; None after a PKU002."""
        if node is None or _is_none(node):
            return "", False
        literal = literal_str(node)
        template = template_of(node) if literal is None else None
        if literal is None and template is None:
            shown = _CODEGEN.code_for_node(node)
            message = (
                f"step name {shown} of workflow.{method}(...) in {self.function} is not a string literal or f-string"
            )
            self.diagnostics.append(diagnostic(codes.STEP_NAME_NOT_LITERAL, self.locator.at(node), message))
            return None
        self.check_reserved(node, static_text(node))
        return (literal, False) if literal is not None else (template or "", True)

    def check_reserved(self, node: cst.BaseExpression, text: str) -> None:
        """PKU013 when the written text of a step name holds the character the engine numbers repeats with."""
        if RESERVED_IN_STEP_NAMES in text:
            message = (
                f"step name {_CODEGEN.code_for_node(node)} in {self.function} contains '#', which the engine "
                "uses to number a step reached again (name#1, name#2)"
            )
            self.diagnostics.append(diagnostic(codes.STEP_NAME_RESERVED_CHAR, self.locator.at(node), message))

    def duration(self, node: cst.BaseExpression | None, what: str = "workflow.sleep duration") -> str | None:
        """The literal duration (checked like the runtime checks it), or None when not a literal."""
        if isinstance(node, cst.Integer | cst.Float):
            return str(evaluated(node))
        text = literal_str(node)
        if text is None or node is None:
            return None
        try:
            parse_duration(text)
        except InvalidDurationError:
            message = f"{what} {text!r} in {self.function} is not a valid duration"
            self.diagnostics.append(diagnostic(codes.BAD_DURATION, self.locator.at(node), message))
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
        workflow: str | None = None,
        detached: bool = False,
        on_error: str | None = None,
        event: str | None = None,
        model: TypeRef | None = None,
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
            workflow=workflow,
            detached=detached,
            on_error=on_error,
            event=event,
            model=model,
        )
        self.steps.append(step)

    def error_not_literal(self, node: cst.Call, name_node: cst.BaseExpression | None) -> None:
        """PKU002 at the offending name (or the call when the name is missing altogether)."""
        method = self.step_method(node) or "do"
        if name_node is None:
            message = f"workflow.{method}(...) in {self.function} has no step name"
        else:
            shown = _CODEGEN.code_for_node(name_node)
            message = (
                f"step name {shown} of workflow.{method}(...) in {self.function} is not a string literal or f-string"
            )
        where = self.locator.at(name_node if name_node is not None else node)
        self.diagnostics.append(diagnostic(codes.STEP_NAME_NOT_LITERAL, where, message))


def split_args(node: cst.Call) -> tuple[list[cst.BaseExpression], dict[str, cst.BaseExpression]]:
    """A call's positional arguments (up to a ``*args``) and its keyword arguments by name."""
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
