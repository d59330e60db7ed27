"""What the process knows: functions registered with ``@pikku_func`` and workflows wired with
``wire_workflow``. Both are filled by importing user modules (the generated wirings import them all).
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, overload

from pikku import _naming, _serde
from pikku._duration import parse_duration
from pikku._errors import ConfigError, UnknownRPCError, UnknownWorkflowError

ExecutionMode = Literal["remote", "inline"]
F = TypeVar("F", bound=Callable[..., Any])


def _hints(func: Callable[..., Any]) -> tuple[Any, Any]:
    """(input type, output type) from a ``(services, data) -> output`` signature; Any where missing.

    Each annotation resolves on its own, so a name imported only under TYPE_CHECKING (typically the
    ``services: Services`` type) leaves the others intact.
    """
    annotations = inspect.get_annotations(func)
    params = list(inspect.signature(func).parameters)
    data_type = _resolve(func, annotations.get(params[1], Any)) if len(params) > 1 else Any
    return data_type, _resolve(func, annotations.get("return", Any))


def _resolve(func: Callable[..., Any], annotation: Any) -> Any:
    if not isinstance(annotation, str):
        return annotation
    try:
        return eval(annotation, getattr(func, "__globals__", {}))  # the user's own annotation text, in its own module
    except Exception:  # a name that does not exist at run time: treat the value as plain JSON
        return Any


@dataclass(slots=True)
class FunctionDef:
    """A registered function: its rpc name, the callable, and its input/output types (resolved lazily)."""

    rpc_name: str
    func: Callable[..., Any]
    _types: tuple[Any, Any] | None = None
    _takes_data: bool | None = None

    @property
    def input_type(self) -> Any:
        """The annotation of the ``data`` parameter (Any when missing)."""
        return self._resolve()[0]

    @property
    def output_type(self) -> Any:
        """The return annotation (Any when missing)."""
        return self._resolve()[1]

    def _resolve(self) -> tuple[Any, Any]:
        # Lazily: annotations may name classes defined after the decorator ran.
        if self._types is None:
            self._types = _hints(self.func)
        return self._types

    @property
    def takes_data(self) -> bool:
        """Whether the function has a ``data`` parameter after ``services`` (computed once: it is hot)."""
        if self._takes_data is None:
            self._takes_data = len(inspect.signature(self.func).parameters) > 1
        return self._takes_data


@dataclass(frozen=True, slots=True)
class StepInfo:
    """Generated metadata of one step: used to route template step names to their queue."""

    name: str
    form: str
    rpc_name: str | None = None
    description: str | None = None
    is_template: bool = False
    duration: str | None = None
    location: str | None = None
    #: A ``child`` step's child workflow; ``detached`` when it is started without waiting (start_workflow).
    workflow: str | None = None
    detached: bool = False
    #: The compensation rpc of a step (``do(..., on_error=)``).
    on_error: str | None = None
    #: The event a wait (form ``event``) waits for.
    event: str | None = None


@dataclass(frozen=True, slots=True)
class WorkflowInfo:
    """Generated metadata of one workflow (``pikku_gen.workflow.meta``)."""

    name: str
    description: str | None
    execution_mode: ExecutionMode
    rpc_name: str
    steps: tuple[StepInfo, ...] = ()
    #: The compensation rpc run once per failure episode (``wire_workflow(on_failure=)``).
    on_failure: str | None = None
    #: The events its waits name, sorted.
    events: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class QueueWorker:
    """Generated description of one queue worker (``pikku_gen.workflow.workers``)."""

    queue: str
    workflow: str
    kind: Literal["step", "orchestrator"]
    step: str | None = None
    rpc_name: str | None = None
    description: str | None = None


@dataclass(slots=True)
class WorkflowDef:
    """A wired workflow."""

    name: str
    func: Callable[..., Any]
    description: str | None = None
    execution_mode: ExecutionMode = "remote"
    retries: int | None = None
    #: Seconds a run may take from its start (or its last resume) before it fails with PIKKU_RUN_TIMEOUT.
    timeout: float | None = None
    #: The rpc run once per failure episode when a run ends failed (``wire_workflow(on_failure=)``).
    on_failure: str | None = None
    info: WorkflowInfo | None = None
    #: The events its ``wait_for_event`` calls name, with the model each payload is validated against (filled
    #: by the generated wirings, see :func:`register_workflow_events`); None while unknown.
    events: dict[str, Any] | None = None
    _fn: FunctionDef | None = None
    _routes: list[tuple[re.Pattern[str], str]] = field(default_factory=list)

    @property
    def function(self) -> FunctionDef:
        """The workflow function's types, like any registered function."""
        if self._fn is None:
            self._fn = FunctionDef(self.name, self.func)
        return self._fn

    @property
    def orchestrator_queue(self) -> str:
        """Where replays of this workflow's runs are queued."""
        return _naming.orchestrator_queue(self.name)

    def step_queue(self, step: str) -> str:
        """The queue of an RPC step: one per step declared in source (templates match their instances)."""
        base = _naming.routed_step(step.split("#", 1)[0])
        for pattern, queue in self._routes:
            if pattern.fullmatch(base):
                return queue
        return _naming.step_queue(self.name, base)

    def attach_info(self, info: WorkflowInfo) -> None:
        """Take the generated metadata and build routes for template step names like ``charge-{i}``."""
        self.info = info
        self._routes = [
            (_template_pattern(s.name), _naming.step_queue(self.name, s.name))
            for s in info.steps
            if s.is_template and (s.form == "rpc" or s.on_error is not None)
        ]


def _template_pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{[^{}]*\}", template)
    return re.compile(".+?".join(re.escape(p) for p in parts))


_FUNCTIONS: dict[str, FunctionDef] = {}
_WORKFLOWS: dict[str, WorkflowDef] = {}
_PENDING_INFO: dict[str, WorkflowInfo] = {}
_PENDING_EVENTS: dict[str, dict[str, Any]] = {}


@overload
def pikku_func(func: F, /) -> F: ...
@overload
def pikku_func(*, name: str | None = None) -> Callable[[F], F]: ...
def pikku_func(func: F | None = None, /, *, name: str | None = None) -> F | Callable[[F], F]:
    """Register a function ``(services, data) -> result`` under an rpc name (default: its own name).

    The function is returned unchanged, so it stays a plain, directly testable Python function.
    """

    def register(f: F) -> F:
        rpc = name or f.__name__
        existing = _FUNCTIONS.get(rpc)
        if existing is not None and _origin(existing.func) != _origin(f):
            raise ConfigError(
                f"rpc name {rpc!r} is registered twice: {_origin(existing.func)} and {_origin(f)}",
                hint="give one of them another name with @pikku_func(name=...)",
            )
        _FUNCTIONS[rpc] = FunctionDef(rpc, f)
        _serde.trust_package_of(getattr(f, "__module__", "") or "")
        f.__pikku_rpc__ = rpc  # type: ignore[attr-defined]
        return f

    return register(func) if func is not None else register


def _origin(f: Callable[..., Any]) -> str:
    return f"{f.__module__}.{f.__qualname__}"


def wire_workflow(
    *,
    name: str,
    func: Callable[..., Any],
    description: str | None = None,
    execution_mode: ExecutionMode = "remote",
    retries: int | None = None,
    timeout: str | float | None = None,
    on_failure: str | None = None,
) -> WorkflowDef:
    """Register ``func`` as the workflow ``name``.

    ``execution_mode="remote"`` (the default) runs RPC steps on queue workers; ``"inline"`` runs every
    step in the process that drives the run. ``retries`` is the default for steps that set none.
    ``timeout`` ("1h", or seconds) fails a run still going that long after its start (or its last resume)
    with PIKKU_RUN_TIMEOUT, even one whose code awaits forever outside any step. ``on_failure`` names an
    rpc run exactly once each time a run ends failed (a run resumed that fails again runs it again), with
    ``{"error": {...}, "input": ..., "run_id": ...}``, before the run is marked failed.
    """
    if execution_mode not in ("remote", "inline"):
        raise ConfigError(
            f"workflow {name!r}: execution_mode must be 'remote' or 'inline', not {execution_mode!r}",
            hint='use execution_mode="remote" (queue workers) or "inline" (one process)',
        )
    existing = _WORKFLOWS.get(name)
    if existing is not None and _origin(existing.func) != _origin(func):
        raise ConfigError(
            f"workflow name {name!r} is wired twice: {_origin(existing.func)} and {_origin(func)}",
            hint="workflow names are unique; rename one",
        )
    limit = None if timeout is None else parse_duration(timeout)
    if limit is not None and not 0 < limit < math.inf:
        raise ConfigError(f"workflow {name!r}: timeout must be positive, not {timeout!r}", hint='e.g. timeout="1h"')
    wf = WorkflowDef(name, func, description, execution_mode, retries, limit, on_failure)
    if name in _PENDING_INFO:
        wf.attach_info(_PENDING_INFO[name])
    if name in _PENDING_EVENTS:
        wf.events = _PENDING_EVENTS[name]
    _WORKFLOWS[name] = wf
    _serde.trust_package_of(getattr(func, "__module__", "") or "")
    return wf


def register_workflow_meta(infos: tuple[WorkflowInfo, ...] | list[WorkflowInfo]) -> None:
    """Attach generated metadata (called by the generated wirings module)."""
    for info in infos:
        _PENDING_INFO[info.name] = info
        if info.name in _WORKFLOWS:
            _WORKFLOWS[info.name].attach_info(info)


def register_workflow_events(workflow: str, events: dict[str, Any]) -> None:
    """Record the events ``workflow`` waits for: event name -> payload model (called by the generated wirings,
    from prebuild's scan of its ``wait_for_event`` calls). Sends are then checked against them."""
    _PENDING_EVENTS[workflow] = dict(events)
    if workflow in _WORKFLOWS:
        _WORKFLOWS[workflow].events = dict(events)


def get_function(rpc_name: str) -> FunctionDef:
    """The registered function, or UnknownRPCError."""
    try:
        return _FUNCTIONS[rpc_name]
    except KeyError:
        raise UnknownRPCError(rpc_name) from None


def get_workflow(name: str) -> WorkflowDef:
    """The wired workflow, or UnknownWorkflowError listing the known ones."""
    try:
        return _WORKFLOWS[name]
    except KeyError:
        raise UnknownWorkflowError(name, list(_WORKFLOWS)) from None


def workflows() -> dict[str, WorkflowDef]:
    """All wired workflows by name (a copy)."""
    return dict(_WORKFLOWS)


def functions() -> dict[str, FunctionDef]:
    """All registered functions by rpc name (a copy)."""
    return dict(_FUNCTIONS)
