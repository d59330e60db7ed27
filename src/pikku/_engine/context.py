"""``services.workflow`` during one replay pass: ``do``, ``sleep``, ``wait_for_event``, ``suspend``,
``call_workflow`` and ``start_workflow``.

A pass starts from the step states read once by the engine. A step already done returns its stored
value; a step not done is dispatched (remote RPC), executed here (inline form, or inline mode), or waited
for, and then the pass pauses by raising :class:`WorkflowAsyncException`. A pass that pauses with nothing
to do but wait (a timer, an event, a child run: see :meth:`WorkflowContext.waiting`) leaves its run
``waiting``.

A kept run (:mod:`pikku._engine.kept`): when the engine drives the workflow so that it may keep it and
the pause comes from the pass's own task with no sibling task alive, the workflow does not raise but waits
where it paused; the pass ends all the same. The next pass of the run on this engine refreshes the waited-on step
and lets the workflow go on from there, instead of replaying every recorded step.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal, Protocol, TypeVar

from pikku import _serde
from pikku._duration import parse_duration
from pikku._engine.calls import StepCall, StepOutcome, Where, return_type
from pikku._engine.children import STARTED, child_error, child_output, child_run_id
from pikku._engine.compensation import error_payload, is_run_compensation, on_error_step, on_failure_step
from pikku._engine.inplace import WaitInPlace
from pikku._engine.storeclock import PassClock
from pikku._errors import (
    ChildWorkflowFailedError,
    InvalidInputError,
    InvalidStepNameError,
    NonDeterminismError,
    PayloadTooLargeError,
    StepFailedError,
    StepSerializationError,
    UnknownRPCError,
    UnknownWorkflowError,
    WorkflowAsyncException,
)
from pikku._hooks import HOOKS
from pikku._logcontext import get_logger
from pikku._records import WAIT_FORMS, ErrorInfo, RunRecord, StepForm, StepRecord
from pikku._registry import WorkflowDef, get_function

T = TypeVar("T")

log = get_logger("pikku.engine")

#: How stale a pass's knowledge that its run is still running may be before a step runs in-process.
LIVENESS_CHECK_S = 0.25

#: What a paused pass waits for, when nothing else holds it up: only timers (sleeps, the timeouts of
#: waits), or something from outside the run (an event, a child run), timers or not.
WaitKind = Literal["timer", "world"]


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

    async def dispatch_step(self, call: StepCall, *, alone: bool = False) -> StepRecord:
        """Put the rpc step and its job in place (once); the step's settle replays the run. ``alone``: the
        step was reached from the pass's own task with no task the workflow spawned alive, so the pause that
        follows ends the pass at once (the engine may then take the step's job, see _engine/handoff.py)."""
        ...

    async def requeue_step(self, call: StepCall) -> None:
        """Queue the job of a step whose runner died (its lease ran out) again."""
        ...

    async def begin_timer(
        self, run_id: str, name: str, wake_at: float | None, *, form: StepForm = "sleep", data_json: str | None = None
    ) -> StepRecord:
        """Record a durable timer step (a sleep, or a wait with its timeout) due at ``wake_at`` (once)."""
        ...

    async def store_now(self) -> float:
        """The store's clock now (:meth:`~pikku.backends.StateStore.now`)."""
        ...

    async def end_timer(self, run_id: str, name: str) -> None:
        """Mark a timer step whose time has come done (a sleep over, a wait timed out: result null)."""
        ...

    async def take_event(self, run_id: str, name: str, event: str) -> StepRecord | None:
        """The waiting step ``name`` takes the oldest event ``event`` sent to the run: the step done, or None."""
        ...

    async def suspend_run(self, run_id: str, name: str, data_json: str) -> bool:
        """Suspend the run, recording its ``suspend`` step ``name`` (once); False if the run was not active."""
        ...

    async def run_is_live(self, run_id: str) -> bool:
        """Whether the run is still running (not cancelled or otherwise settled meanwhile)."""
        ...

    async def record_marker(self, run_id: str, name: str) -> StepRecord:
        """Record a ``marker`` step (a patch taken), done (once)."""
        ...

    async def start_child(self, run: RunRecord, name: str, workflow: str, data: Any, detached: bool) -> StepRecord:
        """Create the child run ``<run id>/<name>`` (once) and record the ``child`` step for it."""
        ...

    async def child_outcome(self, run_id: str, name: str, retry: bool) -> StepRecord | None:
        """The ``child`` step, settled from its child run once that has settled; None while it runs.
        ``retry``: the step is pending again (the run was resumed): a failed or cancelled child is resumed."""
        ...


class BackendFault(BaseException):
    """A store or queue error met inside a pass, carried past user code (which cannot catch it)."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        super().__init__(str(error))


# What the engine raises on purpose for the workflow to see; anything else from the engine is a fault.
_WORKFLOW_FACING = (
    StepFailedError,
    NonDeterminismError,
    UnknownRPCError,
    StepSerializationError,
    PayloadTooLargeError,
    ChildWorkflowFailedError,
    UnknownWorkflowError,
    InvalidInputError,
)


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
        # What waiting() looks at: names seen since it last looked, and those it found unfinished then (a
        # finished step stays finished, so a kept workflow's 1,000th pass does not look at 999 done steps).
        self._seen_since: list[str] = []
        self._maybe_open: set[str] = set()
        # What the pass started with; a run's on_failure steps are reached only on a failure path.
        self._recorded = frozenset(name for name in steps if not is_run_compensation(name))
        self._recorded_seen = 0  # how many of those this pass reached
        self._live_at = time.monotonic()  # when the run was last known to be running (the pass's start)
        self._patches: dict[str, bool] = {}
        self._unwritten_markers: list[str] = []
        self._marker_lock = asyncio.Lock()
        self._warned_insert = False
        self._busy = False  # paused for something other than a wait (a step to run, a retry, a lock)
        #: Set when this pass suspended the run (``suspend``).
        self.suspended = False
        self.wake_at: float | None = None
        self.tasks: set[asyncio.Task[Any]] = set()
        #: Child runs this pass waits for (``call_workflow``): an inline driver drives them itself.
        self.waiting_children: list[str] = []
        #: The task of the pass driving the workflow, set by an engine that may keep it (each pass): a pause
        #: from that task may wait in place (:mod:`pikku._engine.kept`).
        self.main_task: asyncio.Task[Any] | None = None
        #: The step the kept workflow waits on (refreshed from the store at its next pass).
        self.waiting_on: str | None = None
        #: Set when the kept workflow is dropped: every workflow call raises the pause at once, touching nothing.
        self.unwinding = False
        self._ran: set[str] = set()  # steps run in this process (stored by the step runner, not in _steps)

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
        on_error: str | None = None,
    ) -> Any:
        """Run a step once, durably: ``do(name, "rpc.name", data)`` or ``do(name, fn)``.

        With ``on_error="rpc.name"``, when the step fails for good (its retries spent) that rpc runs once,
        as the recorded step ``on_error:<name>``, with ``{"error": {...}, "input": data}``; then the
        StepFailedError propagates as it would without it.
        """
        self._track()
        if self._unwritten_markers:
            await self._write_markers()
        name = self._reach(name)
        try:
            if self.main_task is None:  # it cannot wait in place: the one attempt (the inline driver's hot path)
                return await self._do(name, target, data, retries, retry_delay)
            return await self._until_done(name, lambda: self._do(name, target, data, retries, retry_delay))
        except StepFailedError as failed:
            if on_error is not None:
                await self._compensate(name, on_error, failed, data)
            raise

    async def compensate_run(self, rpc_name: str, error: ErrorInfo, data: Any) -> None:
        """Run ``rpc_name`` once for this run's failure (``wire_workflow(on_failure=)``): the step
        ``on_failure:<episode>``. Pauses like any step while it runs elsewhere; a compensation that fails
        for good is logged, and the run's own failure stands."""
        self._track()
        payload = {"error": error_payload(error), "input": data, "run_id": self.run_id}
        name = on_failure_step(self._run)
        self._see(name)
        try:
            await self._do(name, rpc_name, payload, None, None)
        except StepFailedError as failed:
            log.error("run %s: its on_failure compensation %r failed: %s", self.run_id, rpc_name, failed)

    async def _compensate(self, name: str, rpc_name: str, failed: StepFailedError, data: Any) -> None:
        """The ``on_error`` rpc of step ``name``, once; its own failure is logged (the step's stands)."""
        comp = on_error_step(name)
        self._see(comp)
        payload = {"error": error_payload(failed.error), "input": data}
        try:
            await self._until_done(comp, lambda: self._do(comp, rpc_name, payload, None, None))
        except StepFailedError as again:
            log.error("run %s: the on_error compensation of step %r failed: %s", self.run_id, name, again)

    async def _do(
        self,
        name: str,
        target: str | Callable[[], Any],
        data: Any,
        retries: int | None,
        retry_delay: str | float | None,
    ) -> Any:
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
        outcome = await _guard(self._host.run_step(call, rec, "inline"))
        if self.main_task is not None:  # counted only for a workflow that may be kept
            self._ran_here(name, rec, outcome)
        return self._value(call, outcome, "inline")

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
        await self._until_done(name, lambda: self._sleep(name, seconds))

    async def _sleep(self, name: str, seconds: float) -> None:
        rec = await self._timer("sleep", name, seconds)
        if rec.status == "done":
            return
        if not await self._timer_due(rec):
            raise self._pause(f"sleeping until {rec.wake_at}", wake_at=rec.wake_at)
        await self._end_timer(rec)

    async def wait_for_event(
        self,
        event: str,
        model: Any,
        *,
        timeout: str | float | None = None,
        description: str | None = None,
        name: str | None = None,
    ) -> Any:
        """Wait durably for the event ``event`` sent to this run (``pikku.send_event``) and return its payload
        validated as ``model`` (a pydantic model, dataclass or TypedDict); None once ``timeout`` passed first.

        Each call takes one event of that name, first in, first out; an event sent before the run got here
        waits for it. The timeout is a durable timer like ``sleep``'s; without one the run waits for ever.
        While it waits the run holds no worker and no lock, and its status is ``waiting``.
        """
        self._track()
        if self._unwritten_markers:
            await self._write_markers()
        _check_event_name(event)
        seconds = None if timeout is None else parse_duration(timeout)
        name = self._reach(name or f"event:{event}")
        data_json = _serde.encode({"event": event, "timeout": seconds}, what=f"wait of step {name!r}")
        return await self._until_done(name, lambda: self._wait_for_event(name, event, model, seconds, data_json))

    async def _wait_for_event(self, name: str, event: str, model: Any, seconds: float | None, data_json: str) -> Any:
        rec = await self._timer("event", name, seconds, data_json)
        if rec.status not in ("done", "failed"):
            taken = await _guard(self._host.take_event(self.run_id, name, event))
            if taken is not None:
                rec = self._steps[name] = taken
        if rec.status in ("done", "failed"):
            return _event_value(rec, model)
        if not await self._timer_due(rec):
            raise self._pause(f"waiting for event {event!r}", wake_at=rec.wake_at)
        await self._end_timer(rec)
        return None

    async def suspend(self, reason: str, *, name: str | None = None) -> None:
        """Stop the run here as ``suspended`` until ``pikku.resume_run`` continues it (a hold for a human).

        Recorded as a step, so the replay after the resume passes it.
        """
        self._track()
        if self._unwritten_markers:
            await self._write_markers()
        name = self._reach(name or "suspend")
        rec = self._steps.get(name)
        if rec is not None:
            self._check_replay(rec, "suspend", None)
            return
        data_json = _serde.encode(str(reason), what=f"reason of step {name!r}")
        if not await _guard(self._host.suspend_run(self.run_id, name, data_json)):
            raise self._pause("the run was settled elsewhere (cancelled)", busy=True)
        self.suspended = True
        if HOOKS.event is not None:
            HOOKS.event("workflow.suspend", {"pikku.step": name, "pikku.reason": str(reason)})
        raise WorkflowAsyncException(self.run_id, f"suspended: {reason}")

    def waiting(self) -> WaitKind | None:
        """What this paused pass waits for, when it is only waiting: every step it reached that is not
        finished is a wait (a ``sleep``, ``event`` or ``child`` step it knows the record of) and it paused
        for nothing else. ``"world"`` when one of them waits for an event or a child run, ``"timer"``
        when all are timers; None when something else holds the run up (it stays ``running``)."""
        if self._busy:
            return None
        self._maybe_open.update(self._seen_since)
        self._seen_since.clear()
        open_forms: set[StepForm] = set()
        for name in list(self._maybe_open):
            rec = self._steps.get(name)
            if rec is None:  # no record here: run in this process (finished, or the pass is busy), or never stored
                if name in self._ran:
                    self._maybe_open.discard(name)
            elif rec.status in ("done", "failed"):
                self._maybe_open.discard(name)
            else:
                open_forms.add(rec.form)
        if not open_forms or not open_forms <= WAIT_FORMS:
            return None
        return "timer" if open_forms == {"sleep"} else "world"

    async def _timer(
        self, form: StepForm, name: str, seconds: float | None, data_json: str | None = None
    ) -> StepRecord:
        """The durable timer step ``name`` of a sleep or a wait: its record, made once with its wake-up time
        (``seconds`` from now; None: no timer) and checked against the code on a replay."""
        rec = self._steps.get(name)
        if rec is not None:
            self._check_replay(rec, form, None)
            return rec
        wake_at = None if seconds is None else await self._store_now() + seconds
        rec = await _guard(self._host.begin_timer(self.run_id, name, wake_at, form=form, data_json=data_json))
        self._steps[name] = rec
        if HOOKS.event is not None:
            HOOKS.event(
                f"workflow.{'sleep' if form == 'sleep' else 'wait_for_event'}",
                {"pikku.step": name, "pikku.seconds": seconds},
            )
        return rec

    async def _end_timer(self, rec: StepRecord) -> None:
        await _guard(self._host.end_timer(self.run_id, rec.name))
        self._steps[rec.name] = dataclasses.replace(rec, status="done", result_json="null")

    async def _timer_due(self, rec: StepRecord) -> bool:
        """Whether a timer step's time has come by the store's clock (one without a wake-up time never does)."""
        return rec.wake_at is not None and await _guard(self.clock.left(rec.wake_at)) == 0

    async def call_workflow(self, name: str, workflow: str, data: Any = None, *, description: str | None = None) -> Any:
        """Run the wired workflow ``workflow`` as a child and return its output (a durable wait: the pass
        pauses, holding no worker or lock, until the child settles). The child's run id is
        ``<this run id>/<name>``. ChildWorkflowFailedError when the child failed (its error code and
        message on it), ChildWorkflowCancelledError (a subclass) when it was cancelled."""
        name = self._reach_child(name)
        return await self._until_done(name, lambda: self._call_workflow(name, workflow, data))

    async def _call_workflow(self, name: str, workflow: str, data: Any) -> Any:
        rec = await self._child_step(name, workflow, data, detached=False)
        if rec.status in ("scheduled", "pending"):  # pending: failed before, and the run was resumed since
            settled = await _guard(self._host.child_outcome(self.run_id, rec.name, rec.status == "pending"))
            if settled is None:
                self.waiting_children.append(child_run_id(self.run_id, rec.name))
                raise self._pause(f"waiting for child run {child_run_id(self.run_id, rec.name)!r}")
            self._steps[rec.name] = rec = settled
        if rec.status == "failed":
            raise child_error(self.run_id, rec)
        return child_output(rec, workflow)

    async def start_workflow(
        self, name: str, workflow: str, data: Any = None, *, description: str | None = None
    ) -> Any:
        """Start the wired workflow ``workflow`` as a child without waiting for it; its handle (a
        ``WorkflowHandle``). The child's run id is ``<this run id>/<name>``, so it starts once."""
        rec = await self._child_step(self._reach_child(name), workflow, data, detached=True)
        child = child_run_id(self.run_id, rec.name)
        return HOOKS.handle(workflow, child) if HOOKS.handle is not None else child

    def _reach_child(self, name: str) -> str:
        self._track()
        return self._reach(name)

    async def _child_step(self, name: str, workflow: str, data: Any, *, detached: bool) -> StepRecord:
        """The ``child`` step ``name`` (reached already): the recorded one (checked against what the code
        does now), or a new one with its child run started. A first ``call_workflow`` pauses right after."""
        if self._unwritten_markers:
            await self._write_markers()
        rec = self._steps.get(name)
        if rec is not None:
            self._check_replay(rec, "child", workflow)
            if (rec.result_type == STARTED) != detached:
                ways = ("a started child step", "a child step waited for")
                raise NonDeterminismError(self.run_id, name, ways[not detached], ways[detached])
            return rec
        rec = await _guard(self._host.start_child(self._run, name, workflow, data, detached))
        self._steps[name] = rec
        if HOOKS.event is not None:
            kind = "start_workflow" if detached else "call_workflow"
            HOOKS.event(f"workflow.{kind}", {"pikku.step": name, "pikku.child_run_id": child_run_id(self.run_id, name)})
        if not detached and rec.status == "scheduled":
            self.waiting_children.append(child_run_id(self.run_id, name))
            raise self._pause(f"started child run {child_run_id(self.run_id, name)!r}")
        return rec

    # -- timers: the one mechanism of sleeps, retries and timeouts -------------------------------------
    async def _store_now(self) -> float:
        """The store's clock now. A timer's due time is ``await self._store_now() + seconds``, stored."""
        return await _guard(self.clock.now())

    async def _wait_until(self, wake_at: float, reason: str) -> None:
        """Return once the stored time ``wake_at`` has come by the store's clock; until then pause the pass,
        which a replay due at ``wake_at`` resumes (``reason`` says why the run waits)."""
        if await _guard(self.clock.left(wake_at)) > 0:
            raise self._pause(reason, wake_at=wake_at)

    # -- kept runs (see the module docstring) --------------------------------------------------------
    async def _until_done(self, name: str, attempt: Callable[[], Awaitable[T]]) -> T:
        """``attempt()`` (the part of a workflow call after its step is reached), again after each pause
        this workflow may wait out in place: a later pass refreshes step ``name`` and lets it go on."""
        while True:
            try:
                return await attempt()
            except WorkflowAsyncException:
                if self.main_task is None:
                    raise
                # One loop turn first: a task the workflow just spawned gets to reach its first step (and
                # be tracked) before the choice, as it would while a replayed pause unwinds.
                await asyncio.sleep(0)
                if not self._may_wait_in_place():
                    raise
            await self._wait_in_place(name)

    def _may_wait_in_place(self) -> bool:
        """Whether a pause may keep this workflow alive: the engine drives it so that it may keep it, the
        pause comes from the pass's own task, and no task the workflow spawned is still alive (those would
        run unlocked)."""
        main = self.main_task
        if main is None or self.suspended or self.unwinding or asyncio.current_task() is not main:
            return False
        # A sibling that ended in a pause (or a fault, or cancelled) leaves a step whose change no count shows.
        return all(t.done() and _ended_cleanly(t) for t in self.tasks if t is not main)

    def _alone(self) -> bool:
        """Whether this call comes from the pass's own task (a worker's job pass) with no task the workflow
        spawned still alive: nothing else of the pass goes on while the call waits."""
        main = self.main_task
        if main is None or asyncio.current_task() is not main:
            return False
        return all(t.done() for t in self.tasks if t is not main)

    async def _wait_in_place(self, name: str) -> None:
        self.waiting_on = name
        try:
            await WaitInPlace()  # the pass ends here as if the pause had been raised; a later pass goes on
        except BaseException:
            # Dropped, or closed by the collector: no pass holds the lock, so nothing may be written.
            self.unwinding = True
            raise
        if self.unwinding:
            raise WorkflowAsyncException(self.run_id, "the kept workflow was dropped")

    def _ran_here(self, name: str, rec: StepRecord | None, outcome: StepOutcome) -> None:
        """A step this pass ran is stored; a record of it read before (a retry) is stale once it settled."""
        self._ran.add(name)
        if rec is not None and outcome.kind in ("done", "failed"):
            self._steps.pop(name, None)

    def stored_step_count(self) -> int:
        """How many steps the store holds for the run, as this workflow knows them (the kept run's check)."""
        return len(self._steps) + sum(1 for name in self._ran if name not in self._steps)

    def driven_by(self, task: asyncio.Task[Any] | None) -> None:
        """The pass in ``task`` drives the workflow now (each pass: a kept workflow moves from task to task;
        the last pass's task is no sibling of this pass, whatever it does now)."""
        if self.main_task is not None:
            self.tasks.discard(self.main_task)
        # Siblings that ended cleanly are done with (a kept workflow's passes would pile them up).
        self.tasks = {t for t in self.tasks if not t.done()}
        self.main_task = task

    def next_pass(
        self, run: RunRecord, steps: dict[str, StepRecord], serves: Callable[[str], bool] | None, clock: PassClock
    ) -> None:
        """Make a kept workflow's context ready for its next pass (``steps``: the refreshed waited-on steps);
        the engine then drives the workflow on from where it waits."""
        self._run, self._serves, self.clock = run, serves, clock
        self._steps.update(steps)
        self._live_at = time.monotonic()
        self.wake_at, self._busy, self._local_busy, self.waiting_children = None, False, False, []

    # -- internals ----------------------------------------------------------------------------------
    def _track(self) -> None:
        if self.unwinding:  # a dropped kept workflow: it holds no lock, so it may not touch the run
            raise WorkflowAsyncException(self.run_id, "the kept workflow was dropped")
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
            self._seen_since.append(reached)
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
            raise self._pause("the run was settled elsewhere (cancelled)", busy=True)
        self._live_at = time.monotonic()

    def _see(self, name: str) -> None:
        if name not in self._seen:
            self._seen.add(name)
            self._seen_since.append(name)
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
            raise self._pause(f"step {call.name!r} failed; retrying", wake_at=wake_at, busy=True)
        raise self._pause(
            f"step {call.name!r} is held or was taken over elsewhere", wake_at=outcome.retry_at, busy=True
        )

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
            self._ran_here(name, rec, outcome)
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
            self._steps[name] = await _guard(self._host.dispatch_step(call, alone=self._alone()))
        raise self._pause(f"waiting for step {name!r}")

    async def _runs_here(self, name: str, rec: StepRecord | None) -> bool:
        """Whether this pass runs the rpc step itself: its worker serves the step's queue, no other local
        step is in flight, and the step has no job that will run it (new, pending, or its lease ran out)."""
        if self._serves is None or self._local_busy or not self._serves(self._wf.step_queue(name)):
            return False
        if rec is None or rec.status == "pending":
            return True
        return rec.status == "running" and await _guard(self.clock.left(rec.lease_until or 0.0)) == 0

    def _pause(self, reason: str, *, wake_at: float | None = None, busy: bool = False) -> WorkflowAsyncException:
        """The pause to raise. ``busy``: the pass pauses for work that is not a wait, whatever steps it knows
        of (see :meth:`waiting`)."""
        if wake_at is not None:
            self.wake_at = wake_at if self.wake_at is None else min(self.wake_at, wake_at)
        self._busy = self._busy or busy
        return WorkflowAsyncException(self.run_id, reason, wake_at=wake_at)


def _ended_cleanly(task: asyncio.Task[Any]) -> bool:
    """A done task that returned or raised an ordinary exception (not a pause, a fault, a cancellation)."""
    if task.cancelled():
        return False
    exc = task.exception()
    return exc is None or isinstance(exc, Exception)


def _check_event_name(event: str) -> None:
    if not isinstance(event, str) or not event or not event.isprintable():
        raise InvalidStepNameError(
            f"event name {event!r} is empty, not a string, or holds a control character",
            hint='name events with short printable literals: workflow.wait_for_event("approval", Approval)',
        )


def _event_value(rec: StepRecord, model: Any) -> Any:
    """What a finished wait returns: the event's payload as ``model``, or None for a wait that timed out."""
    if rec.result_json is None or rec.result_json == "null":
        return None
    return _serde.decode(rec.result_json, model)


def _marker_name(patch_id: str) -> str:
    if not patch_id or "#" in patch_id:
        raise InvalidStepNameError(f"patch id {patch_id!r} is empty or contains '#'", hint="use a short name")
    return f"patch:{patch_id}"


def _describe(form: str, rpc_name: str | None) -> str:
    if form == "rpc":
        return f"an rpc step calling {rpc_name!r}"
    if form == "child":
        return f"a child step running workflow {rpc_name!r}"
    return f"an {form} step"
