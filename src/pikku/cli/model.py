"""What `pikku prebuild` knows about a project: plain frozen dataclasses, no I/O, no behaviour.

The scanner (``pikku.cli.scan``) produces a :class:`ProjectModel`; the renderer (``pikku.cli.render``) only
arranges what is here. Every collection is sorted so the generated output is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

StepForm = Literal["rpc", "inline", "sleep", "event", "suspend", "child"]
ExecutionMode = Literal["remote", "inline"]
Level = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Location:
    """A place in user source: path relative to the project root (POSIX), 1-based line and column."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class TypeRef:
    """An annotation rewritten so generated code can use it.

    ``expr`` uses fully qualified names (``list[example_app.models.User]``, ``typing.Any``, builtins bare)
    and ``modules`` lists what generated code must ``import`` for ``expr`` to resolve (sorted).
    """

    expr: str
    modules: tuple[str, ...] = ()


ANY = TypeRef("typing.Any", ("typing",))


@dataclass(frozen=True, slots=True)
class FunctionMeta:
    """A ``@pikku_func`` definition (also used for the function a workflow wires)."""

    rpc_name: str
    module: str
    qualname: str
    input_type: TypeRef
    output_type: TypeRef
    is_async: bool
    location: Location


@dataclass(frozen=True, slots=True)
class StepMeta:
    """One ``workflow.do`` / ``sleep`` / ``wait_for_event`` / ``suspend`` / ``call_workflow`` /
    ``start_workflow`` call in a workflow body, in source order.

    A wait (form ``event``) names its ``event`` and payload ``model``; its ``duration`` is its timeout. A
    ``child`` step names the child ``workflow`` (None when the name is not a literal) and ``detached`` says
    it was started without waiting (``start_workflow``). ``on_error`` is the literal compensation rpc of a
    ``do`` (``on_error=``).
    """

    name: str
    is_template: bool
    form: StepForm
    rpc_name: str | None
    description: str | None
    duration: str | None
    location: Location
    workflow: str | None = None
    detached: bool = False
    on_error: str | None = None
    event: str | None = None
    model: TypeRef | None = None


@dataclass(frozen=True, slots=True)
class EventMeta:
    """An event a workflow waits for: its name, the payload model, and the first wait that names it."""

    name: str
    model: TypeRef
    location: Location


@dataclass(frozen=True, slots=True)
class SendMeta:
    """A ``workflows.<attribute>.send_event(run_id, "<event>", ...)`` call with a literal event name, anywhere in
    the project: prebuild checks the event against the ones that workflow waits for."""

    attribute: str
    event: str
    location: Location


@dataclass(frozen=True, slots=True)
class WorkflowMeta:
    """A ``wire_workflow(...)`` call with its resolved function and the steps found in it.

    ``timeout`` is the run time limit in seconds when ``timeout=`` is a literal, else None. It is not
    rendered yet: a ``"timeout": null`` in every workflow's metadata would change the output of every
    project, so it waits for the runtime's ``WorkflowInfo`` to take it.
    """

    name: str
    description: str | None
    execution_mode: ExecutionMode
    func: FunctionMeta
    wire_module: str
    steps: tuple[StepMeta, ...]
    location: Location
    timeout: float | None = None
    #: The literal compensation rpc of ``wire_workflow(on_failure=)``, run once per failure episode.
    on_failure: str | None = None
    on_failure_location: Location | None = None
    #: The events its waits name, sorted by name (one entry per event).
    events: tuple[EventMeta, ...] = ()


@dataclass(frozen=True, slots=True)
class ScheduleMeta:
    """A ``wire_schedule(...)`` call: what starts runs of ``workflow`` at each tick of ``cron``.

    ``module`` is the module making the call (generated wirings import it, so workers know the schedule).
    Its ``input=`` is not read: it may be any expression, checked by the worker when it starts.
    """

    name: str
    cron: str
    workflow: str
    timezone: str
    catchup: str
    overlap: str
    description: str | None
    module: str
    location: Location


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """A finding about user code: printed together with all others; any error makes prebuild exit 1."""

    level: Level
    code: str
    location: Location
    message: str
    hint: str

    def __str__(self) -> str:
        return f"{self.location}: {self.level} {self.code}: {self.message} (fix: {self.hint})"


@dataclass(frozen=True, slots=True)
class ProjectModel:
    """Everything prebuild found: functions sorted by rpc name, workflows and schedules by name,
    diagnostics by place."""

    functions: tuple[FunctionMeta, ...] = ()
    workflows: tuple[WorkflowMeta, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = field(default_factory=tuple)
    schedules: tuple[ScheduleMeta, ...] = ()

    @property
    def has_errors(self) -> bool:
        """True when any diagnostic is an error (prebuild then writes nothing and exits 1)."""
        return any(d.level == "error" for d in self.diagnostics)
