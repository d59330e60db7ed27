"""Per-file facts: everything the link phase needs from one source file, as plain JSON-able data.

A cache keyed by file content can store these between runs, so they hold no libcst nodes and no
paths outside the project: only strings, numbers and the model's own frozen dataclasses.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from pikku.cli.model import Diagnostic, Location, SendMeta, StepMeta, TypeRef

# Bump when the shape below changes so a cache written by an older scanner is ignored, not misread.
FACTS_VERSION = 5  # 2: WireFacts.timeout; 3: child steps, on_error, on_failure; 4: events; 5: schedules


@dataclass(frozen=True, slots=True)
class FunctionFacts:
    """A module-level ``def``: the ``@pikku_func`` data if decorated, and the workflow steps in its body.

    ``rpc_name`` is None for a plain function and for a ``@pikku_func`` whose ``name=`` is not a literal.
    The diagnostics only matter if the function ends up in the model, so the link phase decides to emit them.
    """

    name: str
    is_async: bool
    is_pikku: bool
    rpc_name: str | None
    input_type: TypeRef
    output_type: TypeRef
    location: Location
    steps: tuple[StepMeta, ...] = ()
    type_diagnostics: tuple[Diagnostic, ...] = ()
    step_diagnostics: tuple[Diagnostic, ...] = ()


@dataclass(frozen=True, slots=True)
class WireFacts:
    """A module-level ``wire_workflow(...)`` call; ``func_target`` is the dotted path ``func=`` names.

    ``timeout`` is a literal ``timeout=`` in seconds; None when absent, not a literal, or invalid (PKU024).
    """

    name: str | None
    description: str | None
    execution_mode: str
    func_target: str | None
    func_location: Location
    location: Location
    timeout: float | None = None
    on_failure: str | None = None
    on_failure_location: Location | None = None


@dataclass(frozen=True, slots=True)
class ScheduleFacts:
    """A module-level ``wire_schedule(...)`` call whose arguments are all valid literals (any problem with
    them was reported when the file was scanned, and the call left out); ``workflow_location`` is where
    its ``workflow=`` is written (whether that workflow exists is the link phase's question)."""

    name: str
    cron: str
    workflow: str
    timezone: str
    catchup: str
    overlap: str
    description: str | None
    location: Location
    workflow_location: Location


@dataclass(frozen=True, slots=True)
class FileFacts:
    """What one file contributes; ``imports`` maps module-level names to the dotted path they import."""

    file: str
    module: str
    imports: dict[str, str]
    functions: tuple[FunctionFacts, ...] = ()
    wires: tuple[WireFacts, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = ()
    #: Static ``workflows.<wf>.send_event(..., "<event>", ...)`` calls in the file.
    sends: tuple[SendMeta, ...] = ()
    schedules: tuple[ScheduleFacts, ...] = ()

    def relocated(self, fix: Callable[[Location], Location]) -> FileFacts:
        """These facts with every location passed through ``fix`` (extraction's placeholders -> places)."""
        return FileFacts(
            self.file,
            self.module,
            self.imports,
            tuple(_function_relocated(f, fix) for f in self.functions),
            tuple(_wire_relocated(w, fix) for w in self.wires),
            _diags_relocated(self.diagnostics, fix),
            tuple(SendMeta(x.attribute, x.event, fix(x.location)) for x in self.sends),
            tuple(
                dataclasses.replace(x, location=fix(x.location), workflow_location=fix(x.workflow_location))
                for x in self.schedules
            ),
        )

    def to_json(self) -> str:
        """Serialize to a JSON string (stable key order, so equal facts give equal text)."""
        return json.dumps({"version": FACTS_VERSION, "facts": _file_to_dict(self)}, sort_keys=True)

    @staticmethod
    def from_json(text: str) -> FileFacts:
        """Rebuild facts written by :meth:`to_json`; raises ValueError for another version or shape."""
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("version") != FACTS_VERSION:
            raise ValueError("scan facts were written by another scanner version")
        try:
            return _file_from_dict(data["facts"])
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed scan facts: {exc}") from exc


# -- relocation -----------------------------------------------------------------------------------
def _diags_relocated(diags: tuple[Diagnostic, ...], fix: Callable[[Location], Location]) -> tuple[Diagnostic, ...]:
    return tuple(Diagnostic(d.level, d.code, fix(d.location), d.message, d.hint) for d in diags)


def _step_relocated(s: StepMeta, fix: Callable[[Location], Location]) -> StepMeta:
    return StepMeta(
        s.name, s.is_template, s.form, s.rpc_name, s.description, s.duration, fix(s.location),
        s.workflow, s.detached, s.on_error, s.event, s.model,
    )  # fmt: skip


def _function_relocated(f: FunctionFacts, fix: Callable[[Location], Location]) -> FunctionFacts:
    return FunctionFacts(
        name=f.name,
        is_async=f.is_async,
        is_pikku=f.is_pikku,
        rpc_name=f.rpc_name,
        input_type=f.input_type,
        output_type=f.output_type,
        location=fix(f.location),
        steps=tuple(_step_relocated(s, fix) for s in f.steps),
        type_diagnostics=_diags_relocated(f.type_diagnostics, fix),
        step_diagnostics=_diags_relocated(f.step_diagnostics, fix),
    )


def _wire_relocated(w: WireFacts, fix: Callable[[Location], Location]) -> WireFacts:
    where = None if w.on_failure_location is None else fix(w.on_failure_location)
    return WireFacts(
        w.name, w.description, w.execution_mode, w.func_target, fix(w.func_location), fix(w.location), w.timeout,
        w.on_failure, where,
    )  # fmt: skip


# -- encoding ---------------------------------------------------------------------------------------
def _loc(loc: Location) -> list[Any]:
    return [loc.file, loc.line, loc.column]


def _type(ref: TypeRef) -> list[Any]:
    return [ref.expr, list(ref.modules)]


def _diag(d: Diagnostic) -> dict[str, Any]:
    return {"level": d.level, "code": d.code, "loc": _loc(d.location), "message": d.message, "hint": d.hint}


def _step(s: StepMeta) -> dict[str, Any]:
    return {
        "name": s.name,
        "is_template": s.is_template,
        "form": s.form,
        "rpc_name": s.rpc_name,
        "description": s.description,
        "duration": s.duration,
        "loc": _loc(s.location),
        "workflow": s.workflow,
        "detached": s.detached,
        "on_error": s.on_error,
        "event": s.event,
        "model": None if s.model is None else _type(s.model),
    }


def _function(f: FunctionFacts) -> dict[str, Any]:
    return {
        "name": f.name,
        "is_async": f.is_async,
        "is_pikku": f.is_pikku,
        "rpc_name": f.rpc_name,
        "input_type": _type(f.input_type),
        "output_type": _type(f.output_type),
        "loc": _loc(f.location),
        "steps": [_step(s) for s in f.steps],
        "type_diagnostics": [_diag(d) for d in f.type_diagnostics],
        "step_diagnostics": [_diag(d) for d in f.step_diagnostics],
    }


def _wire(w: WireFacts) -> dict[str, Any]:
    return {
        "name": w.name,
        "description": w.description,
        "execution_mode": w.execution_mode,
        "func_target": w.func_target,
        "func_loc": _loc(w.func_location),
        "loc": _loc(w.location),
        "timeout": w.timeout,
        "on_failure": w.on_failure,
        "on_failure_loc": None if w.on_failure_location is None else _loc(w.on_failure_location),
    }


def _schedule(x: ScheduleFacts) -> dict[str, Any]:
    data = dataclasses.asdict(x)
    data["location"], data["workflow_location"] = _loc(x.location), _loc(x.workflow_location)
    return data


def _file_to_dict(f: FileFacts) -> dict[str, Any]:
    return {
        "file": f.file,
        "module": f.module,
        "imports": f.imports,
        "functions": [_function(x) for x in f.functions],
        "wires": [_wire(w) for w in f.wires],
        "diagnostics": [_diag(d) for d in f.diagnostics],
        "sends": [[x.attribute, x.event, _loc(x.location)] for x in f.sends],
        "schedules": [_schedule(x) for x in f.schedules],
    }


# -- decoding ---------------------------------------------------------------------------------------
def _location_of(v: list[Any]) -> Location:
    return Location(str(v[0]), int(v[1]), int(v[2]))


def _type_of(v: list[Any]) -> TypeRef:
    return TypeRef(str(v[0]), tuple(str(m) for m in v[1]))


def _diag_of(v: dict[str, Any]) -> Diagnostic:
    return Diagnostic(v["level"], v["code"], _location_of(v["loc"]), v["message"], v["hint"])


def _step_of(v: dict[str, Any]) -> StepMeta:
    return StepMeta(
        name=v["name"],
        is_template=v["is_template"],
        form=v["form"],
        rpc_name=v["rpc_name"],
        description=v["description"],
        duration=v["duration"],
        location=_location_of(v["loc"]),
        workflow=v["workflow"],
        detached=bool(v["detached"]),
        on_error=v["on_error"],
        event=v["event"],
        model=None if v["model"] is None else _type_of(v["model"]),
    )


def _function_of(v: dict[str, Any]) -> FunctionFacts:
    return FunctionFacts(
        name=v["name"],
        is_async=v["is_async"],
        is_pikku=v["is_pikku"],
        rpc_name=v["rpc_name"],
        input_type=_type_of(v["input_type"]),
        output_type=_type_of(v["output_type"]),
        location=_location_of(v["loc"]),
        steps=tuple(_step_of(s) for s in v["steps"]),
        type_diagnostics=tuple(_diag_of(d) for d in v["type_diagnostics"]),
        step_diagnostics=tuple(_diag_of(d) for d in v["step_diagnostics"]),
    )


def _wire_of(v: dict[str, Any]) -> WireFacts:
    return WireFacts(
        name=v["name"],
        description=v["description"],
        execution_mode=v["execution_mode"],
        func_target=v["func_target"],
        func_location=_location_of(v["func_loc"]),
        location=_location_of(v["loc"]),
        timeout=None if v["timeout"] is None else float(v["timeout"]),
        on_failure=v["on_failure"],
        on_failure_location=None if v["on_failure_loc"] is None else _location_of(v["on_failure_loc"]),
    )


def _schedule_of(v: dict[str, Any]) -> ScheduleFacts:
    fields = {k: v[k] for k in ("name", "cron", "workflow", "timezone", "catchup", "overlap", "description")}
    return ScheduleFacts(
        **fields, location=_location_of(v["location"]), workflow_location=_location_of(v["workflow_location"])
    )


def _file_from_dict(v: dict[str, Any]) -> FileFacts:
    return FileFacts(
        file=v["file"],
        module=v["module"],
        imports=cast(dict[str, str], dict(v["imports"])),
        functions=tuple(_function_of(f) for f in v["functions"]),
        wires=tuple(_wire_of(w) for w in v["wires"]),
        diagnostics=tuple(_diag_of(d) for d in v["diagnostics"]),
        sends=tuple(SendMeta(str(a), str(e), _location_of(loc)) for a, e, loc in v["sends"]),
        schedules=tuple(_schedule_of(x) for x in v["schedules"]),
    )
