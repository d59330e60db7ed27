"""In-memory state store: for tests and for trying things. Nothing survives the process.

Each method finishes without awaiting anything in between, so under asyncio every method is atomic.
"""

from __future__ import annotations

import collections
import copy
import itertools
from collections.abc import Callable, Sequence
from typing import NamedTuple

from pikku._clock import current
from pikku._errors import RunNotFoundError, StepNotFoundError
from pikku._records import (
    SETTLED_RUN_STATUSES,
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
    claim_owner,
    refuse_ack,
)
from pikku.backends._kept import lock_run_kept_by_reading

#: A pass never takes the lock of a settled or suspended run.
_UNPASSABLE = SETTLED_RUN_STATUSES | {"suspended"}


class _Lock(NamedTuple):
    """Who holds a run's lock, and until when."""

    owner: str
    until: float


class MemoryStateStore:
    """A :class:`~pikku.backends.StateStore` kept in dictionaries."""

    def __init__(self, sink: Callable[[Enqueue], object] | None = None) -> None:
        self._now = current().now  # the clock it was opened under (see pikku._clock)
        self._runs: dict[str, RunRecord] = {}
        self._order: dict[str, int] = {}
        self._counter = itertools.count()
        self._locks: dict[str, _Lock] = {}
        self._steps: dict[str, dict[str, StepRecord]] = {}
        self._attempts: dict[tuple[str, str], list[StepAttempt]] = {}
        self._children: dict[str, list[str]] = {}  # parent run id -> child run ids, in creation order
        self._events: dict[str, list[EventRecord]] = {}
        self._schedules: dict[str, ScheduleState] = {}
        # Where a hand-off goes in the same step as the write (the co-located queue's put_now), or None.
        self._sink = sink
        self.supports_handoff = sink is not None
        self.supports_ack = False

    # -- runs
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
        self._check_handoff(handoff)
        if run_id in self._runs:
            raise ValueError(f"run {run_id!r} already exists")
        t = self._now()
        run = RunRecord(
            run_id, workflow, "running", input_json, created_at=t, updated_at=t,
            parent_run_id=parent_run_id, forked_from=forked_from,
        )  # fmt: skip
        self._runs[run_id] = run
        self._order[run_id] = next(self._counter)
        self._steps[run_id] = {}
        if parent_run_id is not None:
            self._children.setdefault(parent_run_id, []).append(run_id)
        if lock_owner is not None:
            self._locks[run_id] = _Lock(lock_owner, t + lock_lease)
        self._handoff(handoff)
        return copy.copy(run)

    def _run(self, run_id: str) -> RunRecord:
        try:
            return self._runs[run_id]
        except KeyError:
            raise RunNotFoundError(run_id) from None

    async def now(self) -> float:
        return self._now()

    async def get_run(self, run_id: str) -> RunRecord:
        return copy.copy(self._run(run_id))

    async def count_runs(self) -> dict[str, int]:
        return dict(collections.Counter(run.status for run in self._runs.values()))

    async def list_runs(
        self,
        *,
        workflow: str | None = None,
        status: RunStatus | None = None,
        limit: int = 100,
        before: str | None = None,
    ) -> list[RunRecord]:
        def place(r: RunRecord) -> tuple[float, int]:
            return (r.created_at, self._order[r.run_id])

        anchor = None if before is None else place(self._run(before))
        runs = [
            r
            for r in self._runs.values()
            if (workflow is None or r.workflow == workflow)
            and (status is None or r.status == status)
            and (anchor is None or place(r) < anchor)
        ]
        runs.sort(key=place, reverse=True)
        return [copy.copy(r) for r in runs[:limit]]

    def _settle(
        self, run_id: str, status: RunStatus, output: str | None, error: ErrorInfo | None, reason: str | None = None
    ) -> bool:
        run = self._run(run_id)
        if run.status in SETTLED_RUN_STATUSES:
            return False
        run.status, run.output_json, run.error, run.updated_at = status, output, error, self._now()
        run.cancel_reason = reason
        self._locks.pop(run_id, None)
        return True

    async def list_children(self, run_id: str) -> list[RunRecord]:
        self._run(run_id)
        return [copy.copy(self._runs[c]) for c in self._children.get(run_id, ()) if c in self._runs]

    async def complete_run(self, run_id: str, output_json: str) -> bool:
        return self._settle(run_id, "completed", output_json, None)

    async def fail_run(self, run_id: str, error: ErrorInfo) -> bool:
        return self._settle(run_id, "failed", None, error)

    async def cancel_run(self, run_id: str, reason: str | None = None) -> bool:
        return self._settle(run_id, "cancelled", None, None, reason)

    async def suspend_run(self, run_id: str, name: str, data_json: str) -> bool:
        run = self._run(run_id)
        steps = self._steps[run_id]
        if run.status not in ("running", "waiting") or name in steps:
            return False
        t = self._now()
        run.status, run.updated_at = "suspended", t
        steps[name] = StepRecord(
            run_id, name, "suspend", "done", data_json=data_json, result_json="null", created_at=t, updated_at=t
        )
        self._first_attempt(steps[name], None, 0.0, t)
        return True

    # -- lock
    async def acquire_run_lock(self, run_id: str, owner: str, lease_s: float) -> bool:
        self._run(run_id)
        held = self._locks.get(run_id)
        t = self._now()
        if held is not None and held.owner != owner and held.until > t:
            return False
        self._locks[run_id] = _Lock(owner, t + lease_s)
        return True

    async def lock_run(self, run_id: str, owner: str, lease_s: float) -> tuple[RunRecord, dict[str, StepRecord] | None]:
        run = self._run(run_id)
        if run.status in _UNPASSABLE or not await self.acquire_run_lock(run_id, owner, lease_s):
            return copy.copy(run), None
        if run.status == "waiting":
            run.status = "running"
        return copy.copy(run), await self.get_steps(run_id)

    async def lock_run_kept(
        self, run_id: str, owner: str, lease_s: float, *, step_count: int, names: Sequence[str]
    ) -> tuple[RunRecord, dict[str, StepRecord] | None, bool]:
        return await lock_run_kept_by_reading(self.lock_run, run_id, owner, lease_s, step_count, names)

    async def renew_run_lock(self, run_id: str, owner: str, lease_s: float) -> bool:
        self._run(run_id)
        held = self._locks.get(run_id)
        if held is None or held.owner != owner:
            return False
        self._locks[run_id] = _Lock(owner, self._now() + lease_s)
        return True

    async def release_run_lock(self, run_id: str, owner: str, *, ack: Job | None = None, waiting: bool = False) -> None:
        refuse_ack(ack)
        held = self._locks.get(run_id)
        if held is not None and held.owner == owner:
            del self._locks[run_id]
            run = self._runs.get(run_id)
            if waiting and run is not None and run.status == "running":
                run.status = "waiting"

    # -- steps
    def _step(self, run_id: str, name: str) -> StepRecord:
        self._run(run_id)
        try:
            return self._steps[run_id][name]
        except KeyError:
            raise StepNotFoundError(run_id, name) from None

    async def get_steps(self, run_id: str) -> dict[str, StepRecord]:
        self._run(run_id)
        return {k: copy.copy(v) for k, v in self._steps[run_id].items()}

    async def get_step(self, run_id: str, name: str) -> StepRecord:
        return copy.copy(self._step(run_id, name))

    async def insert_step(self, step: NewStep, *, handoff: Enqueue | None = None) -> StepRecord:
        self._check_handoff(handoff)
        owner = claim_owner(step)
        run = self._run(step.run_id)
        steps = self._steps[step.run_id]
        if step.name not in steps:
            self._handoff(handoff)
            t = self._now()
            # A claim needs a running run (as claim_step): otherwise the step goes in unclaimed, pending.
            status = "pending" if owner is not None and run.status in SETTLED_RUN_STATUSES else step.status
            steps[step.name] = StepRecord(
                run_id=step.run_id,
                name=step.name,
                form=step.form,
                status=status,
                rpc_name=step.rpc_name,
                data_json=step.data_json,
                result_json=step.result_json,
                result_type=step.result_type,
                max_attempts=step.max_attempts,
                wake_at=step.wake_at,
                created_at=t,
                updated_at=t,
            )
            self._first_attempt(steps[step.name], owner, step.lease_s, t)
        return copy.copy(steps[step.name])

    def _first_attempt(self, rec: StepRecord, owner: str | None, lease_s: float, t: float) -> None:
        """A step inserted ``done`` is one finished attempt; inserted ``running``, one open attempt under a lease."""
        if rec.status == "done":
            rec.attempts = 1
            self._attempts[(rec.run_id, rec.name)] = [StepAttempt(1, t, t)]
        elif rec.status == "running":
            rec.attempts, rec.lease_owner, rec.lease_until = 1, owner, t + lease_s
            self._attempts[(rec.run_id, rec.name)] = [StepAttempt(1, t)]

    async def mark_step_scheduled(self, run_id: str, name: str) -> bool:
        step = self._step(run_id, name)
        if step.status != "pending":
            return False
        step.status, step.updated_at = "scheduled", self._now()
        return True

    async def claim_step(
        self, run_id: str, name: str, owner: str, lease_s: float, *, form: StepForm | None = None
    ) -> StepRecord | None:
        step = self._step(run_id, name)
        if self._runs[run_id].status in SETTLED_RUN_STATUSES or (form is not None and step.form != form):
            return None
        t = self._now()
        expired = step.status == "running" and (step.lease_until or 0.0) <= t
        if step.status not in ("pending", "scheduled") and not expired:
            return None
        step.status, step.lease_owner, step.lease_until = "running", owner, t + lease_s
        step.attempts += 1
        step.updated_at = t
        self._attempts.setdefault((run_id, name), []).append(StepAttempt(step.attempts, t))
        return copy.copy(step)

    def _end_attempt(self, run_id: str, name: str, error: ErrorInfo | None) -> None:
        attempts = self._attempts.get((run_id, name))
        if attempts and attempts[-1].ended_at is None:
            attempts[-1].ended_at = self._now()
            attempts[-1].error = error

    def _check_handoff(self, handoff: Enqueue | None) -> None:
        if handoff is not None and self._sink is None:
            raise TypeError("this store has no co-located queue; enqueue the handoff separately")

    def _handoff(self, handoff: Enqueue | None) -> None:
        if handoff is not None and self._sink is not None:
            self._sink(handoff)

    async def renew_step_lease(self, run_id: str, name: str, owner: str, lease_s: float) -> bool:
        step = self._step(run_id, name)
        if step.status != "running" or step.lease_owner != owner:
            return False
        step.lease_until = self._now() + lease_s
        return True

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
        refuse_ack(ack)
        self._check_handoff(handoff)
        step = self._step(run_id, name)
        if step.status in ("done", "failed") or not _held_by(step, owner):
            return False
        step.status, step.result_json, step.result_type = "done", result_json, result_type
        step.error, step.lease_owner, step.lease_until, step.updated_at = None, None, None, self._now()
        self._end_attempt(run_id, name, None)
        self._handoff(handoff)
        return True

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
        refuse_ack(ack)
        self._check_handoff(handoff)
        step = self._step(run_id, name)
        if step.status in ("done", "failed") or not _held_by(step, owner):
            return False
        step.status = "failed" if retry_at is None else "scheduled"
        step.wake_at = retry_at if retry_at is not None else step.wake_at
        step.error, step.lease_owner, step.lease_until, step.updated_at = error, None, None, self._now()
        self._end_attempt(run_id, name, error)
        self._handoff(handoff)
        return True

    async def get_attempts(self, run_id: str, name: str) -> list[StepAttempt]:
        self._step(run_id, name)
        return [copy.copy(a) for a in self._attempts.get((run_id, name), [])]

    async def get_run_attempts(self, run_id: str) -> dict[str, list[StepAttempt]]:
        self._run(run_id)
        return {name: [copy.copy(a) for a in self._attempts.get((run_id, name), [])] for name in self._steps[run_id]}

    # -- events
    async def send_event(
        self,
        run_id: str,
        name: str,
        payload_json: str,
        *,
        event_id: str | None = None,
        handoff: Enqueue | None = None,
    ) -> SendResult:
        self._check_handoff(handoff)
        run = self._run(run_id)
        if run.status in SETTLED_RUN_STATUSES:
            return "settled"
        events = self._events.setdefault(run_id, [])
        self._handoff(handoff)
        if event_id is not None and any(e.event_id == event_id for e in events):
            return "duplicate"
        events.append(EventRecord(run_id, len(events) + 1, name, payload_json, event_id, self._now()))
        return "stored"

    async def take_event(self, run_id: str, step: str, name: str) -> StepRecord | None:
        rec = self._step(run_id, step)
        if rec.status in ("done", "failed"):
            return copy.copy(rec)
        event = next((e for e in self._events.get(run_id, []) if e.name == name and e.consumed_by is None), None)
        if event is None:
            return None
        event.consumed_by = step
        rec.status, rec.result_json, rec.result_type = "done", event.payload_json, None
        rec.lease_owner, rec.lease_until, rec.updated_at = None, None, self._now()
        return copy.copy(rec)

    async def get_events(self, run_id: str) -> list[EventRecord]:
        self._run(run_id)
        return [copy.copy(e) for e in self._events.get(run_id, [])]

    # -- operating runs
    async def resume_run(self, run_id: str) -> bool:
        run = self._run(run_id)
        if run.status not in ("failed", "cancelled", "suspended"):
            return False
        t = self._now()
        run.status, run.error, run.cancel_reason, run.updated_at = "running", None, None, t
        run.resumes += 1
        for step in self._steps[run_id].values():
            if step.status == "failed":
                step.status, step.error, step.lease_owner, step.lease_until = "pending", None, None, None
                step.max_attempts, step.updated_at = step.attempts + step.max_attempts, t
        return True

    async def delete_runs(self, *, before: float, statuses: Sequence[RunStatus], limit: int) -> list[str]:
        wanted = set(statuses) & SETTLED_RUN_STATUSES
        doomed = sorted(
            (r for r in self._runs.values() if r.status in wanted and r.updated_at < before),
            key=lambda r: (r.updated_at, self._order[r.run_id]),
        )[:limit]
        for run in doomed:
            for name in self._steps.pop(run.run_id, {}):
                self._attempts.pop((run.run_id, name), None)
            del self._runs[run.run_id], self._order[run.run_id]
            self._children.pop(run.run_id, None)
            if run.parent_run_id is not None and run.run_id in self._children.get(run.parent_run_id, ()):
                self._children[run.parent_run_id].remove(run.run_id)
            self._events.pop(run.run_id, None)
            self._locks.pop(run.run_id, None)
        return [r.run_id for r in doomed]

    # -- schedules
    async def get_schedule(self, name: str) -> ScheduleState:
        return copy.copy(self._schedules.get(name) or ScheduleState(name))

    async def advance_schedule(self, name: str, *, expected: float | None, tick: float, run_id: str | None) -> bool:
        state = self._schedules.setdefault(name, ScheduleState(name))
        if state.last_tick != expected:
            return False
        state.last_tick = tick
        if run_id is not None:
            state.last_run_id = run_id
        return True

    async def set_schedule_paused(self, name: str, paused: bool) -> bool:
        state = self._schedules.setdefault(name, ScheduleState(name))
        changed, state.paused = state.paused != paused, paused
        return changed

    async def close(self) -> None:
        return None


def _held_by(step: StepRecord, owner: str | None) -> bool:
    """No owner given, or the step is running under that owner's claim."""
    return owner is None or (step.status == "running" and step.lease_owner == owner)
