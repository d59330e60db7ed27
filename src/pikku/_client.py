"""The typed client: ``workflows.<name>.start(...)``, ``get_run(...)``, ``handle.result(...)``.

The generated ``pikku_gen.workflow.map`` builds one :class:`WorkflowClient` per workflow, typed by the
workflow's input and output models; a workflow that waits for events gets a subclass whose ``send_event``
is typed per event name and payload (it calls :meth:`WorkflowClient._send_event`). ``start``, ``get_run``
and ``handle.result`` have ``*_sync`` twins for sync callers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pikku import _control, _serde
from pikku._engine.events import awaited_events
from pikku._errors import InvalidInputError, WorkflowCancelledError, WorkflowFailedError, WorkflowTimeoutError
from pikku._hooks import HOOKS
from pikku._records import SETTLED_RUN_STATUSES, ErrorInfo, RunRecord, RunStatus, StepRecord
from pikku._registry import get_workflow
from pikku._runtime import get_runtime
from pikku._sync import run_sync

I = TypeVar("I")  # noqa: E741 - the conventional name for an input type
O = TypeVar("O")  # noqa: E741 - the conventional name for an output type


@dataclass(frozen=True, slots=True)
class WorkflowRun(Generic[O]):
    """A run as the client sees it: status, typed output when completed, stored error when failed, and the
    events it waits for while it is unfinished."""

    run_id: str
    workflow: str
    status: RunStatus
    output: O | None
    error: ErrorInfo | None
    created_at: float
    updated_at: float
    #: The run that started this one as a child (``workflow.call_workflow`` / ``start_workflow``).
    parent_run_id: str | None = None
    #: The run this one was forked from (``pikku.fork_run``).
    forked_from: str | None = None
    #: Why the run was cancelled (``cancel(reason=...)``), while it is cancelled.
    cancel_reason: str | None = None
    waiting_for: tuple[str, ...] = ()


class WorkflowHandle(Generic[O]):
    """A started run: its id, and ways to wait for its typed result or cancel it.

    ``created`` is False when ``start(..., run_id=...)`` found that run already there (nothing was
    created; the input of the first start wins).
    """

    def __init__(self, client: WorkflowClient[Any, O], run_id: str, *, created: bool = True) -> None:
        self._client = client
        self.run_id = run_id
        self.created = created

    def __repr__(self) -> str:
        return f"WorkflowHandle({self._client.name!r}, run_id={self.run_id!r})"

    async def get_run(self) -> WorkflowRun[O]:
        """The run's current state."""
        return await self._client.get_run(self.run_id)

    async def result(self, timeout: float | None = None, *, poll_interval: float = 0.2) -> O:
        """Wait until the run settles and return its output; WorkflowFailedError if it failed.

        Raises WorkflowTimeoutError after ``timeout`` seconds (the run itself goes on).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.005
        runtime = await get_runtime()
        while True:
            run = self._client.to_run(await runtime.engine.state.get_run(self.run_id))  # one read per look
            if run.status == "completed":
                return run.output  # type: ignore[return-value]
            if run.status == "failed":
                raise WorkflowFailedError(self.run_id, run.error or ErrorInfo("unknown failure", "UnknownError"))
            if run.status == "cancelled":
                raise WorkflowCancelledError(self.run_id)
            if deadline is not None and time.monotonic() >= deadline:
                raise WorkflowTimeoutError(
                    f"run {self.run_id!r} of {self._client.name!r} is still {run.status} after {timeout}s",
                    hint="wait longer, or check that a worker (`pikku worker`) is running",
                )
            await asyncio.sleep(delay)
            delay = min(poll_interval, delay * 2)

    def result_sync(self, timeout: float | None = None) -> O:
        """Blocking :meth:`result` for sync callers."""
        return run_sync(self.result(timeout))

    async def cancel(self, reason: str | None = None) -> bool:
        """End the run (and its running child runs) as ``cancelled``, keeping ``reason``; False when it had
        settled already (see :func:`pikku.cancel_run`)."""
        return await _control.cancel_run(self.run_id, reason)


class WorkflowClient(Generic[I, O]):
    """Starts and inspects runs of one workflow."""

    def __init__(self, name: str, input_type: Any = Any, output_type: Any = Any) -> None:
        self.name = name
        self.input_type = input_type
        self.output_type = output_type

    async def start(self, data: I, *, run_id: str | None = None) -> WorkflowHandle[O]:
        """Validate ``data``, create a run and queue it (remote mode) or run it to the end (inline mode).

        With ``run_id`` the start is idempotent: if that run exists, its handle comes back with
        ``created`` False and nothing is created (safe to retry from a web request). Ids may not hold
        ``@`` or ``/``; an id of another workflow's run is RunIdInUseError.
        """
        runtime = await get_runtime()
        wanted = None if run_id is None else _control.check_run_id(run_id)
        started = await runtime.engine.start_run(self.name, data, run_id=wanted)
        return WorkflowHandle(self, started.run_id, created=started.created)

    async def list_runs(
        self, status: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> _control.RunPage:
        """This workflow's runs, newest first, one page per call (see :func:`pikku.list_runs`)."""
        return await _control.list_runs(self.name, status, limit, cursor)

    async def get_run(self, run_id: str) -> WorkflowRun[O]:
        """The run with its typed output, and the events it waits for while unfinished; RunNotFoundError for
        an unknown id."""
        runtime = await get_runtime()
        state = runtime.engine.state
        run = self.to_run(await state.get_run(run_id))
        if run.status in SETTLED_RUN_STATUSES:
            return run
        return dataclasses.replace(run, waiting_for=awaited_events((await state.get_steps(run_id)).values()))

    async def _send_event(self, run_id: str, event: str, payload: Any, *, event_id: str | None = None) -> bool:
        """:func:`pikku.send_event` for a run of this workflow (the generated, typed ``send_event`` calls it)."""
        runtime = await get_runtime()
        record = await runtime.engine.state.get_run(run_id)
        if record.workflow != self.name:
            raise InvalidInputError(
                f"run {run_id!r} is a run of workflow {record.workflow!r}, not of {self.name!r}",
                hint=f"send it through workflows of {record.workflow!r}, or pikku.send_event",
            )
        return await _control.send_event(run_id, event, payload, event_id=event_id)

    async def get_steps(self, run_id: str) -> list[StepRecord]:
        """The run's steps in the order they were first reached."""
        runtime = await get_runtime()
        steps = await runtime.engine.state.get_steps(run_id)
        return sorted(steps.values(), key=lambda s: (s.created_at, s.name))

    def handle(self, run_id: str) -> WorkflowHandle[O]:
        """A handle for a run started earlier (e.g. by another process)."""
        return WorkflowHandle(self, run_id)

    def to_run(self, record: RunRecord) -> WorkflowRun[O]:
        """Decode a stored run into the typed view."""
        output = None
        if record.status == "completed" and record.output_json is not None:
            output = _serde.decode(record.output_json, self.output_type)
        return WorkflowRun(
            record.run_id,
            record.workflow,
            record.status,
            output,
            record.error,
            record.created_at,
            record.updated_at,
            record.parent_run_id,
            record.forked_from,
            record.cancel_reason,
        )

    def start_sync(self, data: I, *, run_id: str | None = None) -> WorkflowHandle[O]:
        """Blocking :meth:`start` for sync callers (scripts, Django, Flask)."""
        return run_sync(self.start(data, run_id=run_id))

    def get_run_sync(self, run_id: str) -> WorkflowRun[O]:
        """Blocking :meth:`get_run` for sync callers."""
        return run_sync(self.get_run(run_id))


def child_handle(workflow: str, run_id: str) -> WorkflowHandle[Any]:
    """The handle ``workflow.start_workflow`` returns: typed by the child workflow's input and output."""
    wf = get_workflow(workflow)
    return WorkflowClient[Any, Any](workflow, wf.function.input_type, wf.function.output_type).handle(run_id)


HOOKS.handle = child_handle
