"""Plain records that stores and queues hand back. No behaviour, no I/O.

Values are kept as JSON *text* (``*_json`` fields): the serde layer decides how Python values become JSON,
stores only persist text. This keeps every backend byte-faithful (unicode, big ints, key order).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

RunStatus = Literal["running", "waiting", "suspended", "completed", "failed", "cancelled"]
StepStatus = Literal["pending", "scheduled", "running", "done", "failed"]
StepForm = Literal["rpc", "inline", "sleep", "marker", "event", "suspend", "child"]

RUN_STATUSES: tuple[RunStatus, ...] = ("running", "waiting", "suspended", "completed", "failed", "cancelled")
SETTLED_RUN_STATUSES: frozenset[str] = frozenset({"completed", "failed", "cancelled"})
#: Runs that go on by themselves: ``running`` (a pass or a step has work to do) and ``waiting`` (nothing to do
#: but a timer, an event or a child run: it holds no worker and no lock). Claims, the run lock and the recovery
#: sweep treat both alike; pruning never deletes either.
ACTIVE_RUN_STATUSES: frozenset[str] = frozenset({"running", "waiting"})
#: Step forms that only wait for something outside the run (a time, an event, a child run): a pass that
#: pauses on nothing else leaves its run ``waiting``.
WAIT_FORMS: frozenset[str] = frozenset({"sleep", "event", "child"})
STEP_STATUSES: tuple[StepStatus, ...] = ("pending", "scheduled", "running", "done", "failed")


@dataclass(slots=True)
class ErrorInfo:
    """A stored error: what went wrong, of which type, where, and pikku's code when it is a PikkuError."""

    message: str
    type: str
    stack: str = ""
    code: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form stores persist."""
        return {"message": self.message, "type": self.type, "stack": self.stack, "code": self.code}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ErrorInfo:
        """Rebuild from :meth:`to_dict` output."""
        return cls(
            message=str(raw.get("message", "")),
            type=str(raw.get("type", "Exception")),
            stack=str(raw.get("stack", "")),
            code=raw.get("code"),
        )


@dataclass(slots=True)
class RunRecord:
    """One workflow run as stored."""

    run_id: str
    workflow: str
    status: RunStatus
    input_json: str
    output_json: str | None = None
    error: ErrorInfo | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    #: The run that started this one as a child (``workflow.call_workflow`` / ``start_workflow``), or None.
    parent_run_id: str | None = None
    #: The run this one was forked from (``pikku.fork_run``), or None.
    forked_from: str | None = None
    #: Why the run was cancelled (``cancel_run(reason=...)``), while it is cancelled; None otherwise.
    cancel_reason: str | None = None
    #: How many times the run was resumed (``pikku.resume_run``): each failure episode is told apart by it.
    resumes: int = 0


@dataclass(slots=True)
class EventRecord:
    """An event sent to a run (``pikku.send_event``), kept until a ``wait_for_event`` step takes it.

    ``seq`` orders a run's events (first in, first out per name); ``event_id`` makes a send idempotent (unique
    per run); ``consumed_by`` is the name of the step that took it (None while it waits).
    """

    run_id: str
    seq: int
    name: str
    payload_json: str
    event_id: str | None = None
    created_at: float = 0.0
    consumed_by: str | None = None


#: What :meth:`~pikku.backends.StateStore.send_event` did: stored the event, found one with its ``event_id``
#: already (nothing stored), or refused it because the run has settled (nothing stored).
SendResult = Literal["stored", "duplicate", "settled"]


@dataclass(slots=True)
class NewStep:
    """What the engine asks a store to insert for a step it reached for the first time.

    With ``status="running"`` the step is inserted already claimed by ``lease_owner`` for ``lease_s``
    seconds (the engine running a step itself: no separate claim). Otherwise the two lease fields are unused.
    """

    run_id: str
    name: str
    form: StepForm
    rpc_name: str | None = None
    data_json: str | None = None
    status: StepStatus = "pending"
    max_attempts: int = 1
    wake_at: float | None = None
    result_json: str | None = None
    result_type: str | None = None
    lease_owner: str | None = None
    lease_s: float = 0.0


def claim_owner(step: NewStep) -> str | None:
    """Who a new step is inserted claimed by: its ``lease_owner`` when it is inserted ``running``, else None.

    ValueError for a ``running`` step without an owner: a lease nobody holds could never be renewed or
    settled by its owner, so the store refuses it before writing anything.
    """
    if step.status != "running":
        return None
    if step.lease_owner is None:
        raise ValueError(f"step {step.name!r} inserted as running needs a lease_owner")
    return step.lease_owner


@dataclass(slots=True)
class StepRecord:
    """One step of a run as stored. ``attempts`` counts claims (executions started)."""

    run_id: str
    name: str
    form: StepForm
    status: StepStatus
    rpc_name: str | None = None
    data_json: str | None = None
    result_json: str | None = None
    result_type: str | None = None
    error: ErrorInfo | None = None
    attempts: int = 0
    max_attempts: int = 1
    wake_at: float | None = None
    lease_owner: str | None = None
    lease_until: float | None = None
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass(slots=True)
class StepAttempt:
    """One execution of a step: which attempt, when it started and ended, and its error if it failed."""

    attempt: int
    started_at: float
    ended_at: float | None = None
    error: ErrorInfo | None = None


@dataclass(slots=True)
class Enqueue:
    """A job to put on a queue: used for the orchestrator hand-off that rides along a step transition."""

    queue: str
    payload: dict[str, Any]
    delay: float = 0.0
    priority: float | None = None
    #: Jobs with one key on one queue are one job while they wait (see ``JobQueue.enqueue``): the
    #: orchestrator jobs of a run are keyed by its id, so a run never has two replays waiting.
    key: str | None = None


@dataclass(slots=True)
class Job:
    """A claimed queue job. ``attempts`` counts deliveries including this one; ``receipt`` is backend-private."""

    id: str
    queue: str
    payload: dict[str, Any]
    attempts: int = 1
    run_at: float = 0.0
    lease_until: float | None = None
    owner: str | None = None
    receipt: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Take:
    """Asks a transition to write its job already claimed by ``owner`` for ``lease_s`` seconds and return it
    (a local hand-off): the worker that wrote the job goes on with it at once, with no claim round trip,
    and if that worker dies the lease runs out and the job is delivered again like any claimed job."""

    owner: str
    lease_s: float


@dataclass(slots=True)
class TakenSettle:
    """What ``Transitions.settle_step_taking`` did: whether the step was stored, and the hand-off it took.

    With ``lock_lease``, ``run`` is the run locked for the taking worker (None: not locked), with the run's
    step count and the settled step as stored: what ``StateStore.lock_run_kept`` would have read next.
    """

    stored: bool
    job: Job | None = None
    run: RunRecord | None = None
    step_count: int = 0
    step: StepRecord | None = None


def attempt_of_done_insert(step: StepRecord) -> list[StepAttempt]:
    """The attempts of a step that has no attempt rows: a step inserted already done (an inline step) is
    one finished attempt, stored on the step itself by the SQL backends (a row fewer per step); any other
    step without rows has not been attempted yet (or was completed without a claim, as a sleep is)."""
    if step.status == "done" and step.attempts == 1:
        return [StepAttempt(1, step.created_at, step.created_at)]
    return []


def refuse_ack(ack: Job | None) -> None:
    """TypeError for an ``ack`` given to a store without ``supports_ack`` (before anything is written)."""
    if ack is not None:
        raise TypeError("this store cannot acknowledge a job inside a transition; ack it on its queue")


@dataclass(slots=True)
class DeadJob:
    """A job taken out of delivery (malformed, forged, or delivered too often): kept for an operator."""

    id: str
    queue: str
    payload: dict[str, Any]
    attempts: int
    reason: str
    died_at: float


@dataclass(slots=True)
class ScheduleState:
    """What the store keeps of one schedule (``wire_schedule``): shared by every worker.

    ``last_tick`` (epoch seconds) is how far the schedule has been handled: every tick at or before it was
    started, skipped (overlap, pause) or deliberately not caught up, so it is never started again, even
    after its run was pruned. None: no tick handled yet. ``last_run_id`` is the run started for the
    latest tick that started one (the overlap check looks at it). ``paused``: ticks start no run.
    """

    name: str
    last_tick: float | None = None
    last_run_id: str | None = None
    paused: bool = False
