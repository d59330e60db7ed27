"""``services.workflow`` during one replay pass: ``do`` and ``sleep``.

A pass starts from the step states read once by the engine. A step already done returns its stored
value; a step not done is dispatched (remote RPC), executed here (inline form, or inline mode), or waited
for, and then the pass pauses by raising :class:`WorkflowAsyncException`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from pikku import _serde
from pikku._duration import parse_duration
from pikku._engine.calls import StepCall, StepOutcome, Where, return_type
from pikku._engine.storeclock import PassClock
from pikku._errors import (
    InvalidStepNameError,
    NonDeterminismError,
    PayloadTooLargeError,
    StepFailedError,
    StepSerializationError,
    UnknownRPCError,
    WorkflowAsyncException,
)
from pikku._hooks import HOOKS
from pikku._logcontext import get_logger
from pikku._records import RunRecord, StepForm, StepRecord
from pikku._registry import WorkflowDef, get_function

T = TypeVar("T")

log = get_logger("pikku.engine")

#: How stale a pass's knowledge that its run is still running may be before a step runs in-process.
LIVENESS_CHECK_S = 0.25


class StepHost(Protocol):
    """What a pass needs from the engine: the context decides *where* a step runs, the host runs it.

    The context never touches the store or the queue itself.
    """

    def max_attempts(self, wf: WorkflowDef, retries: int | None) -> int:
        """The attempt budget of a step (step setting, else workflow default, else engine default)."""
        ...

    async def run_step(self, call: StepCall, rec: StepRecord | None, where: Where) -> StepOutcome:
        """One attempt of the step in this process (``local`` or ``inline``)."""
        ...

    async def dispatch_step(self, call: StepCall) -> StepRecord:
        """Put the rpc step and its job in place (once); the step's settle replays the run."""
        ...

    async def requeue_step(self, call: StepCall) -> None:
        """Queue the job of a step whose runner died (its lease ran out) again."""
        ...

    async def begin_sleep(self, run_id: str, name: str, wake_at: float) -> StepRecord:
        """Record a durable sleep until ``wake_at`` (once)."""
        ...

    async def store_now(self) -> float:
        """The store's clock now (:meth:`~pikku.backends.StateStore.now`)."""
        ...

    async def end_sleep(self, run_id: str, name: str) -> None:
        """Mark a sleep whose time has come done."""
        ...

    async def run_is_live(self, run_id: str) -> bool:
        """Whether the run is still running (not cancelled or otherwise settled meanwhile)."""
        ...

    async def record_marker(self, run_id: str, name: str) -> StepRecord:
        """Record a ``marker`` step (a patch taken), done (once)."""
        ...


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
        host: StepHost,
        wf: WorkflowDef,
        run: RunRecord,
        steps: dict[str, StepRecord],
        serves: Callable[[str], bool] | None = None,
        clock: PassClock | None = None,
    ) -> None:
        self._host = host
        #: The store's clock: stored times (wake_at, lease ends) are compared with it, never with ours.
        self.clock = clock or PassClock(host.store_now)
        self._wf = wf
        self._run = run
        self._steps = steps
        self._serves = serves
        self._local_busy = False  # one local rpc step at a time: siblings of a fan-out go to their queues
        self._reached: dict[str, int] = {}
        self._seen: set[str] = set()  # step names this pass reached
        self._recorded = frozenset(steps)  # what the pass started with
        self._recorded_seen = 0  # how many of those this pass reached
        self._live_at = time.monotonic()  # when the run was last known to be running (the pass's start)
        self._patches: dict[str, bool] = {}
        self._unwritten_markers: list[str] = []
        self._marker_lock = asyncio.Lock()
        self._warned_insert = False
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
    def reached_names(self) -> frozenset[str]:
        """The step names this pass has reached so far (markers included)."""
        return frozenset(self._seen)

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
        if self._unwritten_markers:
            await self._write_markers()
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
        call = self._call(name, form, target, data, rec, retries, retry_delay)
        if isinstance(target, str) and self._wf.execution_mode == "remote":
            return await self._remote(call, rec)
        if rec is not None and rec.status == "scheduled" and rec.wake_at is not None:
            await self._wait_until(rec.wake_at, f"step {name!r} retries later")
        if time.monotonic() - self._live_at >= LIVENESS_CHECK_S:
            await self._still_live()
        return self._value(call, await _guard(self._host.run_step(call, rec, "inline")), "inline")

    def patched(self, patch_id: str) -> bool:
        """Whether this run takes the code path of the patch ``patch_id`` (Temporal's ``workflow.patched``).

        True for a run that reaches this point with no recorded step beyond it (a new run, or an old run
        that had not got this far): a ``marker`` step records that, so every replay says True again.
        False for a run whose recorded steps lie beyond this point (it passed here before the patch
        existed): keep the old code in the ``else`` branch until no such run is left, then use
        :meth:`deprecate_patch`.
        """
        name = _marker_name(patch_id)
        if name in self._patches:
            return self._patches[name]
        self._see(name)
        rec = self._steps.get(name)
        if rec is not None:
            self._check_replay(rec, "marker", None)
            decision = True
        else:
            decision = not self._recorded_ahead()  # no recorded step beyond this point
            if HOOKS.event is not None:
                HOOKS.event("workflow.patched", {"pikku.patch": patch_id, "pikku.taken": decision})
            if decision:
                self._unwritten_markers.append(name)  # written before this pass's next write
        self._patches[name] = decision
        return decision

    def deprecate_patch(self, patch_id: str) -> None:
        """The old branch of ``patched(patch_id)`` is gone: runs with or without its marker both go on."""
        name = _marker_name(patch_id)
        self._see(name)
        rec = self._steps.get(name)
        if rec is not None:
            self._check_replay(rec, "marker", None)

    async def _write_markers(self) -> None:
        # Siblings of a fan-out arrive here together: one writes, the others wait, so no step of theirs is
        # recorded before the marker (a replay would then see a step beyond the patch and say False).
        async with self._marker_lock:
            while self._unwritten_markers:
                name = self._unwritten_markers[0]
                self._steps[name] = await _guard(self._host.record_marker(self.run_id, name))
                self._unwritten_markers.pop(0)

    async def sleep(self, duration: str | float, *, description: str | None = None, name: str | None = None) -> None:
        """Pause the run durably: the wake-up time is stored, so restarts do not shorten or lose it."""
        self._track()
        if self._unwritten_markers:
            await self._write_markers()
        seconds = parse_duration(duration)
        name = self._reach(name or f"sleep:{duration}")
        rec = self._steps.get(name)
        if rec is not None:
            self._check_replay(rec, "sleep", None)
            if rec.status == "done":
                return
        else:
            wake_at = await self._store_now() + seconds
            rec = await _guard(self._host.begin_sleep(self.run_id, name, wake_at))
            self._steps[name] = rec
            if HOOKS.event is not None:
                HOOKS.event("workflow.sleep", {"pikku.step": name, "pikku.seconds": seconds})
        if rec.wake_at is not None:
            await self._wait_until(rec.wake_at, f"sleeping until {rec.wake_at}")
        await _guard(self._host.end_sleep(self.run_id, name))

    # -- timers: the one mechanism of sleeps, retries and timeouts -------------------------------------
    async def _store_now(self) -> float:
        """The store's clock now. A timer's due time is ``await self._store_now() + seconds``, stored."""
        return await _guard(self.clock.now())

    async def _wait_until(self, wake_at: float, reason: str) -> None:
        """Return once the stored time ``wake_at`` has come by the store's clock; until then pause the pass,
        which a replay due at ``wake_at`` resumes (``reason`` says why the run waits)."""
        if await _guard(self.clock.left(wake_at)) > 0:
            raise self._pause(reason, wake_at=wake_at)

    # -- internals ----------------------------------------------------------------------------------
    def _track(self) -> None:
        # Steps reached from tasks the workflow spawned (asyncio.gather) are awaited before the pass ends,
        # so no sibling is still writing state once the run lock is released.
        task = asyncio.current_task()
        if task is not None:
            self.tasks.add(task)

    def _reach(self, name: str) -> str:
        """Ordinal suffixes for a name reached again in one pass (a loop): name, name#1, name#2.

        ``#`` is reserved for them: an explicit ``a#1`` would be the loop's second ``a`` and return its
        value without running.
        """
        if "#" in name or not name.isprintable():
            raise InvalidStepNameError(
                f"step name {name!r} of workflow {self._wf.name!r} contains '#' or a control character",
                hint="'#' numbers the repeats of a name in a loop (name, name#1, ...), and stores refuse control "
                "characters such as NUL: use plain printable names",
            )
        count = self._reached.get(name, 0)
        self._reached[name] = count + 1
        reached = name if count == 0 else f"{name}#{count}"
        if reached not in self._seen:
            self._seen.add(reached)
            if reached in self._recorded:
                self._recorded_seen += 1
            elif self._recorded_seen < len(self._recorded) and not self._warned_insert:
                self._warn_inserted(reached)
        return reached

    async def _still_live(self) -> None:
        """Before a step runs in this process: stop the pass if the run was cancelled meanwhile.

        Called when the pass's knowledge is over LIVENESS_CHECK_S old (a pass of fast steps pays nothing), so a cancel
        takes effect in-process within that time; across processes the next pass finds the run settled.
        """
        if not await _guard(self._host.run_is_live(self.run_id)):
            raise WorkflowAsyncException(self.run_id, "the run was settled elsewhere (cancelled)")
        self._live_at = time.monotonic()

    def _see(self, name: str) -> None:
        if name not in self._seen:
            self._seen.add(name)
            self._recorded_seen += name in self._recorded

    def _recorded_ahead(self) -> bool:
        """Whether steps recorded before this pass remain that it has not reached (O(1): counted)."""
        return self._recorded_seen < len(self._recorded)

    def _warn_inserted(self, name: str) -> None:
        """Warn once per pass when a step with no record comes before recorded ones this pass has not
        reached: code inserted a step under a run in flight, and it runs on this old run now."""
        self._warned_insert = True
        ahead = sorted(self._recorded - self._seen)[:5]
        log.warning(
            "run %s of workflow %s: step %r has no record, but recorded steps %s come after it: a step was "
            "inserted into the workflow's code while this run was in flight, and runs now on this old run",
            self.run_id,
            self._wf.name,
            name,
            ahead,
        )

    def _check_replay(self, rec: StepRecord, form: StepForm, rpc_name: str | None) -> None:
        if rec.form != form or rec.rpc_name != rpc_name:
            raise NonDeterminismError(
                self.run_id, rec.name, _describe(rec.form, rec.rpc_name), _describe(form, rpc_name)
            )

    def _stored_value(self, rec: StepRecord, target: str | Callable[[], Any]) -> Any:
        assert rec.result_json is not None
        tp = get_function(target).output_type if isinstance(target, str) else return_type(target)
        return _serde.decode(rec.result_json, tp, rec.result_type)

    def _call(
        self,
        name: str,
        form: StepForm,
        target: str | Callable[[], Any],
        data: Any,
        rec: StepRecord | None,
        retries: int | None,
        retry_delay: str | float | None,
    ) -> StepCall:
        rpc_name = target if isinstance(target, str) else None
        if rec is not None:
            data_json = rec.data_json
        else:  # an inline-form step has no input of its own (its function closes over what it needs)
            data_json = _serde.encode(data, what=f"input of step {name!r}") if rpc_name else None
        return StepCall(
            wf=self._wf,
            run_id=self.run_id,
            name=name,
            form=form,
            rpc_name=rpc_name,
            fn=None if isinstance(target, str) else target,
            data_json=data_json,
            max_attempts=self._host.max_attempts(self._wf, retries),
            retry_delay=None if retry_delay is None else parse_duration(retry_delay),
            priority=self._run.created_at,
        )

    def _value(self, call: StepCall, outcome: StepOutcome, where: Where) -> Any:
        """What an attempt run in this pass means to the workflow: the value, or a raise."""
        if outcome.kind == "done":
            return outcome.value
        if outcome.kind == "failed":
            raise StepFailedError(self.run_id, call.name, outcome.error)
        if outcome.kind == "retry":
            # An rpc step retries on its queue (its settle replays the run); an inline step in a later pass.
            wake_at = outcome.retry_at if where == "inline" else None
            raise self._pause(f"step {call.name!r} failed; retrying", wake_at=wake_at)
        raise self._pause(f"step {call.name!r} is held or was taken over elsewhere", wake_at=outcome.retry_at)

    async def _remote(self, call: StepCall, rec: StepRecord | None) -> Any:
        name = call.name
        if await self._runs_here(name, rec):
            if time.monotonic() - self._live_at >= LIVENESS_CHECK_S:
                await self._still_live()
            self._local_busy = True
            try:
                outcome = await _guard(self._host.run_step(call, rec, "local"))
            finally:
                self._local_busy = False
            return self._value(call, outcome, "local")
        if rec is not None and rec.status == "running" and self._serves is not None:
            # Maybe a step run inside a pass whose worker died: no job will finish it. Once its lease has
            # run out, a job runs it again (a spare one, if it had a job, is harmless); until then, look
            # again when it can have.
            lease_end = rec.lease_until or 0.0
            if await _guard(self.clock.left(lease_end)) > 0:
                raise self._pause(f"step {name!r} is running elsewhere", wake_at=lease_end + 0.05)
            await _guard(self._host.requeue_step(call))
            raise self._pause(f"step {name!r} was abandoned; queued again")
        if rec is None or rec.status == "pending":
            self._steps[name] = await _guard(self._host.dispatch_step(call))
        raise self._pause(f"waiting for step {name!r}")

    async def _runs_here(self, name: str, rec: StepRecord | None) -> bool:
        """Whether this pass runs the rpc step itself: its worker serves the step's queue, no other local
        step is in flight, and the step has no job that will run it (new, pending, or its lease ran out)."""
        if self._serves is None or self._local_busy or not self._serves(self._wf.step_queue(name)):
            return False
        if rec is None or rec.status == "pending":
            return True
        return rec.status == "running" and await _guard(self.clock.left(rec.lease_until or 0.0)) == 0

    def _pause(self, reason: str, *, wake_at: float | None = None) -> WorkflowAsyncException:
        if wake_at is not None:
            self.wake_at = wake_at if self.wake_at is None else min(self.wake_at, wake_at)
        return WorkflowAsyncException(self.run_id, reason, wake_at=wake_at)


def _marker_name(patch_id: str) -> str:
    if not patch_id or "#" in patch_id:
        raise InvalidStepNameError(f"patch id {patch_id!r} is empty or contains '#'", hint="use a short name")
    return f"patch:{patch_id}"


def _describe(form: str, rpc_name: str | None) -> str:
    return f"an rpc step calling {rpc_name!r}" if form == "rpc" else f"an {form} step"
