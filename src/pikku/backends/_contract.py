"""What a backend provides: a state store, a job queue, the transitions that join them, and the module
that opens them. Every backend (memory, file, SQLite, PostgreSQL, Redis) lives in one folder of
``pikku.backends`` and passes the one conformance suite in ``tests/contract/``.

The engine talks to a backend only through these Protocols and never asks which one it has: where state
and queue share one database the backend's :class:`Transitions` write a step's result and its hand-off
job in one transaction; elsewhere they write, then enqueue (see ``pikku.backends._transitions``).

Rules every state store follows:

* Missing things raise: a method given an unknown run raises :class:`~pikku.RunNotFoundError`, an unknown
  step (where the method needs one to exist) raises :class:`~pikku.StepNotFoundError`. Never ``None`` by accident.
* Transitions are conditional and atomic (one conditional write, never read-then-write across a gap), so two
  racing workers cannot both win, and a stored result is never overwritten.
* Timestamps are epoch seconds, supplied by the store when it writes, from the store's own clock
  (:meth:`StateStore.now`): the database server's where there is one, so workers on many hosts agree
  whatever their own clocks say.
* Values are JSON text; the store never parses or re-encodes ``*_json`` fields.
* Run statuses: ``running`` and ``waiting`` are active (a waiting run has nothing to do but a timer, an
  event or a child run; it goes back to ``running`` when a pass takes its lock), ``suspended`` is stopped
  until :meth:`StateStore.resume_run`, and ``completed``, ``failed``, ``cancelled`` are settled. Moving between
  ``running`` and ``waiting`` leaves ``updated_at`` alone (it is the last settle, suspend or resume: a run's
  time limit counts from it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from pikku._records import (
    DeadJob,
    Enqueue,
    ErrorInfo,
    EventRecord,
    Job,
    NewStep,
    RunRecord,
    RunStatus,
    ScheduleState,
    SendResult,
    StepAttempt,
    StepForm,
    StepRecord,
    Take,
    TakenSettle,
)


@runtime_checkable
class StateStore(Protocol):
    """Durable state of workflow runs and their steps."""

    # -- runs ---------------------------------------------------------------------------------------
    async def create_run(
        self,
        run_id: str,
        workflow: str,
        input_json: str,
        *,
        handoff: Enqueue | None = None,
        lock_owner: str | None = None,
        lock_lease: float = 0.0,
        parent_run_id: str | None = None,
        forked_from: str | None = None,
    ) -> RunRecord:
        """Insert a new run with status ``running``. Raises ``ValueError`` if the id already exists.

        With ``handoff`` (only when ``supports_handoff``) the run's first job is enqueued in the same
        transaction, so a run never exists without the job that drives it. With ``lock_owner`` the run is
        created already holding the run lock for ``lock_lease`` seconds (an inline run's driver: it
        saves the separate acquire). ``parent_run_id`` (a child run: :meth:`list_children` of the parent
        finds it) and ``forked_from`` are stored on the run as given; ``resumes`` starts at 0.
        """
        ...

    async def get_run(self, run_id: str) -> RunRecord:
        """The run, or :class:`RunNotFoundError`."""
        ...

    async def now(self) -> float:
        """The store's clock, in epoch seconds: the time it stamps its writes with and judges leases by.

        The engine compares stored times (a sleep's ``wake_at``, a lease's end) only with this, never with
        its own clock. PostgreSQL: ``pikku_now()``; Redis: ``TIME``; memory, file and SQLite: the clock in
        force when the store was opened (the host's, or a test environment's).
        """
        ...

    async def list_runs(
        self,
        *,
        workflow: str | None = None,
        status: RunStatus | None = None,
        limit: int = 100,
        before: str | None = None,
    ) -> list[RunRecord]:
        """Runs filtered by workflow and/or status, newest first (by ``created_at``), at most ``limit``.

        ``before`` pages: only runs after the run of that id in this order (pass the last run of the previous
        page). :class:`RunNotFoundError` if that run does not exist.
        """
        ...

    async def count_runs(self) -> dict[str, int]:
        """How many runs there are of each status (monitoring: the runs-by-status gauge).

        Every status that has runs appears, whatever it is (a status added later needs no change here;
        PostgreSQL names each of ``RUN_STATUSES``); one with none may be absent. Redis answers from the sizes
        of its per-status index sets (O(statuses)); SQLite is one ``GROUP BY status`` over the covering status
        index (O(runs)); PostgreSQL counts unsettled runs exactly and each settled status exactly up to
        ``COUNT_EXACT_UP_TO``, past which it reports the planner's statistics' estimate (O(unsettled runs),
        whatever the history); the file backend reads every run file.
        """
        ...

    async def complete_run(self, run_id: str, output_json: str) -> bool:
        """``running`` (or ``waiting``, ``suspended``) -> ``completed`` with output, releasing the run lock
        whoever holds it (a settled run needs none). False (and no change) if the run is already settled."""
        ...

    async def fail_run(self, run_id: str, error: ErrorInfo) -> bool:
        """Any unsettled status -> ``failed`` with error, releasing the run lock. False (and no change) if
        already settled."""
        ...

    async def cancel_run(self, run_id: str, reason: str | None = None) -> bool:
        """Any unsettled status (``running``, ``waiting``, ``suspended``) -> ``cancelled`` with ``reason``
        kept as ``cancel_reason``, releasing the run lock. False (and no change, the first reason kept) if
        already settled."""
        ...

    async def list_children(self, run_id: str) -> list[RunRecord]:
        """The runs created with ``parent_run_id=run_id``, oldest first (creation order), read through an
        index (never a scan of every run). RunNotFoundError when ``run_id`` names no run."""
        ...

    async def suspend_run(self, run_id: str, name: str, data_json: str) -> bool:
        """``running`` or ``waiting`` -> ``suspended`` (``updated_at`` set), with the ``suspend`` step ``name``
        inserted ``done`` (``data_json`` its input: the reason; result ``null``; one finished attempt, as any
        step inserted done) in the same atomic write, so a replay after :meth:`resume_run` passes it.

        False (and no change) when the run is not running or waiting, or already has a step ``name``. The
        run lock is left as it is (the suspending pass releases it). RunNotFoundError for a missing run.
        """
        ...

    # -- the run lock: one orchestrator at a time per run -------------------------------------------
    async def lock_run(self, run_id: str, owner: str, lease_s: float) -> tuple[RunRecord, dict[str, StepRecord] | None]:
        """What a replay pass starts with, in one round trip where the backend allows.

        Takes the lock if it is free, expired, or already ``owner``'s (then the lease is extended), and
        returns the run with all its steps; a ``waiting`` run becomes ``running`` in the same write (the
        returned record says ``running``). Returns ``(run, None)`` without taking the lock when the run is
        settled or suspended, or the lock is held by another live owner. RunNotFoundError for a missing run.
        """
        ...

    async def lock_run_kept(
        self, run_id: str, owner: str, lease_s: float, *, step_count: int, names: Sequence[str]
    ) -> tuple[RunRecord, dict[str, StepRecord] | None, bool]:
        """:meth:`lock_run` for a pass whose workflow ``owner`` kept alive since its last pass (a kept run,
        see ``pikku._engine.kept``), which knew of ``step_count`` stored steps and waits on ``names``.

        Takes the lock as :meth:`lock_run` does. When the run holds exactly ``step_count`` steps, only the
        steps named in ``names`` that exist are returned, and the third value is False; otherwise every step
        is returned, and it is True (a pass elsewhere recorded steps: the kept workflow is stale). Every
        pass that records anything new inserts a step, so an unchanged count means only the steps the kept
        workflow waits on can have changed. ``(run, None, True)`` when the lock is not taken.
        """
        ...

    async def renew_run_lock(self, run_id: str, owner: str, lease_s: float) -> bool:
        """Extend the lease if ``owner`` still holds it; False if it was lost."""
        ...

    async def release_run_lock(self, run_id: str, owner: str, *, ack: Job | None = None, waiting: bool = False) -> None:
        """Free the lock if ``owner`` holds it; a no-op otherwise, even for an unknown run.

        With ``waiting`` (a pass that paused with nothing to do but wait) a ``running`` run becomes
        ``waiting`` in the same write, only if ``owner`` held the lock. With ``ack`` (only when
        ``supports_ack``) that job is acknowledged in the same transaction."""
        ...

    # -- steps ----------------------------------------------------------------------------------------
    async def get_steps(self, run_id: str) -> dict[str, StepRecord]:
        """Every step of the run in one read (a replay pass reads state exactly once). RunNotFoundError."""
        ...

    async def get_step(self, run_id: str, name: str) -> StepRecord:
        """One step, or StepNotFoundError (RunNotFoundError if the run is missing)."""
        ...

    async def insert_step(self, step: NewStep, *, handoff: Enqueue | None = None) -> StepRecord:
        """Insert the step if absent and return it; if present return the stored record unchanged.

        With ``handoff`` (only when ``supports_handoff``) the job is enqueued in the same transaction, and
        only when this call inserted the step: dispatching a step is then one write (the step inserted as
        ``scheduled`` together with its job), and a second dispatch of the same step enqueues nothing.

        A step inserted directly as ``done`` (an inline step that succeeded on its first try: one write
        per step) is recorded as one finished attempt: ``attempts`` 1 and one attempt record.

        A step inserted as ``running`` is inserted already claimed by ``step.lease_owner`` (the engine
        running a step itself: no separate :meth:`claim_step`): ``attempts`` 1, ``lease_owner`` set,
        ``lease_until`` the store's time plus ``step.lease_s``, and one open attempt record (attempt 1,
        started at the step's ``created_at``) -- exactly what a ``pending`` insert followed by
        :meth:`claim_step` leaves, in the same single write. Like a claim it needs the run to be unsettled:
        for a settled run the step is inserted ``pending`` and unclaimed instead (the caller sees no claim).
        ``ValueError`` (nothing written) for a ``running`` step without a ``lease_owner``. The lease fields
        are ignored for any other status, and for a step that already exists (returned unchanged).
        """
        ...

    async def mark_step_scheduled(self, run_id: str, name: str) -> bool:
        """``pending`` -> ``scheduled`` only. False when the step already moved on (a fast worker won)."""
        ...

    async def claim_step(
        self, run_id: str, name: str, owner: str, lease_s: float, *, form: StepForm | None = None
    ) -> StepRecord | None:
        """Atomically take the step for execution.

        With ``form``, only a step of that form is claimed (a queue job claims only ``rpc`` steps): a step
        of another form is not claimed and nothing changes (None), so a forged job cannot touch it.

        Claimable: ``pending`` or ``scheduled``, or ``running`` whose lease expired, of a run that is not
        settled (``running``, ``waiting`` or ``suspended``: a step already dispatched still runs; a step of a
        completed, failed or cancelled run is never claimed). The claim sets
        ``running``, the owner and lease, increments ``attempts`` and records a started attempt. Returns the
        updated record, or None when the step is done, failed, or held under a live lease.
        """
        ...

    async def renew_step_lease(self, run_id: str, name: str, owner: str, lease_s: float) -> bool:
        """Extend the lease of a ``running`` step held by ``owner``; False if it is not (any more)."""
        ...

    async def complete_step(
        self,
        run_id: str,
        name: str,
        result_json: str,
        *,
        result_type: str | None = None,
        handoff: Enqueue | None = None,
        owner: str | None = None,
        ack: Job | None = None,
    ) -> bool:
        """Any non-terminal status -> ``done`` with the result; ends the open attempt.

        With ``owner`` (a worker finishing the step it claimed) the transition applies only while the step
        is ``running`` under that owner's claim (expired or not, as long as nobody claimed it since): a
        worker that lost its lease to another cannot store a stale result. Returns False otherwise.

        Returns False (and changes nothing, enqueues nothing) if the step is already done or failed.
        With ``handoff`` (only when ``supports_handoff``) the job is enqueued in the same transaction; a
        store without a co-located queue raises ``TypeError`` for a ``handoff`` and changes nothing. With
        ``ack`` (only when ``supports_ack``) that job is acknowledged in the same transaction.
        """
        ...

    async def fail_step(
        self,
        run_id: str,
        name: str,
        error: ErrorInfo,
        *,
        retry_at: float | None = None,
        handoff: Enqueue | None = None,
        owner: str | None = None,
        ack: Job | None = None,
    ) -> bool:
        """End the open attempt with ``error``. ``owner``, ``handoff`` and ``ack`` as in :meth:`complete_step`.

        With ``retry_at`` the step goes back to ``scheduled`` (its ``wake_at`` set to ``retry_at``);
        without it, to terminal ``failed``. Returns False (no change) if the step is already done or failed.
        """
        ...

    async def get_attempts(self, run_id: str, name: str) -> list[StepAttempt]:
        """The step's attempts in order. StepNotFoundError if the step is missing."""
        ...

    async def get_run_attempts(self, run_id: str) -> dict[str, list[StepAttempt]]:
        """Every step's attempts in order, in one read (run inspection): step name -> attempts; a step with
        none (a sleep done without a claim) may be absent. RunNotFoundError for a missing run."""
        ...

    # -- events ---------------------------------------------------------------------------------------
    async def send_event(
        self,
        run_id: str,
        name: str,
        payload_json: str,
        *,
        event_id: str | None = None,
        handoff: Enqueue | None = None,
    ) -> SendResult:
        """Keep an event for the run, in one atomic write: ``"stored"`` with the next ``seq`` of the run.

        ``"duplicate"`` (nothing stored) when ``event_id`` is given and the run already has an event with that
        id, consumed or not. ``"settled"`` (nothing stored) when the run is completed, failed or cancelled; an
        event for a ``suspended`` run is kept for after its resume. RunNotFoundError for a missing run: an
        event is never kept for a run that does not exist. With ``handoff`` (only when ``supports_handoff``)
        that job (the run's wake-up) is enqueued in the same transaction, unless the result is ``"settled"``.
        """
        ...

    async def take_event(self, run_id: str, step: str, name: str) -> StepRecord | None:
        """The ``event`` step ``step`` takes the oldest waiting event called ``name``: in one atomic write the
        event is marked consumed by the step and the step becomes ``done`` with the event's payload as its
        result (no attempt: nothing was executed). Returns the done step.

        A step already ``done`` or ``failed`` is returned as it is and takes nothing. None (no change) when
        no event of that name waits. StepNotFoundError / RunNotFoundError for a missing step or run.
        """
        ...

    async def get_events(self, run_id: str) -> list[EventRecord]:
        """Every event of the run, consumed or not, in ``seq`` order. RunNotFoundError for a missing run."""
        ...

    # -- operating runs -------------------------------------------------------------------------------
    async def resume_run(self, run_id: str) -> bool:
        """``failed``, ``cancelled`` or ``suspended`` -> ``running``, in one atomic write.

        The run's error and ``cancel_reason`` are cleared and its ``resumes`` count goes up by one. Every
        ``failed`` step becomes ``pending`` (error cleared, lease cleared) with a fresh budget:
        ``max_attempts`` becomes ``attempts + max_attempts``, and its attempt log is kept. ``done`` steps
        are kept as they are. False (and no change) when the run is ``running``, ``waiting`` or
        ``completed``. RunNotFoundError for a missing run. Enqueueing the next pass is the
        caller's business.
        """
        ...

    async def delete_runs(self, *, before: float, statuses: Sequence[RunStatus], limit: int) -> list[str]:
        """Delete up to ``limit`` runs whose status is in ``statuses`` and whose ``updated_at`` is before
        ``before``, oldest first, with their steps, attempts and events; returns their ids. Only settled runs
        are deleted: a ``running``, ``waiting`` or ``suspended`` run never is, even when ``statuses`` names it
        (a run being written, or waiting for the world, must not vanish)."""
        ...

    # -- schedules ------------------------------------------------------------------------------------
    async def get_schedule(self, name: str) -> ScheduleState:
        """The stored state of the schedule ``name``; one never stored reads as ``ScheduleState(name)`` (no
        tick handled, not paused)."""
        ...

    async def advance_schedule(self, name: str, *, expected: float | None, tick: float, run_id: str | None) -> bool:
        """Compare-and-set, one atomic write: ``last_tick`` from ``expected`` to ``tick``, and ``last_run_id`` to
        ``run_id`` when one is given (kept otherwise). ``expected`` None matches a schedule with no tick
        handled, stored or not (the state is created). False, and nothing changes, when the stored
        ``last_tick`` is not ``expected``: another worker moved the schedule on first, so of any number of
        workers handling one tick exactly one wins."""
        ...

    async def set_schedule_paused(self, name: str, paused: bool) -> bool:
        """Set the schedule's ``paused`` flag (the state is created when needed); False when it was set so
        already (a schedule never stored is not paused)."""
        ...

    async def close(self) -> None:
        """Release connections and files. Safe to call twice."""
        ...


@runtime_checkable
class JobQueue(Protocol):
    """Named queues of small JSON jobs with delays, leases and acks.

    Delivery is at-least-once: a claimed job is leased; if it is neither acked nor released before the
    lease runs out (its worker died) it is delivered again. Handlers are therefore idempotent.
    """

    async def enqueue(
        self,
        queue: str,
        payload: dict[str, Any],
        *,
        delay: float = 0.0,
        priority: float | None = None,
        key: str | None = None,
    ) -> str:
        """Add a job, deliverable after ``delay`` seconds. Returns its id.

        ``priority`` orders due jobs (lower first); without one a job's priority is its due time. The
        engine gives every job of a run the run's creation time, so work on runs already in flight is
        claimed before the first job of newer runs (finish what was started).

        With ``key``, while a job with the same ``queue`` and ``key`` waits (never claimed, or released),
        no second job is added: the waiting one keeps its payload and takes the earlier due time and the
        lower priority of the two, and its id is returned. A claimed job does not absorb one: work that
        arrives while a replay runs gets a replay of its own. A released job merges the same way into a
        waiting one. Hand-offs a store enqueues with a transition (``Enqueue.key``) follow the same rule.
        """
        ...

    async def claim(self, queues: Sequence[str] | None, *, owner: str, lease_s: float, limit: int = 1) -> list[Job]:
        """Lease up to ``limit`` due jobs from ``queues`` (None: every queue), lowest priority first
        (ties: oldest due first).

        A job is due when its delay has passed and it is not under a live lease. Claiming is atomic: two
        racing claimers never both get one job. Each claim increments the job's ``attempts``.
        """
        ...

    async def ack(self, job: Job) -> bool:
        """Remove a job its owner finished. False if the lease was lost (another owner may hold it).

        The lease is lost once the job was claimed again, even by the same owner: ack, release and extend
        only act for the claim that returned ``job`` (same id, owner and ``attempts``).
        """
        ...

    async def release(self, job: Job, *, delay: float = 0.0) -> bool:
        """Give a job back, deliverable again after ``delay``. False if the lease was lost."""
        ...

    async def extend(self, job: Job, lease_s: float) -> bool:
        """Extend the owner's lease. False if the lease was lost."""
        ...

    async def wait(self, queues: Sequence[str] | None, timeout: float) -> None:
        """Sleep until a job may be due on ``queues`` (a notification) or ``timeout`` passes."""
        ...

    async def count(self, queue: str | None = None) -> int:
        """Jobs not yet acked, due or not, leased or not (for tests and monitoring); dead jobs not counted."""
        ...

    async def dead_letter(self, job: Job, reason: str) -> bool:
        """Take the job out of delivery for good (for the claim that returned it), kept with ``reason`` and
        the time for :meth:`list_dead`. False if the claim was lost (another owner may hold the job)."""
        ...

    async def list_dead(self, limit: int = 100) -> list[DeadJob]:
        """Dead jobs, newest first."""
        ...

    async def retry_dead(self, job_id: str) -> bool:
        """Put a dead job back on its queue, due now, its delivery count reset to 0. False if no such dead job."""
        ...

    async def drop_dead(self, job_id: str) -> bool:
        """Delete a dead job for good. False if no such dead job."""
        ...

    async def close(self) -> None:
        """Release connections and files. Safe to call twice."""
        ...


@runtime_checkable
class Transitions(Protocol):
    """The writes that move a run on and wake whoever must act next, each with its hand-off and ack.

    Two versions exist and each backend picks one (``pikku.backends._transitions``): where state and
    queue share one database the write, its hand-off job and the acknowledgement of the job that did the
    work commit together; otherwise the write comes first, then the enqueue, then the ack (a crash in
    between is covered by redelivery and the recovery sweep). Either way, a job passed as ``ack`` is
    acknowledged (for the claim that returned it) when the call returns, whether or not the write applied.
    """

    #: The store and the queue they write to (swappable together with the engine's, see ``Engine.state``).
    state: StateStore
    queue: JobQueue

    async def create_run(
        self,
        run_id: str,
        workflow: str,
        input_json: str,
        *,
        first_job: Enqueue,
        lock_owner: str | None = None,
        lock_lease: float = 0.0,
        parent_run_id: str | None = None,
        forked_from: str | None = None,
    ) -> RunRecord:
        """Create the run (see :meth:`StateStore.create_run`) and enqueue the job that drives it."""
        ...

    async def dispatch_step(self, step: NewStep, job: Enqueue) -> StepRecord:
        """Insert the rpc step (``step.status`` is ignored) and put ``job`` on its queue, once.

        Returns the stored record: ``scheduled`` when this call dispatched it, else the step as it was
        (another pass dispatched it first: nothing is enqueued again).
        """
        ...

    async def settle_step(
        self,
        run_id: str,
        name: str,
        result_json: str,
        *,
        result_type: str | None = None,
        owner: str | None = None,
        handoff: Enqueue | None = None,
        ack: Job | None = None,
    ) -> bool:
        """:meth:`StateStore.complete_step`, then ``handoff`` only if the step was stored; ``ack`` always."""
        ...

    async def fail_step(
        self,
        run_id: str,
        name: str,
        error: ErrorInfo,
        *,
        retry_at: float | None = None,
        owner: str | None = None,
        handoff: Enqueue | None = None,
        ack: Job | None = None,
    ) -> bool:
        """:meth:`StateStore.fail_step`, then ``handoff`` only if the attempt was recorded; ``ack`` always."""
        ...

    # A local hand-off: a worker that writes a job for a queue it serves may ask for the job claimed by
    # itself (``take``), to go on with it in the same slot with no claim round trip. A backend may decline
    # (None for the job: it then waits on its queue as usual); the engine works the same either way.

    async def settle_step_taking(
        self,
        run_id: str,
        name: str,
        result_json: str,
        *,
        result_type: str | None = None,
        owner: str | None = None,
        handoff: Enqueue,
        ack: Job | None = None,
        take: Take,
        lock_lease: float | None = None,
    ) -> TakenSettle:
        """:meth:`settle_step` with ``handoff`` written claimed by ``take.owner`` for ``take.lease_s``.

        Returns whether the step was stored and the taken hand-off (None when the step was not stored, or
        the backend declined: the hand-off then waits on its queue as with :meth:`settle_step`).

        With ``lock_lease``, a backend may also take the run lock for ``take.owner`` in the same write, only
        when it is free (not even its owner's: the pass that holds it is still running) and the run is
        ``running`` or ``waiting`` (left ``running``), and return the run, its step count and the settled
        step: what the hand-off's pass would read first. ``run`` None: not locked.
        """
        ...

    async def release_run_lock_dispatching(
        self,
        run_id: str,
        owner: str,
        *,
        ack: Job | None = None,
        waiting: bool = False,
        step: NewStep,
        job: Enqueue,
        take: Take,
    ) -> tuple[StepRecord, Job | None]:
        """:meth:`dispatch_step` of ``step`` (a step of this run), then :meth:`release_run_lock`: the end of a
        pass whose last act was to dispatch a step its worker takes. The step is inserted ``running``
        (claimed by ``take.owner``, one open attempt, leased ``step.lease_s``) and ``job`` written claimed by
        the same owner for ``take.lease_s``; one write where the backend can, and either way the step is
        dispatched before the lock is released.

        Returns the stored step and the taken job; the job is None when nothing was dispatched (the step
        existed) or the backend declined (the step is then dispatched as :meth:`dispatch_step` does it).
        """
        ...

    async def release_run_lock(self, run_id: str, owner: str, *, ack: Job | None = None, waiting: bool = False) -> None:
        """:meth:`StateStore.release_run_lock` (with ``waiting``); ``ack`` (the job that drove the pass) always."""
        ...

    async def send_event(
        self, run_id: str, name: str, payload_json: str, *, event_id: str | None, wake: Enqueue
    ) -> SendResult:
        """:meth:`StateStore.send_event`, and ``wake`` (the run's next pass) unless the run has settled: in the
        same transaction where the store can, else right after the write (a duplicate enqueues it again, so a
        send retried after a crash between the two still wakes the run)."""
        ...

    async def enqueue(self, job: Enqueue) -> None:
        """Put a job on its queue (a wake-up, a retry, a recovered step)."""
        ...

    async def resend_handoff(self, job: Enqueue) -> None:
        """A step job found its step settled: its hand-off may have been lost between two writes.

        Enqueued again where write and enqueue are separate (a spare replay is harmless); nothing to do
        where they commit together.
        """
        ...


@runtime_checkable
class BackendModule(Protocol):
    """What each ``pikku.backends.<technology>`` package provides; the URL scheme picks the package."""

    #: The optional dependency to install for this technology (``pikku[<extra>]``), or None.
    EXTRA: str | None

    async def open_state(self, url: str) -> StateStore:
        """The state store alone (its queue elsewhere: the engine composes write-then-enqueue)."""
        ...

    async def open_queue(self, url: str) -> JobQueue:
        """The queue alone."""
        ...

    async def open_pair(self, url: str) -> tuple[StateStore, JobQueue, Transitions]:
        """State and queue of one URL, sharing one database object, with the transitions that suit them."""
        ...
