"""``services.workflow`` during one replay pass: ``do`` and ``sleep``.

A pass starts from the step states read once by the engine. A step already done returns its stored
value; a step not done is dispatched (remote RPC), executed here (inline form, or inline mode), or waited
for, and then the pass pauses by raising :class:`WorkflowAsyncException`.
"""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from pikku import _serde
from pikku._clock import now
from pikku._duration import parse_duration
from pikku._engine.jobs import step_job
from pikku._errors import (
    NonDeterminismError,
    PayloadTooLargeError,
    StepFailedError,
    StepSerializationError,
    UnknownRPCError,
    WorkflowAsyncException,
)
from pikku._records import NewStep, RunRecord, StepForm, StepRecord
from pikku._registry import WorkflowDef, get_function

if TYPE_CHECKING:
    from pikku._engine.engine import Engine

T = TypeVar("T")


class BackendFault(BaseException):
    """A store or queue error met inside a pass, carried past user code (which cannot catch it)."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        super().__init__(str(error))


# What the engine raises on purpose for the workflow to see; anything else from the engine is a fault.
_WORKFLOW_FACING = (StepFailedError, NonDeterminismError, UnknownRPCError, StepSerializationError, PayloadTooLargeError)


async def _guard(op: Awaitable[T]) -> T:
    try:
        return await op
    except (WorkflowAsyncException, *_WORKFLOW_FACING):
        raise
    except Exception as exc:
        raise BackendFault(exc) from exc


class WorkflowContext:
    """The workflow interaction object of one pass over one run."""

    def __init__(
        self,
        engine: Engine,
        wf: WorkflowDef,
        run: RunRecord,
        steps: dict[str, StepRecord],
        serves: Callable[[str], bool] | None = None,
    ) -> None:
        self._engine = engine
        self._wf = wf
        self._run = run
        self._steps = steps
        self._serves = serves
        self._local_busy = False  # one local rpc step at a time: siblings of a fan-out go to their queues
        self._reached: dict[str, int] = {}
        self.wake_at: float | None = None
        self.tasks: set[asyncio.Task[Any]] = set()

    @property
    def run_id(self) -> str:
        """The id of the run being replayed."""
        return self._run.run_id

    @property
    def workflow_name(self) -> str:
        """The name of the workflow being replayed."""
        return self._wf.name

    @property
    def workflow_def(self) -> WorkflowDef:
        """The workflow being replayed."""
        return self._wf

    @property
    def priority(self) -> float:
        """The priority of the run's jobs: its start time (runs in flight go first)."""
        return self._run.created_at

    # -- public API ---------------------------------------------------------------------------------
    async def do(
        self,
        name: str,
        target: str | Callable[[], Any],
        data: Any = None,
        *,
        description: str | None = None,
        retries: int | None = None,
        retry_delay: str | float | None = None,
    ) -> Any:
        """Run a step once, durably: ``do(name, "rpc.name", data)`` or ``do(name, fn)``."""
        self._track()
        name = self._reach(name)
        form: StepForm = "rpc" if isinstance(target, str) else "inline"
        if form == "inline" and not callable(target):
            raise TypeError(f"workflow.do({name!r}, ...): the second argument must be an rpc name or a callable")
        rec = self._steps.get(name)
        if rec is not None:
            self._check_replay(rec, form, target if isinstance(target, str) else None)
            if rec.status == "done":
                return self._stored_value(rec, target)
            if rec.status == "failed":
                raise StepFailedError(self.run_id, name, rec.error)
        attempts = self._engine.max_attempts(self._wf, retries)
        delay = None if retry_delay is None else parse_duration(retry_delay)
        if isinstance(target, str) and self._wf.execution_mode == "remote":
            return await self._remote(name, target, data, rec, attempts, delay)
        if rec is not None and rec.status == "scheduled" and (rec.wake_at or 0.0) > now():
            raise self._pause(f"step {name!r} retries later", wake_at=rec.wake_at)
        return await _guard(self._engine.execute_here(self, name, form, target, data, rec, attempts, delay))

    async def sleep(self, duration: str | float, *, description: str | None = None, name: str | None = None) -> None:
        """Pause the run durably: the wake-up time is stored, so restarts do not shorten or lose it."""
        self._track()
        seconds = parse_duration(duration)
        name = self._reach(name or f"sleep:{duration}")
        rec = self._steps.get(name)
        if rec is not None:
            self._check_replay(rec, "sleep", None)
            if rec.status == "done":
                return
        else:
            rec = await _guard(
                self._engine.state.insert_step(
                    NewStep(self.run_id, name, "sleep", status="scheduled", wake_at=now() + seconds)
                )
            )
            self._steps[name] = rec
        if (rec.wake_at or 0.0) > now():
            raise self._pause(f"sleeping until {rec.wake_at}", wake_at=rec.wake_at)
        await _guard(self._engine.state.complete_step(self.run_id, name, "null"))

    # -- internals ----------------------------------------------------------------------------------
    def record(self, rec: StepRecord) -> None:
        """Keep the engine's view of a step current within this pass."""
        self._steps[rec.name] = rec

    def _track(self) -> None:
        # Steps reached from tasks the workflow spawned (asyncio.gather) are awaited before the pass ends,
        # so no sibling is still writing state once the run lock is released.
        task = asyncio.current_task()
        if task is not None:
            self.tasks.add(task)

    def _reach(self, name: str) -> str:
        """Ordinal suffixes for a name reached again in one pass (a loop): name, name#1, name#2."""
        count = self._reached.get(name, 0)
        self._reached[name] = count + 1
        return name if count == 0 else f"{name}#{count}"

    def _check_replay(self, rec: StepRecord, form: StepForm, rpc_name: str | None) -> None:
        if rec.form != form or rec.rpc_name != rpc_name:
            raise NonDeterminismError(
                self.run_id, rec.name, _describe(rec.form, rec.rpc_name), _describe(form, rpc_name)
            )

    def _stored_value(self, rec: StepRecord, target: str | Callable[[], Any]) -> Any:
        assert rec.result_json is not None
        tp = get_function(target).output_type if isinstance(target, str) else return_type(target)
        return _serde.decode(rec.result_json, tp, rec.result_type)

    async def _remote(
        self, name: str, rpc_name: str, data: Any, rec: StepRecord | None, attempts: int, delay: float | None
    ) -> Any:
        if self._runs_here(name, rec):
            self._local_busy = True
            try:
                return await _guard(self._engine.run_rpc_here(self, name, rpc_name, data, rec, attempts, delay))
            finally:
                self._local_busy = False
        if rec is not None and rec.status == "running" and self._serves is not None:
            # Maybe a step run inside a pass whose worker died: no job will finish it. Once its lease has
            # run out, a job runs it again (a spare one, if it had a job, is harmless); until then, look
            # again when it can have.
            lease_end = rec.lease_until or 0.0
            if lease_end > now():
                raise self._pause(f"step {name!r} is running elsewhere", wake_at=lease_end + 0.05)
            job = step_job(self._wf, self.run_id, name, rpc_name, self._run.created_at, delay)
            await _guard(self._engine.put(job))
            raise self._pause(f"step {name!r} was abandoned; queued again")
        if rec is None or rec.status == "pending":
            data_json = rec.data_json if rec else _serde.encode(data, what=f"input of step {name!r}")
            rec = await _guard(
                self._engine.dispatch_step(
                    self._wf, self.run_id, name, rpc_name, data_json, attempts, delay, self._run.created_at
                )
            )
            self._steps[name] = rec
        raise self._pause(f"waiting for step {name!r}")

    def _runs_here(self, name: str, rec: StepRecord | None) -> bool:
        """Whether this pass runs the rpc step itself: its worker serves the step's queue, no other local
        step is in flight, and the step has no job that will run it (new, pending, or its lease ran out)."""
        if self._serves is None or self._local_busy or not self._serves(self._wf.step_queue(name)):
            return False
        if rec is None or rec.status == "pending":
            return True
        return rec.status == "running" and (rec.lease_until or 0.0) <= now()

    def pause_for_retry(self, name: str, retry_at: float) -> WorkflowAsyncException:
        """The pause of a step that failed and will be tried again at ``retry_at``."""
        return self._pause(f"step {name!r} failed; retrying", wake_at=retry_at)

    def _pause(self, reason: str, *, wake_at: float | None = None) -> WorkflowAsyncException:
        if wake_at is not None:
            self.wake_at = wake_at if self.wake_at is None else min(self.wake_at, wake_at)
        return WorkflowAsyncException(self.run_id, reason, wake_at=wake_at)


def _describe(form: str, rpc_name: str | None) -> str:
    return f"an rpc step calling {rpc_name!r}" if form == "rpc" else f"an {form} step"


def return_type(fn: Callable[..., Any]) -> Any:
    """The return annotation of an inline step function, or None (lambdas have none).

    Read from ``__annotations__`` rather than ``inspect.signature``: this runs for every inline step.
    """
    annotation = getattr(fn, "__annotations__", {}).get("return")
    if isinstance(annotation, str):
        return _resolve_string(annotation, getattr(fn, "__module__", None) or "")
    return annotation


@functools.lru_cache(maxsize=512)
def _resolve_string(annotation: str, module: str) -> Any:
    """A postponed (string) annotation evaluated in its module, or None when it does not resolve."""
    try:
        return eval(annotation, vars(sys.modules[module]))  # the module's own annotation text
    except Exception:
        return None
