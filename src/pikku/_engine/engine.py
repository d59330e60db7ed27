"""The engine: starts runs, replays them under the run lock, executes steps, hands off between workers.

Remote mode: the orchestrator job replays the run; an RPC step not done yet is inserted, its job enqueued
and the step marked scheduled, then the pass pauses. The step worker claims the step, runs the rpc, and
stores the result together with the orchestrator hand-off (one transaction where the backend allows).
Inline mode: the caller of ``start`` drives the passes itself and every step runs in its process.
Events: ``send_event`` keeps the event for the run and wakes it (its orchestrator job, keyed by run); the
pass that reaches the ``wait_for_event`` takes it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

import pydantic

from pikku import _clock, _serde
from pikku._engine import retry as retry_policy
from pikku._engine.calls import StepCall
from pikku._engine.children import Children, cascade_reason
from pikku._engine.context import BackendFault, WaitKind, WorkflowContext
from pikku._engine.events import event_payload_json
from pikku._engine.handoff import Opened, PassTakes, Taken
from pikku._engine.inplace import WorkflowDriver
from pikku._engine.jobcheck import problem_with
from pikku._engine.jobs import orchestrate_job
from pikku._engine.kept import KeptRun, KeptRuns
from pikku._engine.leases import LeaseKeeper
from pikku._engine.steps import StepRunner, current_step
from pikku._engine.storeclock import PassClock
from pikku._errors import (
    InvalidOutputError,
    RunIdInUseError,
    RunNotFoundError,
    RunSettledError,
    RunTimeoutError,
    StepFailedError,
    StepNotFoundError,
    UnknownRPCError,
    UnknownWorkflowError,
    WorkflowAsyncException,
    WorkflowCancelled,
)
from pikku._logcontext import get_logger, log_context
from pikku._records import (
    ACTIVE_RUN_STATUSES,
    SETTLED_RUN_STATUSES,
    Enqueue,
    ErrorInfo,
    Job,
    NewStep,
    RunRecord,
    StepForm,
    StepRecord,
    Take,
)
from pikku._registry import WorkflowDef, get_function, get_workflow
from pikku._services import RPC, Services, call_workflow, validate_input
from pikku.backends import Backend, JobQueue, StateStore

log = get_logger("pikku.engine")

#: How often an inline run's driver, asleep until a timer, looks whether the run was cancelled meanwhile.
INLINE_CANCEL_CHECK_S = 1.0

#: Whether the worker running a pass serves a queue (so it can run that queue's steps itself).
Serves = Callable[[str], bool]


@dataclass(slots=True)
class Settings:
    """Engine timings and limits; defaults suit production, tests shorten them."""

    run_lock_lease: float = 30.0
    step_lease: float = 30.0
    lock_busy_delay: float = 0.05
    inline_watchdog: float = 60.0
    default_retries: int = retry_policy.DEFAULT_RETRIES
    payload_limit: int = _serde.DEFAULT_PAYLOAD_LIMIT
    #: A worker that serves a remote rpc step's queue runs the step itself, inside the pass that reached
    #: it, instead of a queue job and a hand-off (``local`` in :mod:`pikku._engine.steps`). Off: every remote
    #: step goes through its queue.
    local_steps: bool = True
    #: A job delivered more often than this (its worker died each time, or nothing here can handle it)
    #: is dead-lettered instead of looping forever (``pikku jobs dead`` lists it).
    max_deliveries: int = 25
    #: How many paused workflows this engine keeps alive for their run's next pass (:mod:`pikku._engine.kept`;
    #: 0: none, every pass replays from the top), and for how long each waits for that pass (seconds).
    kept_runs: int = 1000
    kept_idle: float = 60.0
    #: A worker that writes a job for a queue it serves (a step's hand-off to its run's next pass, a pass's
    #: dispatch of a step) writes it claimed by itself and goes on with it in the same slot
    #: (:mod:`pikku._engine.handoff`). Off: every job waits on its queue for a claim.
    local_handoff: bool = True


@dataclass(frozen=True, slots=True)
class Started:
    """A start: the run's id, and whether this call created it (False: it existed, nothing was done)."""

    run_id: str
    created: bool


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one orchestration attempt ended."""

    kind: Literal["completed", "failed", "cancelled", "suspended", "paused", "settled", "busy", "missing"]
    #: When a paused run wants its next pass, by the store's clock (a sleep, a retry), or None.
    wake_at: float | None = None
    #: Seconds from the end of the pass until then, measured on the store's clock (an inline driver
    #: sleeps that long; a wake-up job is delayed that long).
    wake_in: float | None = None
    #: The job that drove the pass was acknowledged with the run lock's release (``ack=`` of orchestrate).
    acked: bool = False
    #: The child runs a paused pass waits for (``workflow.call_workflow``): an inline driver drives them.
    children: tuple[str, ...] = ()
    #: A pause with nothing to do but wait (its run is left ``waiting``): for timers only, or for the world.
    waiting: WaitKind | None = None
    #: The pass paused in a failed run's ``on_failure`` compensation (past a timeout, no deadline wake).
    compensating: bool = False
    #: The job this pass wrote claimed by its worker (a local hand-off), to process next.
    taken: Taken | None = None


#: What :meth:`Engine.handle_job` returns when the job was acknowledged by the transition that ended its
#: work: the worker must not ack or release it again.
ACKED: Final = "acked"
#: How a job ended: None (ack it), seconds (release it for another look after that delay), ACKED, or
#: Taken: acknowledged, and the job its work wrote claimed by this worker is to be processed next.
Disposition = float | Literal["acked"] | Taken | None


class Engine:
    """Runs workflows against one backend with one set of app services."""

    def __init__(
        self,
        backend: Backend,
        app_services: Any = None,
        settings: Settings | None = None,
        owner: str | None = None,
    ) -> None:
        self.backend = backend
        self.transitions = backend.transitions
        self.app = app_services
        self.settings = settings or Settings()
        self.owner = owner or f"pikku-{uuid.uuid4().hex[:12]}"
        self.rpc = RPC(app_services)
        self.steps: StepRunner = StepRunner(
            backend.state,
            self.transitions,
            app_services,
            self.owner,
            self.settings.step_lease,
            self.settings.payload_limit,
        )
        self.children = Children(self)
        #: Paused workflows kept alive for their run's next pass on this engine.
        self.kept = KeptRuns(self.settings.kept_runs, self.settings.kept_idle)
        # Runs with a pass in progress in this engine. The run lock is re-entrant for its owner (renewals,
        # an inline driver), so without this two hand-offs of one run claimed by one worker would replay
        # it at the same time under the same owner.
        # Each maps to a future done when that pass ends (a hand-off claimed while it ends waits for it).
        self._passing: dict[str, asyncio.Future[None]] = {}
        #: What the pass of each run in progress here may take of the jobs it writes (a worker's job passes).
        self._takes: dict[str, PassTakes] = {}
        #: Coroutines a worker on this engine awaits every ``Worker.sample_interval`` (each reads something
        #: from the store for a metric: OpenTelemetry's runs-by-status gauge).
        self.samplers: list[Callable[[], Awaitable[None]]] = []

    @property
    def state(self) -> StateStore:
        """The backend's state store."""
        return self.backend.state

    @state.setter
    def state(self, store: StateStore) -> None:
        # Swapped everywhere it is held at once (tests wrap the store to count calls or inject faults).
        self.backend.state = self.transitions.state = self.steps.state = store

    @property
    def queue(self) -> JobQueue:
        """The backend's job queue."""
        return self.backend.queue

    @queue.setter
    def queue(self, queue: JobQueue) -> None:
        self.backend.queue = self.transitions.queue = queue

    def max_attempts(self, wf: WorkflowDef, retries: int | None) -> int:
        """The one resolved attempt budget: step setting, else workflow default, else engine default."""
        for value in (retries, wf.retries, self.settings.default_retries):
            if value is not None:
                return max(0, value) + 1
        return 1

    # -- starting -------------------------------------------------------------------------------------
    async def start(self, workflow: str, data: Any, *, run_id: str | None = None) -> str:
        """Validate input, create the run, and queue it (remote) or drive it to the end (inline)."""
        return (await self.start_run(workflow, data, run_id=run_id)).run_id

    async def start_run(self, workflow: str, data: Any, *, run_id: str | None = None, drive: bool = True) -> Started:
        """:meth:`start`, idempotent for a given ``run_id``: a second start with an id that exists
        returns that run (``created`` False) and creates nothing, whatever its input; an id of another
        workflow's run is RunIdInUseError. ``drive`` False: an inline run is not driven by the caller but
        queued for a worker like a remote run's first pass (a schedule's tick starts runs so)."""
        wf = get_workflow(workflow)
        value = validate_input(wf.function, data)
        input_json = _serde.encode(
            value, wf.function.input_type, what=f"input of workflow {workflow!r}", limit=self.settings.payload_limit
        )
        run_id = run_id or uuid.uuid4().hex
        here = drive and wf.execution_mode == "inline"
        # Remote: the orchestrator job. Inline: a delayed watchdog job, so that a worker finishes the run
        # if this process dies while driving it (it finds the run settled and does nothing otherwise).
        delay = self.settings.inline_watchdog if here else 0.0
        # No priority of our own: the queue's due time (its clock, not this worker's) stands for the start.
        first = orchestrate_job(wf, run_id, None, delay)
        # An inline run is created already locked by its driver: one round trip fewer per run.
        owner = self.owner if here else None
        lease = self.settings.run_lock_lease
        try:
            created = await self.transitions.create_run(
                run_id, workflow, input_json, first_job=first, lock_owner=owner, lock_lease=lease
            )
        except ValueError:  # the id exists (the store's conditional insert decides races between starts)
            existing = await self.state.get_run(run_id)
            if existing.workflow != workflow:
                raise RunIdInUseError(run_id, existing.workflow, workflow) from None
            if existing.status == "running" and not await self.state.get_steps(run_id):
                # A retried start whose first start may have died before enqueueing (write-then-enqueue):
                # its job again; keyed by run, it merges into the first one if that one is there.
                await self.put(first)
            return Started(run_id, created=False)
        if here:
            await self.drive_inline(run_id, fresh=created)
        return Started(run_id, created=True)

    async def drive_inline(self, run_id: str, *, fresh: RunRecord | None = None) -> Outcome:
        """Replay until the run settles, sleeping in-process through durable sleeps and retry delays."""
        while True:
            outcome = await self.orchestrate(run_id, fresh=fresh)
            fresh = None
            if outcome.kind in ("completed", "failed", "cancelled", "suspended", "settled", "missing"):
                return outcome
            if outcome.children:  # no worker may be there to run them: drive them here, then go on
                driven = [await self.drive_inline(child) for child in outcome.children]
                if all(d.kind in ("completed", "failed", "cancelled", "settled", "missing") for d in driven):
                    continue
                return outcome  # a child waits for the world (an event, a resume): its settle wakes this run
            if outcome.waiting == "world":
                # Waiting for an event: the send wakes it through its queue, and a worker takes it from
                # there; its timeout, if any, is a delayed job too.
                return outcome
            if outcome.kind == "busy":
                await asyncio.sleep(self.settings.lock_busy_delay)
            elif outcome.wake_in is not None:
                await self._sleep_unless_settled(run_id, outcome.wake_in)
            else:  # waiting on a step someone else runs (the run was started in remote mode)
                await asyncio.sleep(0.1)

    async def _sleep_unless_settled(self, run_id: str, seconds: float) -> None:
        """Sleep ``seconds``, looking at the run every INLINE_CANCEL_CHECK_S: a cancelled run's driver
        returns then, not at the end of a long sleep."""

        async def still_running() -> bool:
            return (await self.state.get_run(run_id)).status in ACTIVE_RUN_STATUSES

        await _clock.sleep_watching(seconds, still_running, INLINE_CANCEL_CHECK_S)

    # -- orchestration ---------------------------------------------------------------------------------
    async def orchestrate(
        self,
        run_id: str,
        *,
        fresh: RunRecord | None = None,
        serves: Serves | None = None,
        ack: Job | None = None,
        keep: bool = False,
        opened: Opened | None = None,
        job_lease: float | None = None,
    ) -> Outcome:
        """One replay pass under the run lock; settled runs are left alone without taking the lock.

        ``fresh`` is the record of a run this engine has just created holding its lock: it has no steps
        yet, so the first pass skips taking the lock and reading the run and its steps. ``serves`` tells
        which step queues the calling worker serves: their rpc steps run inside this pass. ``ack`` is the
        job driving the pass: a pass that pauses with nothing to wake it acknowledges it with the lock's
        release (``Outcome.acked``). ``keep``: the pass runs in a task that ends with it (a worker's job), so
        its workflow may wait in place for the run's next pass here (:mod:`pikku._engine.kept`); a task that
        goes on (an inline driver, a caller) would have a workflow's own timeouts and task groups, which
        belong to the task they were entered in, act on whatever that task does later. ``opened``: the run
        as the settle that handed off to this pass locked it (see :class:`~pikku._engine.handoff.Opened`).
        ``job_lease``: how long the calling worker leases its jobs (a step job this pass takes gets it).
        """
        if run_id in self._passing:
            opened = None  # a pass here came first: the lock is that pass's, what the settle read is stale
            if not await self._after_pass_here(run_id):
                return Outcome("busy")
        self._passing[run_id] = ended = asyncio.get_running_loop().create_future()
        takes = self._pass_takes(serves, job_lease) if keep else None
        if takes is not None:
            self._takes[run_id] = takes
        try:
            outcome = await self._orchestrate(run_id, fresh, serves, ack, keep and self.kept.enabled, opened)
        except BaseException:
            if takes is not None and takes.taken is not None:  # nobody will process it: give it back now
                await self._give_back_quietly(takes.taken)
            raise
        finally:
            del self._passing[run_id]
            self._takes.pop(run_id, None)
            ended.set_result(None)
        if takes is not None and takes.taken is not None:
            outcome = dataclasses.replace(outcome, taken=takes.taken)
        return outcome

    async def give_back(self, taken: Taken) -> None:
        """A job this worker took that it will not process (it is stopping, or its pass failed): released now
        for another worker, with what was taken with it: the step's claim (its lease ended now) and the run
        lock the settle took, unless a pass of the run here holds that lock now."""
        await self.queue.release(taken.job)
        if taken.step is not None and taken.step.lease_owner == self.owner:
            await self.state.renew_step_lease(taken.step.run_id, taken.step.name, self.owner, 0.0)
        if taken.opened is not None and taken.opened.run.run_id not in self._passing:
            await self.transitions.release_run_lock(taken.opened.run.run_id, self.owner)

    async def _give_back_quietly(self, taken: Taken) -> None:
        try:
            await self.give_back(taken)
        except Exception as exc:  # its leases run out instead
            log.warning("could not give back job %s taken by this worker (%s)", taken.job.id, exc)

    def take_for(self, serves: Serves | None, queue: str, job_lease: float | None = None) -> Take | None:
        """How this worker takes a job it writes on ``queue`` (a local hand-off), leased ``job_lease`` (the
        worker's job lease, which its lease keeper renews), or None: not a worker's job, the queue not
        served here, or ``local_handoff`` off."""
        if serves is None or not self.settings.local_handoff or not serves(queue):
            return None
        return self._take(job_lease)

    def _pass_takes(self, serves: Serves | None, job_lease: float | None) -> PassTakes | None:
        if serves is None or not self.settings.local_handoff:
            return None
        return PassTakes(serves, self._take(job_lease))

    def _take(self, job_lease: float | None) -> Take:
        """This worker's take: its jobs leased as its worker leases them (``step_lease`` when unknown)."""
        return Take(self.owner, job_lease or self.settings.step_lease)

    async def _after_pass_here(self, run_id: str) -> bool:
        """Wait up to ``lock_busy_delay`` for this engine's pass of the run to end; whether it ended and no
        other waiter took the run first. A step's hand-off often arrives while the pass that dispatched the
        step is still releasing the lock: waiting for that here spares the job a release and a new claim."""
        await asyncio.wait((self._passing[run_id],), timeout=self.settings.lock_busy_delay)
        return run_id not in self._passing

    async def _orchestrate(
        self,
        run_id: str,
        fresh: RunRecord | None,
        serves: Serves | None,
        ack: Job | None,
        keep: bool,
        opened: Opened | None,
    ) -> Outcome:
        kept = self.kept.take(run_id)
        try:
            return await self._orchestrate_opened(run_id, fresh if opened is None else opened, serves, ack, keep, kept)
        finally:
            # Whatever ended this pass: a kept workflow it took and did not keep again is dropped (never left
            # for the collector, whose close would run the workflow's ``finally`` with no lock held).
            if kept is not None and not self.kept.holds(kept):
                self.kept.drop(kept)

    async def _orchestrate_opened(
        self,
        run_id: str,
        start: RunRecord | Opened | None,
        serves: Serves | None,
        ack: Job | None,
        keep: bool,
        kept: KeptRun | None,
    ) -> Outcome:
        opened = await self._open(run_id, start, kept)
        if isinstance(opened, Outcome):
            return opened
        run, steps, kept = opened
        lease = self.settings.run_lock_lease
        renewer = LeaseKeeper(
            lambda: self.state.renew_run_lock(run_id, self.owner, lease), lease, f"run lock of {run_id}"
        )
        outcome, passed = Outcome("paused"), False
        wf = get_workflow(run.workflow)
        clock = PassClock(self.state.now)  # the store's time, read once if this pass meets a timer
        try:
            with log_context(run_id=run_id, workflow=run.workflow, step=None, attempt=None):
                if wf.timeout is None:
                    outcome = await self._pass(run, steps, serves, clock, kept, keep)
                else:
                    outcome = await self._timed_pass(wf, run, steps, serves, clock, kept, keep)
            passed = True
        finally:
            renewer.cancel()
            if renewer.lost:  # another owner may have passed the run meanwhile: what this pass kept is moot
                self.kept.discard(run_id)
            if outcome.kind not in ("completed", "failed", "cancelled"):  # settling the run released the lock
                # A pass that pauses with a wake-up job still to put keeps its job until that is put.
                merge = passed and ack is not None and outcome.kind == "paused" and outcome.wake_at is None
                waiting = passed and outcome.waiting is not None
                await self._release(run_id, ack if merge else None, waiting)
                if merge:
                    outcome = dataclasses.replace(outcome, acked=True)
        wake_at = outcome.wake_at if outcome.kind == "paused" else None
        deadline = None if wf.timeout is None else run.updated_at + wf.timeout
        # A pass at the deadline, whatever else waits (not while the timed-out run's compensation runs).
        past_deadline = deadline is not None and await clock.left(deadline) == 0
        if outcome.kind == "paused" and deadline is not None and not (outcome.compensating and past_deadline):
            wake_at = min(wake_at or float("inf"), deadline)
        if wake_at is None:
            return outcome
        wake_in = await clock.left(wake_at)  # a duration: the queue adds it to its own clock
        await self.put(orchestrate_job(wf, run_id, run.created_at, wake_in))  # keyed: merges with one waiting
        return dataclasses.replace(outcome, wake_at=wake_at, wake_in=wake_in)

    async def _release(self, run_id: str, ack: Job | None, waiting: bool) -> None:
        """Release the run lock (with ``ack``), writing with it the step dispatch the pass deferred."""
        takes = self._takes.get(run_id)
        pending = None if takes is None else takes.pending
        if takes is None or pending is None:
            await self.transitions.release_run_lock(run_id, self.owner, ack=ack, waiting=waiting)
            return
        takes.pending = None
        began = time.monotonic()
        rec, job = await self.transitions.release_run_lock_dispatching(
            run_id, self.owner, ack=ack, waiting=waiting, step=pending.step, job=pending.job, take=pending.take
        )
        takes.took(job, rec, began)
        if job is None and rec.status == "running" and rec.lease_owner == self.owner:
            # Claimed by this worker, yet no job came back: the write applied and its reply was lost (the
            # driver's retry found the step). Its job is leased to nobody who knows it: end the claim and
            # queue the step again rather than wait both leases out.
            await self.state.renew_step_lease(run_id, rec.name, self.owner, 0.0)
            await self.transitions.enqueue(pending.job)

    async def _open(
        self, run_id: str, start: RunRecord | Opened | None, kept: KeptRun | None
    ) -> tuple[RunRecord, dict[str, StepRecord], KeptRun | None] | Outcome:
        """The run and its steps under the run lock, with the kept workflow to go on with if it is still
        valid (``steps`` then holds only the step it waits on), or how the pass ends before it starts.

        ``start``: the run just created holding its lock (no steps yet), or as the settle that handed off
        to this pass locked it (used when it fits the kept workflow; else the lock, ours, is taken again).
        """
        if isinstance(start, RunRecord):
            return start, {}, None
        steps: dict[str, StepRecord] | None
        try:
            if start is not None and start.fits(kept):
                run, steps = start.run, {start.step.name: start.step}
            else:
                run, steps, kept = await self._lock(run_id, kept)
        except RunNotFoundError:
            return Outcome("missing")
        ended = await self._ended_before(run, steps)
        if ended is not None or steps is None:
            return ended or Outcome("busy")  # a kept workflow taken goes in _orchestrate
        return run, steps, kept

    async def _lock(
        self, run_id: str, kept: KeptRun | None
    ) -> tuple[RunRecord, dict[str, StepRecord] | None, KeptRun | None]:
        """The lock, the run and its steps, in one round trip where the backend allows: every step, or, for
        a kept run still valid, the step its workflow waits on (None as the kept run when it is not valid:
        every step is read for a replay, and _orchestrate drops it)."""
        lease = self.settings.run_lock_lease
        if kept is None:
            run, steps = await self.state.lock_run(run_id, self.owner, lease)
            return run, steps, None
        names = () if kept.ctx.waiting_on is None else (kept.ctx.waiting_on,)
        run, steps, whole = await self.state.lock_run_kept(
            run_id, self.owner, lease, step_count=kept.step_count, names=names
        )
        if steps is None or (not whole and kept.still_valid(run)):
            return run, steps, kept
        if not whole:  # resumed meanwhile (same steps, new episode): read them all for the replay
            run, steps = await self.state.lock_run(run_id, self.owner, lease)
        return run, steps, None

    async def _ended_before(self, run: RunRecord, steps: dict[str, StepRecord] | None) -> Outcome | None:
        """How a pass ends before it starts (the run settled or suspended, the lock held elsewhere, a parent
        cancelled), or None."""
        if run.status in SETTLED_RUN_STATUSES or run.status == "suspended":
            return Outcome("settled")  # until settled, or resumed (resume_run queues the next pass)
        if steps is None:
            return Outcome("busy")
        if await self.children.parent_cancelled(run):  # a child its parent's cancel missed: cancelled now
            await self.children.cancel(run.run_id, cascade_reason(run.parent_run_id or ""))
            return Outcome("cancelled")
        return None

    async def _timed_pass(
        self,
        wf: WorkflowDef,
        run: RunRecord,
        steps: dict[str, StepRecord],
        serves: Serves | None,
        clock: PassClock,
        kept: KeptRun | None,
        keep: bool,
    ) -> Outcome:
        """A pass of a workflow with a ``timeout``: past the deadline (from the run's start or last resume)
        the run fails, and a pass still running at the deadline is cancelled first."""
        assert wf.timeout is not None
        left = await clock.left(run.updated_at + wf.timeout)  # updated_at is the store's time: so is the deadline
        if left > 0:
            # Only this deadline counts: a TimeoutError of anything inside the pass propagates as itself.
            deadline = asyncio.timeout(left)
            try:
                async with deadline:
                    return await self._pass(run, steps, serves, clock, kept, keep)
            except TimeoutError:
                if not deadline.expired():
                    raise
        if kept is not None:  # its pass read only the step it waits on: the failure path reads them all
            steps = await self.state.get_steps(run.run_id)
        error = retry_policy.error_info(RunTimeoutError(run.run_id, wf.name, wf.timeout))
        local = serves if self.settings.local_steps else None
        return await self._fail(WorkflowContext(_Host(self), wf, run, steps, local), run, error)

    async def put(self, job: Enqueue) -> None:
        """Enqueue a job (a wake-up, a recovered step)."""
        await self.transitions.enqueue(job)

    async def _pass(
        self,
        run: RunRecord,
        steps: dict[str, StepRecord] | None = None,
        serves: Serves | None = None,
        clock: PassClock | None = None,
        kept: KeptRun | None = None,
        keep: bool = False,
    ) -> Outcome:
        """One pass, in this task: the workflow called anew, replaying ``steps``, or the ``kept`` workflow
        going on from where it waits (``steps`` then holds the refreshed step it waits on)."""
        wf = get_workflow(run.workflow)
        clock = clock or PassClock(self.state.now)
        local = serves if self.settings.local_steps else None
        if kept is not None:
            ctx, driver = kept.ctx, kept.driver
            ctx.next_pass(run, steps or {}, local, clock)
            driver.follow()
        else:
            if steps is None:
                steps = await self.state.get_steps(run.run_id)
            ctx = WorkflowContext(_Host(self), wf, run, steps, local, clock)
            services = Services(self.app, rpc=self.rpc, workflow=ctx)
            driver = WorkflowDriver(_run_workflow(wf, run, services), keeps=keep)
        ctx.driven_by(asyncio.current_task() if keep else None)
        try:
            if not await driver:
                # The workflow paused and waits in place: the pass ends as if the pause had been raised.
                self.kept.keep(run.run_id, KeptRun(ctx, driver, ctx.stored_step_count(), run.resumes, run.created_at))
                return Outcome("paused", ctx.wake_at, children=tuple(ctx.waiting_children), waiting=ctx.waiting())
            output_json = _output_json(wf, driver.result, self.settings.payload_limit)
        except WorkflowAsyncException:
            await _join_siblings(ctx)
            if ctx.suspended:
                return Outcome("suspended")
            return Outcome("paused", ctx.wake_at, children=tuple(ctx.waiting_children), waiting=ctx.waiting())
        except WorkflowCancelled as cancel:
            await _join_siblings(ctx)
            log.info("run %s of workflow %s cancelled itself: %s", run.run_id, wf.name, cancel.reason)
            await self.children.cancel(run.run_id, cancel.reason)
            return Outcome("cancelled")
        except BackendFault as fault:
            # The store or queue failed under the workflow: not the workflow's failure. The run stays
            # running and the job that drove this pass is tried again.
            await _join_siblings(ctx)
            raise fault.error from fault
        except Exception as exc:
            await _join_siblings(ctx)
            return await self._fail(ctx, run, _run_error(exc))
        await _join_siblings(ctx)
        if await self.state.complete_run(run.run_id, output_json):
            await self.children.wake_parent(run)
        return Outcome("completed")

    async def _fail(self, ctx: WorkflowContext, run: RunRecord, error: ErrorInfo) -> Outcome:
        """The run failed with ``error``: its ``on_failure`` compensation first (once per episode; the pass
        pauses while it runs elsewhere), then the run is marked failed and its parent woken."""
        rpc_name = ctx.workflow_def.on_failure
        if rpc_name is not None:
            try:
                await ctx.compensate_run(rpc_name, error, json.loads(run.input_json))
            except WorkflowAsyncException:
                await _join_siblings(ctx)
                return Outcome("paused", ctx.wake_at, compensating=True)
            except BackendFault as fault:
                raise fault.error from fault
        if await self.state.fail_run(run.run_id, error):
            await self.children.wake_parent(run)
        return Outcome("failed")

    async def close(self) -> None:
        """Drop the workflows kept alive for their next pass (a stopping worker, a closing runtime)."""
        await self.kept.close()

    async def cancel(self, run_id: str, reason: str | None = None) -> bool:
        """End the run as ``cancelled`` with ``reason``, and every running run below it (child runs);
        False when the run had settled already (its descendants are cancelled still)."""
        return await self.children.cancel(run_id, reason)

    # -- events ----------------------------------------------------------------------------------------
    async def send_event(self, run_id: str, event: str, payload: Any, *, event_id: str | None = None) -> bool:
        """Keep ``payload`` for the run's next ``wait_for_event(event, ...)`` and wake the run; True when
        stored, False when ``event_id`` was sent before (nothing stored: a retried send is harmless).

        RunNotFoundError for an unknown run id (nothing kept for a run that may come later), RunSettledError
        for a settled run, UnknownEventError for an event its workflow never waits for,
        InvalidEventPayloadError (pydantic's errors attached) for a payload its model refuses: nothing is
        stored then, and the run keeps waiting.
        """
        run = await self.state.get_run(run_id)
        if run.status in SETTLED_RUN_STATUSES:
            raise RunSettledError(run_id, run.status)
        wf = get_workflow(run.workflow)
        payload_json = event_payload_json(wf, event, payload, self.settings.payload_limit)
        wake = orchestrate_job(wf, run_id, run.created_at)
        result = await self.transitions.send_event(run_id, event, payload_json, event_id=event_id, wake=wake)
        if result == "settled":  # settled between the look above and the write
            raise RunSettledError(run_id, (await self.state.get_run(run_id)).status)
        return result == "stored"

    # -- steps: the pass's host (see WorkflowContext); every attempt runs in self.steps -------------------
    def step_host(self) -> _Host:
        """The narrow interface a pass's WorkflowContext uses."""
        return _Host(self)

    async def run_step_job(
        self,
        payload: dict[str, Any],
        *,
        ack: Job | None = None,
        serves: Serves | None = None,
        claimed: StepRecord | None = None,
        job_lease: float | None = None,
    ) -> Disposition:
        """Execute a queued rpc step once; None to ack the job, a delay to look again later, ACKED when
        ``ack`` was acknowledged with the step's settle, or the hand-off taken (see :meth:`take_for`).
        ``claimed``: the step as the pass that dispatched it claimed it for this worker (a local hand-off),
        still fresh (see :meth:`handle_job`)."""
        run_id, name = payload["run_id"], payload["step"]
        wf = get_workflow(payload["workflow"])
        try:
            if claimed is not None and claimed.status == "running" and claimed.lease_owner == self.owner:
                rec: StepRecord | None = claimed
            else:  # refused (None) for a settled run, so a cancelled run's steps never start
                rec = await self.steps.claim_queued(run_id, name)
        except (RunNotFoundError, StepNotFoundError):
            log.warning("step job for missing run or step %s/%s dropped", run_id, name)
            return None
        if rec is None:
            return await self._unclaimable(wf, run_id, name, payload.get("priority"))
        call = StepCall(
            wf=wf,
            run_id=run_id,
            name=name,
            form=rec.form,
            rpc_name=rec.rpc_name,
            fn=None,
            data_json=rec.data_json,
            max_attempts=rec.max_attempts,
            retry_delay=payload.get("retry_delay"),
            priority=payload.get("priority"),
        )
        take = self.take_for(serves, wf.orchestrator_queue, job_lease)
        # With the workflow kept here, the settle also locks the run for the pass it hands off to.
        kept = None if take is None else self.kept.peek(run_id)
        lease = None if kept is None else self.settings.run_lock_lease
        outcome = await self.steps.run(call, rec, "queue", ack=ack, take=take, lock_lease=lease)
        handoff = outcome.handoff
        if handoff is not None and handoff.job is not None:
            opened = None
            if kept is not None and handoff.run is not None and handoff.step is not None:
                opened = Opened(handoff.run, handoff.step_count, handoff.step, kept)
            return Taken(handoff.job, opened=opened, taken_at=outcome.settle_began)
        if take is not None and outcome.refused:
            await self._after_refused_take(wf, run_id, call.priority)
        return ACKED if outcome.acked else None

    async def _after_refused_take(self, wf: WorkflowDef, run_id: str, priority: float | None) -> None:
        """A settle that would take its hand-off changed nothing: the step was settled elsewhere, or by this
        very write whose reply was lost (the driver's retry found it done). In that second case the hand-off
        is leased to this worker, which does not know it, and the run may be locked for it: put a hand-off
        on the queue (it merges with one waiting) and free the lock, unless a pass of the run here holds it."""
        await self.transitions.enqueue(orchestrate_job(wf, run_id, priority))
        if run_id not in self._passing:
            await self.transitions.release_run_lock(run_id, self.owner)

    async def _unclaimable(self, wf: WorkflowDef, run_id: str, name: str, priority: float | None) -> float | None:
        current = await self.state.get_step(run_id, name)
        if current.status == "running" and current.lease_until is not None:
            # Held by a worker that may have died: look again once its lease can have expired.
            return max(0.05, current.lease_until - await self.state.now() + 0.05)
        if current.form != "rpc":  # a queue job only ever runs an rpc step: this one was not made by pikku
            raise _Forged(f"step job for {current.form} step {name!r} of run {run_id!r}")
        if current.status in ("done", "failed"):
            # Settled: where write and enqueue are apart, the settling worker may have died before its
            # hand-off; the transitions send it again there (a spare replay is harmless).
            await self.transitions.resend_handoff(orchestrate_job(wf, run_id, priority))
        return None

    # -- queue jobs -----------------------------------------------------------------------------------
    async def handle_job(
        self, job: Job, serves: Serves | None = None, *, taken: Taken | None = None, job_lease: float | None = None
    ) -> Disposition:
        """Process one job; None means ack it, a number means release it for another look after that delay,
        :data:`ACKED` that it was acknowledged already, with the write that ended its work, :class:`Taken`
        that it was acknowledged and its work wrote the next job claimed by this worker, to process next.

        ``serves``: the queues the calling worker serves (see :meth:`orchestrate`; they also decide the
        local hand-offs). ``taken``: for a job this worker took (``job`` is ``taken.job``), what was taken with it,
        used only while it is fresh (:meth:`Taken.fresh`). ``job_lease``: how long the worker leases its jobs.
        """
        # A job this worker took was written by this engine a moment ago, never read back from the queue:
        # only a job claimed from the queue is untrusted.
        problem = problem_with(job) if taken is None else None
        if problem is None and job.attempts > self.settings.max_deliveries:
            problem = f"delivered {job.attempts} times without finishing (max_deliveries)"
        if problem is not None:
            return await self._dead_letter(job, problem)
        kind = job.payload["kind"]
        ack = job
        try:
            if kind == "orchestrate":
                opened = taken.opened if taken is not None and taken.fresh(self.settings.run_lock_lease) else None
                return await self._pass_job(job, serves, opened, job_lease)
            claimed = await self._still_claimed(taken)
            return await self.run_step_job(job.payload, ack=ack, serves=serves, claimed=claimed, job_lease=job_lease)
        except (UnknownWorkflowError, UnknownRPCError) as exc:
            # Nothing can handle it in this process; another deployment might, so do not drop it.
            log.error("job %s on %s cannot be handled here: %s", job.id, job.queue, exc)
            return 5.0
        except _Forged as forged:
            return await self._dead_letter(job, str(forged))

    async def _still_claimed(self, taken: Taken | None) -> StepRecord | None:
        """The step claimed with a taken step job, if this worker may run it on that claim: at once while the
        claim is fresh; later (the pass that took it ended slowly) only once a renewal shows the claim is
        still this worker's. Else None, and the job claims the step as any would."""
        step = None if taken is None else taken.step
        if taken is None or step is None or taken.fresh(self.settings.step_lease):
            return step
        if await self.state.renew_step_lease(step.run_id, step.name, self.owner, self.settings.step_lease):
            return step
        return None

    async def _pass_job(
        self, job: Job, serves: Serves | None, opened: Opened | None, job_lease: float | None
    ) -> Disposition:
        """An orchestrator job: the run's pass, which may keep its workflow and take the step job it writes."""
        run_id = job.payload["run_id"]
        outcome = await self.orchestrate(run_id, serves=serves, ack=job, keep=True, opened=opened, job_lease=job_lease)
        if outcome.kind == "busy":  # back off: the holder may be in a long inline step
            return min(5.0, self.settings.lock_busy_delay * 2.0 ** max(0, job.attempts - 1))
        if outcome.taken is not None:
            if not outcome.acked:  # the pass put a wake-up first: its own job is done now
                try:
                    await self.queue.ack(job)
                except BaseException:
                    await self._give_back_quietly(outcome.taken)
                    raise
            return outcome.taken
        return ACKED if outcome.acked else None

    async def _dead_letter(self, job: Job, reason: str) -> Disposition:
        """Take the job out of delivery for good, kept for an operator; logged once."""
        if await self.queue.dead_letter(job, reason):
            log.error("job %s on %s dead-lettered: %s", job.id, job.queue, reason)
        return ACKED


class _Forged(Exception):
    """A job that names stored state it cannot belong to (dead-lettered, the run left untouched)."""


class _Host:
    """The engine as a pass sees it (:class:`~pikku._engine.context.StepHost`): where a step runs is the
    context's choice; what happens to the store and the queue is decided here and in the step runner."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        # Bound once: both are on the path of every step.
        self.run_step = engine.steps.run
        self.max_attempts = engine.max_attempts

    async def dispatch_step(self, call: StepCall, *, alone: bool = False) -> StepRecord:
        """The step and its job, once (one write where state and queue share a database). A step reached
        ``alone`` (the pause that follows ends the pass) whose queue this worker serves is taken: written
        with the lock's release (see :class:`~pikku._engine.handoff.PassTakes`)."""
        get_function(call.rpc_name or "")  # an unknown rpc fails the pass here, not later on a worker
        new = NewStep(call.run_id, call.name, "rpc", call.rpc_name, call.data_json, max_attempts=call.max_attempts)
        job = call.step_job()
        takes = self._engine._takes.get(call.run_id)
        take = None if takes is None else takes.take_for(job.queue, alone)
        if takes is None or take is None:
            return await self._engine.transitions.dispatch_step(new, job)
        new.lease_s = self._engine.settings.step_lease
        return takes.defer(new, job, take)  # written with the lock's release (Engine._release)

    async def requeue_step(self, call: StepCall) -> None:
        """Queue the abandoned step's job again."""
        await self._engine.transitions.enqueue(call.step_job())

    async def begin_timer(
        self, run_id: str, name: str, wake_at: float | None, *, form: StepForm = "sleep", data_json: str | None = None
    ) -> StepRecord:
        """The timer step (a sleep, a wait), scheduled until ``wake_at``."""
        new = NewStep(run_id, name, form, data_json=data_json, status="scheduled", wake_at=wake_at)
        return await self._engine.state.insert_step(new)

    async def end_timer(self, run_id: str, name: str) -> None:
        """The timer step, done (result null)."""
        await self._engine.state.complete_step(run_id, name, "null")

    async def take_event(self, run_id: str, name: str, event: str) -> StepRecord | None:
        """The wait step takes the oldest event of its name, if one is there."""
        return await self._engine.state.take_event(run_id, name, event)

    async def suspend_run(self, run_id: str, name: str, data_json: str) -> bool:
        """The run suspended with its suspend step, in one write."""
        return await self._engine.state.suspend_run(run_id, name, data_json)

    async def store_now(self) -> float:
        """The store's clock."""
        return await self._engine.state.now()

    async def record_marker(self, run_id: str, name: str) -> StepRecord:
        """A marker step, inserted done."""
        new = NewStep(run_id, name, "marker", status="done", result_json="true")
        return await self._engine.state.insert_step(new)

    async def run_is_live(self, run_id: str) -> bool:
        """Whether the run is still ``running``."""
        return (await self._engine.state.get_run(run_id)).status == "running"

    async def start_child(self, run: RunRecord, name: str, workflow: str, data: Any, detached: bool) -> StepRecord:
        """The child run (once) and the parent's step for it."""
        wf = get_workflow(workflow)
        what, limit = f"input of child workflow {workflow!r}", self._engine.settings.payload_limit
        input_json = _serde.encode(validate_input(wf.function, data), wf.function.input_type, what=what, limit=limit)
        return await self._engine.children.start(run, name, workflow, input_json, detached=detached)

    async def child_outcome(self, run_id: str, name: str, retry: bool) -> StepRecord | None:
        """The parent's step settled from its child, or None while the child runs."""
        return await self._engine.children.outcome(run_id, name, retry=retry)


async def _run_workflow(wf: WorkflowDef, run: RunRecord, services: Services) -> Any:
    """The workflow function on the run's input: the body of a pass's workflow task."""
    data = _serde.decode(run.input_json, wf.function.input_type)
    return await call_workflow(wf.func, services, data, wf.function.takes_data)


async def _join_siblings(ctx: WorkflowContext) -> None:
    """Wait for tasks the workflow spawned that still reach steps, so none outlives the run lock."""
    me = asyncio.current_task()
    while pending := [t for t in ctx.tasks if t is not me and not t.done()]:
        await asyncio.gather(*pending, return_exceptions=True)
    for task in ctx.tasks:  # retrieved: a sibling's pause the workflow never awaited is no error to log
        if task is not me and task.done() and not task.cancelled():
            task.exception()


def _output_json(wf: WorkflowDef, output: Any, limit: int) -> str:
    """The run's output as stored JSON, checked against the declared output type first: a mismatch fails
    the run here (PIKKU_INVALID_OUTPUT, naming the fields) instead of every ``result()`` afterwards."""
    tp, what = wf.function.output_type, f"output of workflow {wf.name!r}"
    if not _serde.is_any(tp):
        try:
            output = _serde.adapter(tp).validate_python(output)
        except pydantic.ValidationError as exc:
            fields = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(value)'}: {e['msg']}" for e in exc.errors())
            raise InvalidOutputError(
                f"{what} does not match {getattr(tp, '__name__', tp)}: {fields}",
                hint="return a value of the workflow's annotated output type",
            ) from None
    return _serde.encode_checked(output, tp, what=what, limit=limit)[0]


def _run_error(exc: Exception) -> ErrorInfo:
    if isinstance(exc, StepFailedError):
        err = step_error_info(exc)
        return ErrorInfo(f"step {exc.step!r} failed: {err.message}", err.type, err.stack, err.code)
    return retry_policy.error_info(exc)


def step_error_info(exc: StepFailedError) -> ErrorInfo:
    """The stored error of the failed step behind ``exc``."""
    return exc.error if isinstance(exc.error, ErrorInfo) else ErrorInfo(str(exc.error), "UnknownError")


__all__ = ["ACKED", "Engine", "Outcome", "Settings", "current_step"]
