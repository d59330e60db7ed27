"""One file -> :class:`FileFacts`: parse once, read the module-level statements, locate what was found.

Nothing here looks at other files; cross-file questions (is this rpc defined? where does ``func=``
lead?) are answered by :mod:`pikku.cli.scan.link`, so a cache can sit between the two.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst

from pikku.cli.model import ANY, Diagnostic, Location, SendMeta, TypeRef
from pikku.cli.scan import diagnostics as codes
from pikku.cli.scan.annotations import UnresolvedAnnotation, type_ref
from pikku.cli.scan.bindings import Bindings, collect_bindings
from pikku.cli.scan.depth import nested_too_deeply, too_deep
from pikku.cli.scan.diagnostics import diagnostic
from pikku.cli.scan.facts import FileFacts, FunctionFacts, ScheduleFacts, WireFacts
from pikku.cli.scan.files import is_package_file, module_name, read_source, relative_file
from pikku.cli.scan.literals import InvalidLiteral
from pikku.cli.scan.positions import Locator
from pikku.cli.scan.schedules import read_schedule
from pikku.cli.scan.steps import STEP_NODES, find_steps, first_parameter, literal_str, split_args
from pikku.cli.scan.surrogates import surrogates_reported
from pikku.cli.scan.timeouts import read_timeout
from pikku.cli.scan.walk import find

_EXECUTION_MODES = ("remote", "inline")
_ENCODING_FIX = "save the file as UTF-8, or declare its encoding on line 1 or 2: # -*- coding: latin-1 -*-"
# A coding declaration, as Python's tokenizer recognizes it (PEP 263).
_CODING = re.compile(rb"^[ \t\f]*#.*?coding[:=]")
_CALLS = frozenset({cst.Call})
#: The wiring calls prebuild reads at module level, and what is lost when one is somewhere else.
_WIRE_CALLS = {
    "wire_workflow": "that workflow would get no metadata, queue workers or typed client",
    "wire_schedule": "that schedule would not be checked, and its module may never be imported by a worker",
}
_STATEMENT_KINDS: dict[type, str] = {
    cst.If: "an if block",
    cst.Try: "a try block",
    cst.TryStar: "a try block",
    cst.For: "a for loop",
    cst.While: "a while loop",
    cst.With: "a with block",
    cst.Match: "a match block",
}
# Renders small expressions for messages; any Module works since they hold no indentation.
_CODEGEN = cst.Module(body=())


def scan_file(root: Path, path: Path) -> FileFacts:
    """Facts for the file at ``path`` (inside ``root``); never imports it."""
    file = relative_file(root, path)
    source = read_source(path, file)
    if isinstance(source, Diagnostic):
        return unread_file(file, source)
    return scan_source(file, source)


def unread_file(file: str, why: Diagnostic) -> FileFacts:
    """The facts of a file that was not read: nothing but the diagnostic saying why."""
    return FileFacts(file, module_name(file), {}, diagnostics=(why,))


def scan_source(file: str, source: bytes) -> FileFacts:
    """Facts for ``source``, recorded as the project file ``file`` (POSIX, relative to the root)."""
    nested = too_deep(file, source)
    if nested is not None:
        return unread_file(file, nested)
    try:
        return _scanned(file, source)
    except Exception as exc:  # libcst's context managers can turn a RecursionError into another error
        if not _ran_out_of_recursion(exc):
            raise
        return unread_file(file, nested_too_deeply(file))


def _ran_out_of_recursion(exc: BaseException | None) -> bool:
    while exc is not None:
        if isinstance(exc, RecursionError):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _scanned(file: str, source: bytes) -> FileFacts:
    module = module_name(file)
    try:
        tree = cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        where = Location(file, exc.raw_line, exc.raw_column + 1)
        return unread_file(file, _syntax_error(where, exc.message))
    except UnicodeDecodeError as exc:
        return unread_file(file, _undecodable(file, exc))
    except (SyntaxError, ValueError) as exc:  # bad bytes on line 1 or 2, or a wrong coding declaration
        return unread_file(file, _encoding_problem(file, source, exc))
    bindings = collect_bindings(tree, module, is_package_file(file))
    # Steps can only exist where the text says "workflow"; skipping the other bodies saves their walk.
    scan = _FileScan(
        file, bindings, Locator(file), search_steps=b"workflow" in source, search_sends=b"send_event" in source
    )
    try:
        facts = surrogates_reported(scan.run(tree))
    except InvalidLiteral as exc:  # libcst parsed it, but Python would not compile the file
        shown = _CODEGEN.code_for_node(exc.node)
        facts = unread_file(
            file, _syntax_error(scan.locator.at(exc.node), f"the literal {shown} is invalid: {exc.detail}")
        )
    return facts.relocated(scan.locator.resolver(tree, source))


def _syntax_error(where: Location, detail: str) -> Diagnostic:
    return diagnostic(codes.SYNTAX_ERROR, where, f"{where.file} does not parse: {detail}")


def _undecodable(file: str, exc: UnicodeDecodeError) -> Diagnostic:
    """PKU001 at the first byte the file's encoding cannot decode (line, and column in characters)."""
    data, start = exc.object, exc.start
    line = data.count(b"\n", 0, start) + 1
    line_start = data.rfind(b"\n", 0, start) + 1
    before = data[line_start:start].removeprefix(b"\xef\xbb\xbf") if line_start == 0 else data[line_start:start]
    column = len(before.decode(exc.encoding, errors="replace")) + 1
    message = (
        f"{file} is not valid {exc.encoding}: byte 0x{data[start]:02X} on line {line} cannot be decoded ({exc.reason})"
    )
    return diagnostic(codes.SYNTAX_ERROR, Location(file, line, column), message, _ENCODING_FIX)


def _encoding_problem(file: str, source: bytes, exc: Exception) -> Diagnostic:
    """PKU001 for a file whose encoding is wrong before parsing starts, at the byte or declaration at fault."""
    line = _coding_line(source)
    if line == 0:  # no declaration: the text must be UTF-8, so point at the first byte that is not
        try:
            source.decode("utf-8")
        except UnicodeDecodeError as bad:
            return _undecodable(file, bad)
    where = Location(file, getattr(exc, "lineno", None) or max(line, 1), 1)
    return diagnostic(codes.SYNTAX_ERROR, where, f"{file} does not parse: {exc}", _ENCODING_FIX)


def _coding_line(source: bytes) -> int:
    """The line (1 or 2) of the coding declaration, or 0 when there is none."""
    lines = source.splitlines()[:2]
    if lines and _CODING.match(lines[0]):
        return 1
    # Line 2 declares it only below a comment or blank line (PEP 263), as Python reads it.
    if len(lines) == 2 and lines[0].lstrip()[:1] in (b"", b"#") and _CODING.match(lines[1]):
        return 2
    return 0


@dataclass(slots=True)
class _FileScan:
    file: str
    bindings: Bindings
    locator: Locator
    search_steps: bool
    search_sends: bool = False
    functions: list[FunctionFacts] = field(default_factory=list)
    wires: list[WireFacts] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    schedules: list[ScheduleFacts] = field(default_factory=list)

    def run(self, tree: cst.Module) -> FileFacts:
        """Facts from the module-level statements (locations still placeholders).

        Each statement is walked at most once: the calls found in a function's body serve its steps, the
        misplaced-wire check and the ``send_event`` search alike.
        """
        wired: set[int] = set()
        check_wires = any(self.bindings.may_name(api) for api in _WIRE_CALLS)
        calls: list[tuple[cst.BaseStatement, list[cst.Call]]] = []  # by statement, when some check needs them
        for stmt in tree.body:
            found: list[cst.Call] | None = None
            if isinstance(stmt, cst.FunctionDef):
                # A def without a first parameter has no services, so no steps: its body is walked only if a
                # check below needs its calls.
                may_step = self.search_steps and first_parameter(stmt) is not None
                body = find(stmt.body, STEP_NODES) if may_step else None
                self.function(stmt, body)
                if body is not None and (check_wires or self.search_sends):
                    found = [*_header_calls(stmt), *(n for n in body if type(n) is cst.Call)]
            elif isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    call = _statement_call(small)
                    if call is not None and self.is_pikku_api(call.func, "wire_workflow"):
                        self.wire(call)
                        wired.add(id(call))
                    elif call is not None and self.is_pikku_api(call.func, "wire_schedule"):
                        self.schedule(call)
                        wired.add(id(call))
            if check_wires or self.search_sends:
                calls.append((stmt, found if found is not None else _calls(stmt)))
        if check_wires:
            self.misplaced_wires(calls, wired)
        sends = self.static_sends(call for _, found in calls for call in found) if self.search_sends else ()
        return FileFacts(
            self.file,
            self.bindings.module,
            self.bindings.imports(),
            tuple(self.functions),
            tuple(self.wires),
            tuple(self.diagnostics),
            sends,
            tuple(self.schedules),
        )

    def static_sends(self, calls: Iterable[cst.Call]) -> tuple[SendMeta, ...]:
        """Every ``workflows.<attribute>.send_event(run_id, "<event>", ...)`` of the generated client (the
        ``workflows`` of a ``<package>.workflow.map`` import) with a literal event name, for the link phase to
        check against the events that workflow waits for. ``calls``: the module's calls in source order."""
        found: list[SendMeta] = []
        for call in calls:
            func = call.func
            if not (isinstance(func, cst.Attribute) and func.attr.value == "send_event"):
                continue
            client = func.value
            if not isinstance(client, cst.Attribute):
                continue
            binding = self.bindings.qualify(client.value)
            if binding is None or not binding.imported or not binding.target.endswith(".workflow.map.workflows"):
                continue
            positional, keywords = split_args(call)
            event_node = positional[1] if len(positional) > 1 else keywords.get("event")
            event = literal_str(event_node)
            if event is not None and event_node is not None:
                found.append(SendMeta(client.attr.value, event, self.locator.at(event_node)))
        return tuple(found)

    def is_pikku_api(self, expr: cst.BaseExpression, name: str) -> bool:
        """True when ``expr`` names ``pikku.<name>`` (through any import form or alias)."""
        binding = self.bindings.qualify(expr)
        if binding is None or not binding.imported:
            return False
        return binding.target == f"pikku.{name}" or (
            binding.target.startswith("pikku.") and binding.target.endswith(f".{name}")
        )

    def misplaced_wires(self, calls: list[tuple[cst.BaseStatement, list[cst.Call]]], wired: set[int]) -> None:
        """PKU014 for each wire_workflow(...) or wire_schedule(...) call that is not a module-level
        statement of its own.

        Only those are read (a call in a function, a branch or a list may run any number of times, or
        never), so any other one would silently leave its workflow without metadata, workers or client, or
        its schedule unchecked and its module maybe never imported by a worker. ``calls``: each module-level
        statement with the calls in it, in source order.
        """
        for stmt, found in calls:
            for call in found:
                if id(call) in wired:
                    continue
                api = next((a for a in _WIRE_CALLS if self.is_pikku_api(call.func, a)), None)
                if api is not None:
                    message = f"{api}(...) inside {_context(stmt)} is not read by prebuild: {_WIRE_CALLS[api]}"
                    hint = f"call {api}(...) at module level, as a statement of its own (it may be assigned)"
                    self.error(codes.WIRE_NOT_AT_MODULE_LEVEL, call, message, hint)

    # -- functions -----------------------------------------------------------------------------------
    def function(self, node: cst.FunctionDef, body: list[cst.CSTNode] | None = None) -> None:
        """Record a module-level def: pikku data, signature types, and steps when it may be a workflow
        (``body``: the nodes of its body that steps are read from, see :data:`STEP_NODES`)."""
        is_pikku, rpc_name = self.pikku_decorator(node)
        (input_type, output_type), type_diagnostics = self.signature(node)
        steps, step_diagnostics = find_steps(node, self.locator, self.bindings, body) if self.search_steps else ([], [])
        facts = FunctionFacts(
            name=node.name.value,
            is_async=node.asynchronous is not None,
            is_pikku=is_pikku,
            rpc_name=rpc_name,
            input_type=input_type,
            output_type=output_type,
            location=self.locator.at(node),
            steps=tuple(steps),
            type_diagnostics=tuple(type_diagnostics),
            step_diagnostics=tuple(step_diagnostics),
        )
        self.functions.append(facts)

    def pikku_decorator(self, node: cst.FunctionDef) -> tuple[bool, str | None]:
        """(is a @pikku_func, its rpc name); the name is None when ``name=`` is not a literal."""
        for decorator in node.decorators:
            expr = decorator.decorator
            call = expr if isinstance(expr, cst.Call) else None
            if self.is_pikku_api(call.func if call is not None else expr, "pikku_func"):
                return True, self.rpc_name(node, call)
        return False, None

    def rpc_name(self, node: cst.FunctionDef, call: cst.Call | None) -> str | None:
        """``name=`` when given, else the function's own name (``name=None``/``""`` too, as at runtime)."""
        name_arg = None
        if call is not None:
            name_arg = next((a.value for a in call.args if a.keyword and a.keyword.value == "name"), None)
        if name_arg is None or (isinstance(name_arg, cst.Name) and name_arg.value == "None"):
            return node.name.value
        literal = literal_str(name_arg)
        if literal is None:
            message = f"@pikku_func name for {node.name.value} is not a string literal"
            self.diagnostics.append(diagnostic(codes.RPC_NAME_NOT_LITERAL, self.locator.at(name_arg), message))
            return None
        return literal or node.name.value

    def signature(self, node: cst.FunctionDef) -> tuple[tuple[TypeRef, TypeRef], list[Diagnostic]]:
        """Input type (2nd parameter) and output type, with a PKU012 warning per unresolvable one."""
        params = [*node.params.posonly_params, *node.params.params]
        data = params[1].annotation if len(params) > 1 else None
        found: list[Diagnostic] = []
        input_type = self.annotation(node, data, "input", found)
        output_type = self.annotation(node, node.returns, "return", found)
        return (input_type, output_type), found

    def annotation(
        self, node: cst.FunctionDef, annotation: cst.Annotation | None, role: str, found: list[Diagnostic]
    ) -> TypeRef:
        """One annotation as a TypeRef; ANY plus a warning when a name in it cannot be resolved."""
        try:
            return type_ref(annotation, self.bindings)
        except UnresolvedAnnotation as exc:
            assert annotation is not None  # type_ref only raises for an annotation that exists
            message = f"cannot resolve {exc.what!r} in the {role} annotation of {node.name.value}"
            where = self.locator.at(annotation.annotation)
            found.append(diagnostic(codes.UNRESOLVED_ANNOTATION, where, message))
            return ANY

    # -- wire_workflow -------------------------------------------------------------------------------
    def wire(self, call: cst.Call) -> None:
        """Record a ``wire_workflow(...)`` call; problems that need no other file are reported here."""
        keywords = {a.keyword.value: a.value for a in call.args if a.keyword is not None}
        func = keywords.get("func")
        name = self.wire_name(call, keywords.get("name"))
        on_failure = keywords.get("on_failure")
        facts = WireFacts(
            name=name,
            description=literal_str(keywords.get("description")),
            execution_mode=self.execution_mode(keywords.get("execution_mode")),
            func_target=self.func_target(call, func),
            func_location=self.locator.at(func if func is not None else call),
            location=self.locator.at(call),
            timeout=self.timeout(name, keywords.get("timeout")),
            on_failure=literal_str(on_failure),
            on_failure_location=None if on_failure is None else self.locator.at(on_failure),
        )
        self.wires.append(facts)

    def wire_name(self, call: cst.Call, node: cst.BaseExpression | None) -> str | None:
        """The literal workflow name, or None after a PKU005."""
        name = literal_str(node)
        if name:
            return name
        if node is None:
            self.error(codes.WORKFLOW_NAME_NOT_LITERAL, call, "wire_workflow(...) has no name=")
        else:
            shown = _CODEGEN.code_for_node(node)
            message = f"wire_workflow name {shown} is not a non-empty string literal"
            self.error(codes.WORKFLOW_NAME_NOT_LITERAL, node, message)
        return None

    def execution_mode(self, node: cst.BaseExpression | None) -> str:
        """``remote`` (the default) or ``inline``; anything else is PKU009 and read as the default."""
        if node is None:
            return "remote"
        mode = literal_str(node)
        if mode in _EXECUTION_MODES:
            return mode
        shown = repr(mode) if mode is not None else _CODEGEN.code_for_node(node)
        self.error(codes.BAD_EXECUTION_MODE, node, f"wire_workflow execution_mode {shown} is not supported")
        return "remote"

    def timeout(self, workflow: str | None, node: cst.BaseExpression | None) -> float | None:
        """A literal ``timeout=`` in seconds; PKU024 at a literal the runtime would refuse."""
        timeout = read_timeout(node)
        if timeout.problem is not None and node is not None:
            of = f" of workflow {workflow!r}" if workflow is not None else ""
            shown = _CODEGEN.code_for_node(node)
            message = f"wire_workflow timeout {shown}{of} is not a valid run time limit: {timeout.problem}"
            self.error(codes.BAD_TIMEOUT, node, message)
        return timeout.seconds

    def func_target(self, call: cst.Call, node: cst.BaseExpression | None) -> str | None:
        """The dotted path ``func=`` names; whether a function is there is the link phase's question."""
        if node is None:
            self.error(codes.WORKFLOW_FUNC_UNRESOLVED, call, "wire_workflow(...) has no func=")
            return None
        binding = self.bindings.qualify(node)
        if binding is None:
            shown = _CODEGEN.code_for_node(node)
            message = f"wire_workflow func {shown} is not a module-level function of this or an imported module"
            self.error(codes.WORKFLOW_FUNC_UNRESOLVED, node, message)
            return None
        return binding.target

    # -- wire_schedule -------------------------------------------------------------------------------
    def schedule(self, call: cst.Call) -> None:
        """Record a ``wire_schedule(...)`` call (see pikku.cli.scan.schedules); its problems are reported."""
        facts = read_schedule(call, self.locator.at, self.error)
        if facts is not None:
            self.schedules.append(facts)

    def error(self, code: str, node: cst.CSTNode, message: str, hint: str | None = None) -> None:
        """Add a diagnostic located at ``node`` (``hint``: when this cause needs its own)."""
        self.diagnostics.append(diagnostic(code, self.locator.at(node), message, hint))


def _context(stmt: cst.CSTNode) -> str:
    """How a message names the module-level statement a misplaced call is in."""
    if isinstance(stmt, cst.FunctionDef | cst.ClassDef):
        kind = "function" if isinstance(stmt, cst.FunctionDef) else "class"
        return f"the body of {kind} {stmt.name.value}"
    return _STATEMENT_KINDS.get(type(stmt), "an expression (a list, a call's arguments, a lambda, ...)")


def _calls(node: cst.CSTNode) -> list[cst.Call]:
    return find(node, _CALLS)  # type: ignore[return-value]  # find returns only nodes of the kinds asked


def _header_calls(func: cst.FunctionDef) -> list[cst.Call]:
    """The calls of a def outside its body (decorators, type parameters, defaults, annotations), in the
    order :func:`find` reaches them when it walks the whole def: the body comes last in source order."""
    parts = [*func.decorators, func.type_parameters, func.params, func.returns]
    return [call for part in parts if part is not None for call in _calls(part)]


def _statement_call(small: cst.BaseSmallStatement) -> cst.Call | None:
    # ``wire_workflow(...)`` as a bare expression or assigned (``flow = wire_workflow(...)``).
    value = small.value if isinstance(small, cst.Expr | cst.Assign | cst.AnnAssign) else None
    return value if isinstance(value, cst.Call) else None
