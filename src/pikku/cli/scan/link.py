"""All files' facts -> :class:`ProjectModel`: cross-module resolution and the cross-file diagnostics.

Pure: no parsing and no I/O, so it runs the same on fresh facts and on facts from a cache.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence, Set
from dataclasses import dataclass, field

from pikku._naming import attribute_name
from pikku.cli.model import (
    ANY,
    Diagnostic,
    EventMeta,
    FunctionMeta,
    Location,
    ProjectModel,
    ScheduleMeta,
    StepMeta,
    TypeRef,
    WorkflowMeta,
)
from pikku.cli.scan import diagnostics as codes
from pikku.cli.scan.diagnostics import diagnostic, sort_diagnostics
from pikku.cli.scan.facts import FileFacts, FunctionFacts, WireFacts

# Re-export chains longer than this are import cycles (``a`` re-exports from ``b`` which re-exports ``a``).
_MAX_HOPS = 32
_DOTTED = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")


def link(facts: Sequence[FileFacts]) -> ProjectModel:
    """The project model from every file's facts; the order of ``facts`` does not matter."""
    ordered = sorted(facts, key=lambda f: f.file)
    index = _Index(ordered)
    found: list[Diagnostic] = [d for f in ordered for d in f.diagnostics]
    functions = _functions(ordered, index.module_names, found)
    rpc_names = {f.rpc_name for _, f in _pikku_functions(ordered) if f.rpc_name is not None}
    workflows = _workflows(ordered, index, rpc_names, found)
    found.extend(_unknown_sends(ordered, workflows))
    schedules = _schedules(ordered, {wf.name for wf in workflows}, found)
    return ProjectModel(functions, workflows, sort_diagnostics(found), schedules)


def function_meta(module: str, func: FunctionFacts, known_modules: frozenset[str] = frozenset()) -> FunctionMeta:
    """The model's view of a function; a plain (undecorated) function's rpc name is its own name."""
    return FunctionMeta(
        rpc_name=func.rpc_name if func.is_pikku and func.rpc_name else func.name,
        module=module,
        qualname=func.name,
        input_type=_with_submodules(func.input_type, known_modules),
        output_type=_with_submodules(func.output_type, known_modules),
        is_async=func.is_async,
        location=func.location,
    )


@functools.lru_cache(maxsize=4096)
def _with_submodules(ref: TypeRef, known_modules: frozenset[str]) -> TypeRef:
    """Add scanned submodules a TypeRef reaches through a recorded module.

    ``from app import models`` + ``models.User`` is recorded at scan time as needing ``app``, since one
    file cannot tell a submodule from an attribute; importing ``app`` alone may not load ``app.models``.
    Cached: a project's functions share a few types, and a frozenset keeps its hash once computed (a
    third of a warm prebuild's linking went here, the same few answers thousands of times).
    """
    modules = set(ref.modules)
    for token in _DOTTED.findall(ref.expr):
        parts = token.split(".")
        prefixes = (".".join(parts[:cut]) for cut in range(len(parts) - 1, 0, -1))
        module = next((p for p in prefixes if p in known_modules), None)
        if module is not None and any(module.startswith(m + ".") for m in ref.modules):
            modules.add(module)
    return ref if len(modules) == len(ref.modules) else TypeRef(ref.expr, tuple(sorted(modules)))


# -- functions --------------------------------------------------------------------------------------
def _pikku_functions(files: Iterable[FileFacts]) -> list[tuple[str, FunctionFacts]]:
    found = [(f.module, fn) for f in files for fn in f.functions if fn.is_pikku]
    return sorted(found, key=lambda item: _place(item[1].location))


def _functions(
    files: Sequence[FileFacts], known_modules: frozenset[str], found: list[Diagnostic]
) -> tuple[FunctionMeta, ...]:
    """Every ``@pikku_func`` once per rpc name (the first in file order); later ones are PKU008."""
    by_rpc: dict[str, FunctionMeta] = {}
    for module, func in _pikku_functions(files):
        found.extend(func.type_diagnostics)
        if func.rpc_name is None:  # PKU011 was reported when the file was scanned
            continue
        meta = function_meta(module, func, known_modules)
        first = by_rpc.setdefault(meta.rpc_name, meta)
        if first is not meta:
            message = (
                f"rpc name {meta.rpc_name!r} of {module}.{func.name} is already used by "
                f"{first.module}.{first.qualname} at {first.location}"
            )
            found.append(diagnostic(codes.DUPLICATE_RPC, meta.location, message))
    return tuple(sorted(by_rpc.values(), key=lambda m: m.rpc_name))


# -- workflows --------------------------------------------------------------------------------------
def _workflows(
    files: Sequence[FileFacts], index: _Index, rpc_names: set[str], found: list[Diagnostic]
) -> tuple[WorkflowMeta, ...]:
    """One WorkflowMeta per name (the first wired); duplicates are PKU007, unresolved funcs PKU006."""
    by_name: dict[str, WorkflowMeta] = {}
    for wire_module, wire in _wires(files):
        resolved = _resolve_func(index, wire, found)
        if resolved is None or wire.name is None:
            continue
        module, func = resolved
        steps = _checked_steps(func, rpc_names, found)
        workflow = WorkflowMeta(
            name=wire.name,
            description=wire.description,
            execution_mode="inline" if wire.execution_mode == "inline" else "remote",
            func=function_meta(module, func, index.module_names),
            wire_module=wire_module,
            steps=steps,
            location=wire.location,
            timeout=wire.timeout,
            on_failure=wire.on_failure,
            on_failure_location=wire.on_failure_location,
            events=_events(wire.name, steps, index.module_names, found),
        )
        first = by_name.setdefault(wire.name, workflow)
        if first is not workflow:
            message = f"workflow {wire.name!r} is already wired at {first.location}"
            found.append(diagnostic(codes.DUPLICATE_WORKFLOW, wire.location, message))
        elif wire.on_failure is not None and wire.on_failure not in rpc_names:
            message = (
                f"workflow {wire.name!r} compensates with rpc {wire.on_failure!r} (on_failure=), "
                "which no @pikku_func defines"
            )
            found.append(diagnostic(codes.UNKNOWN_RPC, wire.on_failure_location or wire.location, message))
    found.extend(_unknown_children(by_name))
    return tuple(sorted(by_name.values(), key=lambda w: w.name))


def _unknown_children(workflows: dict[str, WorkflowMeta]) -> list[Diagnostic]:
    """PKU025 for each child step whose (literal) child workflow is not wired in the project."""
    found: list[Diagnostic] = []
    for wf in workflows.values():
        for step in wf.steps:
            if step.form == "child" and step.workflow is not None and step.workflow not in workflows:
                known = ", ".join(sorted(workflows)) or "none"
                message = (
                    f"step {step.name!r} of workflow {wf.name!r} runs child workflow {step.workflow!r}, which is not "
                    f"wired (wired: {known})"
                )
                found.append(diagnostic(codes.UNKNOWN_CHILD_WORKFLOW, step.location, message))
    return found


def _wires(files: Iterable[FileFacts]) -> list[tuple[str, WireFacts]]:
    found = [(f.module, w) for f in files for w in f.wires]
    return sorted(found, key=lambda item: _place(item[1].location))


def _resolve_func(index: _Index, wire: WireFacts, found: list[Diagnostic]) -> tuple[str, FunctionFacts] | None:
    if wire.func_target is None:  # already reported when the file was scanned
        return None
    resolved = index.resolve(wire.func_target)
    if resolved is None:
        message = f"wire_workflow func {wire.func_target!r} does not lead to a function definition"
        found.append(diagnostic(codes.WORKFLOW_FUNC_UNRESOLVED, wire.func_location, message))
    return resolved


def _checked_steps(func: FunctionFacts, rpc_names: set[str], found: list[Diagnostic]) -> tuple[StepMeta, ...]:
    """The wired function's steps in source order, plus its type/step diagnostics, PKU003 and PKU004."""
    found.extend(func.type_diagnostics)
    found.extend(func.step_diagnostics)
    steps = tuple(sorted(func.steps, key=lambda s: (s.location.line, s.location.column)))
    for step in steps:
        if step.form == "rpc" and step.rpc_name not in rpc_names:
            message = f"step {step.name!r} calls rpc {step.rpc_name!r}, which no @pikku_func defines"
            found.append(diagnostic(codes.UNKNOWN_RPC, step.location, message))
        if step.on_error is not None and step.on_error not in rpc_names:
            message = (
                f"step {step.name!r} compensates with rpc {step.on_error!r} (on_error=), which no @pikku_func defines"
            )
            found.append(diagnostic(codes.UNKNOWN_RPC, step.location, message))
    found.extend(_duplicate_steps(func.name, steps))
    return steps


def _events(
    workflow: str, steps: Sequence[StepMeta], known_modules: frozenset[str], found: list[Diagnostic]
) -> tuple[EventMeta, ...]:
    """The events a workflow's waits name, once each with its model (sorted by name); PKU032 for a name
    waited for with two different models."""
    by_name: dict[str, EventMeta] = {}
    for step in steps:
        if step.form != "event" or step.event is None:
            continue
        model = _with_submodules(step.model or ANY, known_modules)
        first = by_name.setdefault(step.event, EventMeta(step.event, model, step.location))
        if first.model.expr != model.expr:
            message = (
                f"workflow {workflow!r} waits for event {step.event!r} with model {model.expr}, and with "
                f"{first.model.expr} at {first.location}: a sent payload can only be checked against one"
            )
            found.append(diagnostic(codes.EVENT_MODEL_CONFLICT, step.location, message))
    return tuple(by_name[name] for name in sorted(by_name))


def _unknown_sends(files: Sequence[FileFacts], workflows: Sequence[WorkflowMeta]) -> list[Diagnostic]:
    """PKU031 for each static ``workflows.<wf>.send_event(..., "<event>", ...)`` naming an event that
    workflow never waits for (a send to an unknown attribute is left to the type checker)."""
    by_attribute = {attribute_name(wf.name): wf for wf in workflows}
    found: list[Diagnostic] = []
    for facts in files:
        for send in facts.sends:
            wf = by_attribute.get(send.attribute)
            if wf is None or any(e.name == send.event for e in wf.events):
                continue
            waits = ", ".join(repr(e.name) for e in wf.events) or "no event at all"
            message = (
                f"workflows.{send.attribute}.send_event(...) sends event {send.event!r}, which workflow "
                f"{wf.name!r} never waits for (it waits for {waits}): the send would be refused"
            )
            found.append(diagnostic(codes.UNKNOWN_EVENT, send.location, message))
    return found


def _duplicate_steps(function: str, steps: Sequence[StepMeta]) -> list[Diagnostic]:
    """PKU003 for each literal step name used again; templates, sleeps, waits and suspends may repeat (loops,
    waits: the engine numbers their repeats)."""
    seen: dict[str, StepMeta] = {}
    found: list[Diagnostic] = []
    for step in steps:
        if step.form in ("sleep", "event", "suspend") or step.is_template:
            continue
        first = seen.setdefault(step.name, step)
        if first is not step:
            lines = f"lines {first.location.line} and {step.location.line}"
            message = f"step name {step.name!r} is used twice in {function} ({lines})"
            found.append(diagnostic(codes.DUPLICATE_STEP, step.location, message))
    return found


# -- schedules --------------------------------------------------------------------------------------
def _schedules(files: Iterable[FileFacts], workflows: Set[str], found: list[Diagnostic]) -> tuple[ScheduleMeta, ...]:
    """One ScheduleMeta per name (the first in file order): a later one is PKU037, and a schedule of a
    workflow no wire_workflow names is PKU036 (and left out)."""
    by_name: dict[str, ScheduleMeta] = {}
    calls = sorted(((f.module, x) for f in files for x in f.schedules), key=lambda item: _place(item[1].location))
    for module, call in calls:
        if call.workflow not in workflows:
            known = ", ".join(repr(w) for w in sorted(workflows)) or "none"
            message = f"schedule {call.name!r} starts workflow {call.workflow!r}, which no wire_workflow names"
            found.append(
                diagnostic(codes.SCHEDULE_WORKFLOW_UNKNOWN, call.workflow_location, f"{message} (wired: {known})")
            )
            continue
        meta = ScheduleMeta(
            call.name,
            call.cron,
            call.workflow,
            call.timezone,
            call.catchup,
            call.overlap,
            call.description,
            module,
            call.location,
        )
        first = by_name.setdefault(call.name, meta)
        if first is not meta:
            message = f"schedule {call.name!r} is already wired at {first.location}"
            found.append(diagnostic(codes.DUPLICATE_SCHEDULE, call.location, message))
    return tuple(sorted(by_name.values(), key=lambda x: x.name))


# -- cross-module resolution ------------------------------------------------------------------------
@dataclass(slots=True)
class _Index:
    """Modules by dotted name and their functions, for following ``func=`` across imports."""

    files: Sequence[FileFacts]
    modules: dict[str, FileFacts] = field(default_factory=dict)
    functions: dict[tuple[str, str], FunctionFacts] = field(default_factory=dict)
    module_names: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        for facts in self.files:
            self.modules[facts.module] = facts
            for func in facts.functions:  # a later def of the same name replaces the earlier one
                self.functions[(facts.module, func.name)] = func
        self.module_names = frozenset(self.modules)

    def resolve(self, target: str, hops: int = 0) -> tuple[str, FunctionFacts] | None:
        """The function a dotted path leads to, following imports and ``__init__`` re-exports."""
        if hops > _MAX_HOPS:
            return None
        parts = target.split(".")
        for cut in range(len(parts) - 1, 0, -1):  # the longest prefix that is a scanned module
            module = ".".join(parts[:cut])
            if module in self.modules:
                return self._lookup(module, parts[cut:], hops)
        return None

    def _lookup(self, module: str, rest: list[str], hops: int) -> tuple[str, FunctionFacts] | None:
        imported = self.modules[module].imports.get(rest[0])
        if imported is not None:
            return self.resolve(".".join([imported, *rest[1:]]), hops + 1)
        func = self.functions.get((module, rest[0]))
        return (module, func) if func is not None and len(rest) == 1 else None


def _place(location: Location) -> tuple[str, int, int]:
    return (location.file, location.line, location.column)
