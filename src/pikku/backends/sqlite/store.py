"""SQLite state store: the embedded default backend.

Runs, steps and attempts live in one database file next to the queue's jobs (see :mod:`pikku.backends.sqlite.database`).
Every transition is one conditional ``UPDATE``; when it matches nothing, a follow-up read only decides
between "not allowed" (False / None) and "missing" (RunNotFoundError / StepNotFoundError). Statements that
must commit together (a claim and its attempt row, a result or a newly inserted step and its hand-off
job) share one ``BEGIN IMMEDIATE`` transaction. A claim matches only while the step's run is not settled.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from typing import Any

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
    Take,
    TakenSettle,
    attempt_of_done_insert,
    claim_owner,
    refuse_ack,
)
from pikku.backends.sqlite import statements as sql
from pikku.backends.sqlite.database import Database, claim_params, dumps, insert_job, insert_taken_job

#: Where the first page of ``list_runs`` starts: before every run.
_NEWEST = {"before_created": float("inf"), "before_seq": 2**63 - 1}

_LIST_RUNS = {  # by (workflow given, status given)
    (False, False): sql.LIST_RUNS,
    (True, False): sql.LIST_RUNS_OF_WORKFLOW,
    (False, True): sql.LIST_RUNS_WITH_STATUS,
    (True, True): sql.LIST_RUNS_OF_WORKFLOW_WITH_STATUS,
}


def _insert_params(step: NewStep, status: str, owner: str | None, t: float) -> dict[str, Any]:
    """Parameters of ``INSERT_STEP``: inserted ``done`` or claimed (``owner``), the step has one attempt."""
    return {
        "run_id": step.run_id,
        "name": step.name,
        "form": step.form,
        "status": status,
        "rpc_name": step.rpc_name,
        "data_json": step.data_json,
        "result_json": step.result_json,
        "result_type": step.result_type,
        "attempts": 1 if status in ("done", "running") else 0,
        "max_attempts": step.max_attempts,
        "wake_at": step.wake_at,
        "lease_owner": owner,
        "lease_until": None if owner is None else t + step.lease_s,
        "now": t,
    }


def _error(raw: str | None) -> ErrorInfo | None:
    return None if raw is None else ErrorInfo.from_dict(json.loads(raw))


def _error_json(error: ErrorInfo | None) -> str | None:
    return None if error is None else dumps(error.to_dict())


def _run(row: sql.RunRow) -> RunRecord:
    return RunRecord(
        run_id=row.run_id,
        workflow=row.workflow,
        status=row.status,
        input_json=row.input_json,
        output_json=row.output_json,
        error=_error(row.error_json),
        created_at=row.created_at,
        updated_at=row.updated_at,
        parent_run_id=row.parent_run_id,
        forked_from=row.forked_from,
        cancel_reason=row.cancel_reason,
        resumes=row.resumes,
    )


def _step(row: sql.StepRow) -> StepRecord:
    return StepRecord(
        run_id=row.run_id,
        name=row.name,
        form=row.form,
        status=row.status,
        rpc_name=row.rpc_name,
        data_json=row.data_json,
        result_json=row.result_json,
        result_type=row.result_type,
        error=_error(row.error_json),
        attempts=row.attempts,
        max_attempts=row.max_attempts,
        wake_at=row.wake_at,
        lease_owner=row.lease_owner,
        lease_until=row.lease_until,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _oldest_change_first(row: sql.RunToDelete) -> tuple[float, int]:
    return row.updated_at, row.seq


def _attempt(row: sql.AttemptRow) -> StepAttempt:
    return StepAttempt(row.attempt, row.started_at, row.ended_at, _error(row.error_json))


class SQLiteStateStore:
    """A :class:`~pikku.backends.StateStore` in a SQLite file; with a co-located queue when opened as a pair."""

    def __init__(self, db: Database, *, handoff: bool = False) -> None:
        self._now = current().now  # the clock it was opened under (see pikku._clock)
        self._db = db
        self.supports_handoff = handoff  # the queue shares this database (opened as a pair)
        self.supports_ack = False
        self._closed = False
        db.retain()

    # -- helpers
    def _require_run(self, run_id: str) -> None:
        if self._db.row(sql.RUN_EXISTS, {"run_id": run_id}, sql.Found) is None:
            raise RunNotFoundError(run_id)

    def _require_step(self, run_id: str, name: str) -> None:
        if self._db.row(sql.STEP_EXISTS, {"run_id": run_id, "name": name}, sql.Found) is None:
            self._require_run(run_id)
            raise StepNotFoundError(run_id, name)

    def _check_handoff(self, handoff: Enqueue | None) -> None:
        if handoff is not None and not self.supports_handoff:
            raise TypeError("this store has no co-located queue; enqueue the handoff separately")

    def _tx(self, needed: bool) -> AbstractContextManager[Database]:
        """A write transaction when several statements must commit together; else autocommit."""
        return self._db.write() if needed else nullcontext(self._db)

    def _enqueue(self, handoff: Enqueue | None, t: float) -> None:
        if handoff is not None:
            insert_job(self._db, handoff, t)

    def _notify(self, handoff: Enqueue | None) -> None:
        if handoff is not None:
            self._db.wakeup.set()

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
        t = self._now()
        params = {"run_id": run_id, "workflow": workflow, "input_json": input_json, "now": t}
        params |= {"lock_owner": lock_owner, "lock_until": None if lock_owner is None else t + lock_lease}
        params |= {"parent_run_id": parent_run_id, "forked_from": forked_from}
        try:
            with self._tx(handoff is not None) as db:
                db.rowcount(sql.INSERT_RUN, params)
                self._enqueue(handoff, t)
        except sqlite3.IntegrityError:
            raise ValueError(f"run {run_id!r} already exists") from None
        self._notify(handoff)
        return RunRecord(
            run_id, workflow, "running", input_json, created_at=t, updated_at=t,
            parent_run_id=parent_run_id, forked_from=forked_from,
        )  # fmt: skip

    async def now(self) -> float:
        return self._now()

    async def get_run(self, run_id: str) -> RunRecord:
        return self._read_run(run_id)

    def _read_run(self, run_id: str) -> RunRecord:
        row = self._db.row(sql.GET_RUN, {"run_id": run_id}, sql.RunRow)
        if row is None:
            raise RunNotFoundError(run_id)
        return _run(row)

    async def count_runs(self) -> dict[str, int]:
        return {row.status: row.n for row in self._db.rows(sql.COUNT_RUNS, None, sql.StatusCount)}

    async def list_runs(
        self,
        *,
        workflow: str | None = None,
        status: RunStatus | None = None,
        limit: int = 100,
        before: str | None = None,
    ) -> list[RunRecord]:
        statement = _LIST_RUNS[(workflow is not None, status is not None)]
        params = {"workflow": workflow, "status": status, "limit": max(limit, 0)} | self._page_start(before)
        return [_run(row) for row in self._db.rows(statement, params, sql.RunRow)]

    def _page_start(self, before: str | None) -> dict[str, Any]:
        """Where a page of runs starts: just after run ``before`` (RunNotFoundError if it does not exist)."""
        if before is None:
            return _NEWEST
        row = self._db.row(sql.RUN_POSITION, {"run_id": before}, sql.RunPosition)
        if row is None:
            raise RunNotFoundError(before)
        return {"before_created": row.created_at, "before_seq": row.seq}

    def _settle(
        self, run_id: str, status: RunStatus, output: str | None, error: ErrorInfo | None, reason: str | None = None
    ) -> bool:
        params = {"run_id": run_id, "status": status, "output_json": output, "error_json": _error_json(error)}
        if self._db.rowcount(sql.SETTLE_RUN, params | {"now": self._now(), "cancel_reason": reason}):
            return True
        self._require_run(run_id)
        return False

    async def complete_run(self, run_id: str, output_json: str) -> bool:
        return self._settle(run_id, "completed", output_json, None)

    async def fail_run(self, run_id: str, error: ErrorInfo) -> bool:
        return self._settle(run_id, "failed", None, error)

    async def cancel_run(self, run_id: str, reason: str | None = None) -> bool:
        return self._settle(run_id, "cancelled", None, None, reason)

    async def list_children(self, run_id: str) -> list[RunRecord]:
        self._require_run(run_id)  # children may outlive a pruned parent: their rows alone do not say
        return [_run(row) for row in self._db.rows(sql.LIST_CHILDREN, {"run_id": run_id}, sql.RunRow)]

    async def suspend_run(self, run_id: str, name: str, data_json: str) -> bool:
        """One transaction: the run suspended (the condition that decides), then its suspend step, done."""
        t = self._now()
        step = NewStep(run_id, name, "suspend", data_json=data_json, status="done", result_json="null")
        with self._db.write() as db:
            suspended = db.rowcount(sql.SUSPEND_RUN, {"run_id": run_id, "name": name, "now": t}) > 0
            if suspended:
                db.rowcount(sql.INSERT_STEP, _insert_params(step, "done", None, t))
        if not suspended:
            self._require_run(run_id)
        return suspended

    # -- lock
    def _lock_params(self, run_id: str, owner: str, lease_s: float) -> dict[str, Any]:
        t = self._now()
        return {"run_id": run_id, "owner": owner, "lock_until": t + lease_s, "now": t}

    async def acquire_run_lock(self, run_id: str, owner: str, lease_s: float) -> bool:
        if self._db.rowcount(sql.ACQUIRE_RUN_LOCK, self._lock_params(run_id, owner, lease_s)):
            return True
        self._require_run(run_id)
        return False

    async def lock_run(self, run_id: str, owner: str, lease_s: float) -> tuple[RunRecord, dict[str, StepRecord] | None]:
        """One transaction: the conditional lock ``UPDATE ... RETURNING`` the run, then the steps."""
        with self._db.write() as db:
            row = db.row(sql.LOCK_RUNNING_RUN, self._lock_params(run_id, owner, lease_s), sql.RunRow)
            if row is None:  # settled, locked by another live owner, or missing
                return self._read_run(run_id), None
            steps = {step.name: step for step in map(_step, db.rows(sql.STEPS_OF_RUN, {"run_id": run_id}, sql.StepRow))}
        return _run(row), steps

    async def lock_run_kept(
        self, run_id: str, owner: str, lease_s: float, *, step_count: int, names: Sequence[str]
    ) -> tuple[RunRecord, dict[str, StepRecord] | None, bool]:
        """One transaction: the lock, the run's step count, then the named steps only if it is unchanged."""
        with self._db.write() as db:
            row = db.row(sql.LOCK_RUNNING_RUN, self._lock_params(run_id, owner, lease_s), sql.RunRow)
            if row is None:
                return self._read_run(run_id), None, True
            counted = db.row(sql.COUNT_STEPS_OF_RUN, {"run_id": run_id}, sql.Count)
            if counted is None or counted.n != step_count:
                rows = db.rows(sql.STEPS_OF_RUN, {"run_id": run_id}, sql.StepRow)
                return _run(row), {step.name: step for step in map(_step, rows)}, True
            named = (db.row(sql.GET_STEP, {"run_id": run_id, "name": name}, sql.StepRow) for name in names)
            return _run(row), {step.name: step for step in map(_step, filter(None, named))}, False

    async def renew_run_lock(self, run_id: str, owner: str, lease_s: float) -> bool:
        if self._db.rowcount(sql.RENEW_RUN_LOCK, self._lock_params(run_id, owner, lease_s)):
            return True
        self._require_run(run_id)
        return False

    async def release_run_lock(self, run_id: str, owner: str, *, ack: Job | None = None, waiting: bool = False) -> None:
        refuse_ack(ack)
        self._db.rowcount(sql.RELEASE_RUN_LOCK, {"run_id": run_id, "owner": owner, "waiting": int(waiting)})

    # -- steps
    async def get_steps(self, run_id: str) -> dict[str, StepRecord]:
        rows = self._db.rows(sql.RUN_WITH_STEPS, {"run_id": run_id}, sql.StepRow)
        if not rows:
            raise RunNotFoundError(run_id)
        return {row.name: _step(row) for row in rows if row.name is not None}

    async def get_step(self, run_id: str, name: str) -> StepRecord:
        row = self._db.row(sql.GET_STEP, {"run_id": run_id, "name": name}, sql.StepRow)
        if row is None:
            self._require_run(run_id)
            raise StepNotFoundError(run_id, name)
        return _step(row)

    async def insert_step(self, step: NewStep, *, handoff: Enqueue | None = None) -> StepRecord:
        self._check_handoff(handoff)
        owner = claim_owner(step)
        t = self._now()
        # The attempt row and the hand-off job are written only when this call inserted the step. A step
        # inserted done has no attempt row: get_attempts reads its one attempt off the step.
        with self._tx(step.status == "running" or handoff is not None) as db:
            status = step.status
            if owner is not None and not self._run_is_running(db, step.run_id):
                status, owner = "pending", None  # a claim needs a running run (as claim_step): inserted unclaimed
            row = db.row(sql.INSERT_STEP, _insert_params(step, status, owner, t), sql.StepRow)
            if row is not None and status == "running":  # claimed: its open attempt
                db.rowcount(sql.START_ATTEMPT, {"run_id": step.run_id, "name": step.name, "attempt": 1, "now": t})
            if row is not None:
                self._enqueue(handoff, t)
        if row is None:
            return await self.get_step(step.run_id, step.name)
        self._notify(handoff)
        return _step(row)

    @staticmethod
    def _run_is_running(db: Database, run_id: str) -> bool:
        """Read inside the insert's write transaction, so the run cannot settle before the step is in."""
        row = db.row(sql.RUN_STATUS, {"run_id": run_id}, sql.Status)
        return row is not None and row.status not in SETTLED_RUN_STATUSES

    async def mark_step_scheduled(self, run_id: str, name: str) -> bool:
        if self._db.rowcount(sql.MARK_STEP_SCHEDULED, {"run_id": run_id, "name": name, "now": self._now()}):
            return True
        self._require_step(run_id, name)
        return False

    async def claim_step(
        self, run_id: str, name: str, owner: str, lease_s: float, *, form: StepForm | None = None
    ) -> StepRecord | None:
        t = self._now()
        params = {"run_id": run_id, "name": name, "owner": owner, "lease_until": t + lease_s, "now": t, "form": form}
        with self._db.write() as db:
            row = db.row(sql.CLAIM_STEP, params, sql.StepRow)
            if row is not None:
                db.rowcount(sql.START_ATTEMPT, {"run_id": run_id, "name": name, "attempt": row.attempts, "now": t})
        if row is None:
            self._require_step(run_id, name)
            return None
        return _step(row)

    async def renew_step_lease(self, run_id: str, name: str, owner: str, lease_s: float) -> bool:
        params = {"run_id": run_id, "name": name, "owner": owner, "lease_until": self._now() + lease_s}
        if self._db.rowcount(sql.RENEW_STEP_LEASE, params):
            return True
        self._require_step(run_id, name)
        return False

    def _finish(self, statement: str, params: dict[str, Any], error: ErrorInfo | None, handoff: Enqueue | None) -> bool:
        """Move an open step on (``statement``: COMPLETE_STEP or FAIL_STEP), end its open attempt, enqueue
        the hand-off: one transaction. ``params`` name the step, and the ``owner`` whose claim it must be."""
        self._check_handoff(handoff)
        t = self._now()
        with self._db.write() as db:
            moved = self._move_on(db, statement, params, error, t)
            if moved:
                self._enqueue(handoff, t)
        if not moved:
            self._require_step(params["run_id"], params["name"])
            return False
        self._notify(handoff)
        return True

    @staticmethod
    def _move_on(db: Database, statement: str, params: dict[str, Any], error: ErrorInfo | None, t: float) -> bool:
        """Inside the caller's transaction: the step moved on by ``statement`` and its open attempt ended;
        whether it moved (it was open, and under ``params["owner"]``'s claim when one is named)."""
        row = db.row(statement, params | {"now": t}, sql.Attempts)
        if row is None:
            return False
        ended = {"run_id": params["run_id"], "name": params["name"], "attempt": row.attempts, "now": t}
        db.rowcount(sql.END_ATTEMPT, ended | {"error_json": _error_json(error)})
        return True

    # -- local hand-offs (pikku.backends._transitions.TakingTransaction)
    async def complete_step_taking(
        self,
        run_id: str,
        name: str,
        result_json: str,
        *,
        result_type: str | None,
        owner: str | None,
        handoff: Enqueue,
        ack: Job | None,
        take: Take,
        lock_lease: float | None = None,
    ) -> TakenSettle:
        """:meth:`complete_step` with ``ack`` acknowledged, the hand-off written claimed by ``take.owner``,
        and with ``lock_lease`` the run locked for it when free, with what its next pass reads first: one
        transaction."""
        self._check_handoff(handoff)
        t = self._now()
        params = {"run_id": run_id, "name": name, "owner": owner, "result_json": result_json}
        with self._db.write() as db:
            if ack is not None:
                db.rowcount(sql.ACK_JOB, claim_params(ack))
            if not self._move_on(db, sql.COMPLETE_STEP, params | {"result_type": result_type}, None, t):
                done = None
            else:
                done = TakenSettle(True, insert_taken_job(db, handoff, take, t))
                if lock_lease is not None:
                    self._lock_for_next_pass(db, done, run_id, name, take.owner, t + lock_lease, t)
        if done is None:
            self._require_step(run_id, name)
            return TakenSettle(False)
        return done

    @staticmethod
    def _lock_for_next_pass(
        db: Database, done: TakenSettle, run_id: str, name: str, owner: str, until: float, t: float
    ) -> None:
        """The run locked for ``owner`` when nobody holds it, with its step count and the settled step."""
        lock = {"run_id": run_id, "owner": owner, "lock_until": until, "now": t}
        row = db.row(sql.LOCK_FREE_RUN, lock, sql.RunRow)
        if row is None:
            return
        counted = db.row(sql.COUNT_STEPS_OF_RUN, {"run_id": run_id}, sql.Count)
        step = db.row(sql.GET_STEP, {"run_id": run_id, "name": name}, sql.StepRow)
        assert counted is not None and step is not None  # read in the transaction that settled the step
        done.run, done.step_count, done.step = _run(row), counted.n, _step(step)

    async def release_run_lock_dispatching(
        self, run_id: str, owner: str, *, ack: Job | None, waiting: bool, step: NewStep, job: Enqueue, take: Take
    ) -> tuple[StepRecord, Job | None]:
        """The step inserted claimed by ``take.owner`` with its job claimed too (neither when it exists),
        ``ack`` acknowledged and the lock released: one transaction."""
        if run_id != step.run_id:
            raise ValueError(f"step {step.name!r} of run {step.run_id!r} dispatched with the release of {run_id!r}")
        self._check_handoff(job)
        t = self._now()
        claimed = replace(step, lease_s=step.lease_s or take.lease_s)
        taken = None
        with self._db.write() as db:
            status, claimer = ("running", take.owner) if self._run_is_running(db, run_id) else ("pending", None)
            row = db.row(sql.INSERT_STEP, _insert_params(claimed, status, claimer, t), sql.StepRow)
            if row is not None:
                if status == "running":  # its open attempt
                    db.rowcount(sql.START_ATTEMPT, {"run_id": run_id, "name": step.name, "attempt": 1, "now": t})
                taken = insert_taken_job(db, job, take, t)
            if ack is not None:
                db.rowcount(sql.ACK_JOB, claim_params(ack))
            db.rowcount(sql.RELEASE_RUN_LOCK, {"run_id": run_id, "owner": owner, "waiting": int(waiting)})
        if row is None:
            return await self.get_step(run_id, step.name), None
        return _step(row), taken

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
        params = {
            "run_id": run_id,
            "name": name,
            "owner": owner,
            "result_json": result_json,
            "result_type": result_type,
        }
        return self._finish(sql.COMPLETE_STEP, params, None, handoff)

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
        status = "failed" if retry_at is None else "scheduled"
        params: dict[str, Any] = {"run_id": run_id, "name": name, "owner": owner, "error_json": _error_json(error)}
        params |= {"status": status, "retry_at": retry_at}
        return self._finish(sql.FAIL_STEP, params, error, handoff)

    async def get_attempts(self, run_id: str, name: str) -> list[StepAttempt]:
        rows = self._db.rows(sql.GET_ATTEMPTS, {"run_id": run_id, "name": name}, sql.AttemptRow)
        if not rows:
            return attempt_of_done_insert(await self.get_step(run_id, name))
        return [_attempt(row) for row in rows]

    async def get_run_attempts(self, run_id: str) -> dict[str, list[StepAttempt]]:
        rows = self._db.rows(sql.RUN_ATTEMPTS, {"run_id": run_id}, sql.RunAttemptRow)
        if not rows:
            raise RunNotFoundError(run_id)
        every: dict[str, list[StepAttempt]] = {}
        for row in rows:
            if row.name is None:  # the run has no steps
                continue
            attempts = every.setdefault(row.name, [])
            if row.attempt is not None:
                attempts.append(StepAttempt(row.attempt, row.started_at, row.ended_at, _error(row.error_json)))
            else:  # no attempt rows: a step inserted done has its one attempt on the step (see get_attempts)
                step = StepRecord(
                    run_id, row.name, row.form, row.status, attempts=row.attempts, created_at=row.created_at
                )
                attempts += attempt_of_done_insert(step)
        return every

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
        """One transaction: the run's status read (the write lock taken first, so it cannot settle meanwhile),
        the event inserted unless its id is there already, and the wake-up job."""
        self._check_handoff(handoff)
        t = self._now()
        params = {"run_id": run_id, "name": name, "payload_json": payload_json, "event_id": event_id, "now": t}
        with self._db.write() as db:
            status = db.row(sql.RUN_STATUS, {"run_id": run_id}, sql.Status)
            if status is None:
                raise RunNotFoundError(run_id)
            if status.status in SETTLED_RUN_STATUSES:
                return "settled"
            stored = db.row(sql.INSERT_EVENT, params, sql.Id) is not None
            self._enqueue(handoff, t)
        self._notify(handoff)
        return "stored" if stored else "duplicate"

    async def take_event(self, run_id: str, step: str, name: str) -> StepRecord | None:
        """One transaction: the oldest waiting event of ``name`` marked taken and the step done with it."""
        with self._db.write() as db:
            current = db.row(sql.GET_STEP, {"run_id": run_id, "name": step}, sql.StepRow)
            if current is None or current.status in ("done", "failed"):
                taken = current
            else:
                event = db.row(sql.OLDEST_WAITING_EVENT, {"run_id": run_id, "name": name}, sql.WaitingEvent)
                if event is None:
                    return None
                db.rowcount(sql.CONSUME_EVENT, {"seq": event.seq, "step": step})
                params = {"run_id": run_id, "name": step, "payload_json": event.payload_json, "now": self._now()}
                taken = db.row(sql.COMPLETE_EVENT_STEP, params, sql.StepRow)
        if taken is None:
            self._require_run(run_id)
            raise StepNotFoundError(run_id, step)
        return _step(taken)

    async def get_events(self, run_id: str) -> list[EventRecord]:
        rows = self._db.rows(sql.EVENTS_OF_RUN, {"run_id": run_id}, sql.EventRow)
        if not rows:
            self._require_run(run_id)
        return [EventRecord(*row) for row in rows]

    # -- operating runs
    async def resume_run(self, run_id: str) -> bool:
        """One transaction: the run back to running (the condition that picks one winner), then its failed steps."""
        params = {"run_id": run_id, "now": self._now()}
        with self._db.write() as db:
            resumed = db.rowcount(sql.RESUME_RUN, params) > 0
            if resumed:
                db.rowcount(sql.RESUME_FAILED_STEPS, params)
        if not resumed:
            self._require_run(run_id)
        return resumed

    async def delete_runs(self, *, before: float, statuses: Sequence[RunStatus], limit: int) -> list[str]:
        """One transaction: the page of runs is chosen and deleted with its steps and attempts, so no write
        in between can make a chosen run running again."""
        if limit <= 0:
            return []
        with self._db.write() as db:
            chosen: list[sql.RunToDelete] = []
            for status in set(statuses) & SETTLED_RUN_STATUSES:
                params = {"status": status, "before": before, "limit": limit}
                chosen += db.rows(sql.RUNS_TO_DELETE_WITH_STATUS, params, sql.RunToDelete)
            chosen.sort(key=_oldest_change_first)
            run_ids = [row.run_id for row in chosen[:limit]]
            if run_ids:
                doomed = {"run_ids": dumps(run_ids)}
                db.rowcount(sql.DELETE_ATTEMPTS_OF_RUNS, doomed)
                db.rowcount(sql.DELETE_EVENTS_OF_RUNS, doomed)
                db.rowcount(sql.DELETE_STEPS_OF_RUNS, doomed)
                db.rowcount(sql.DELETE_RUNS, doomed)
        return run_ids

    # -- schedules
    async def get_schedule(self, name: str) -> ScheduleState:
        row = self._db.row(sql.GET_SCHEDULE, {"name": name}, sql.ScheduleRow)
        if row is None:
            return ScheduleState(name)
        return ScheduleState(name, row.last_tick, row.last_run_id, bool(row.paused))

    async def advance_schedule(self, name: str, *, expected: float | None, tick: float, run_id: str | None) -> bool:
        params = {"name": name, "tick": tick, "run_id": run_id, "expected": expected}
        statement = sql.ADVANCE_NEW_SCHEDULE if expected is None else sql.ADVANCE_SCHEDULE
        return self._db.rowcount(statement, params) > 0

    async def set_schedule_paused(self, name: str, paused: bool) -> bool:
        statement = sql.PAUSE_SCHEDULE if paused else sql.UNPAUSE_SCHEDULE
        return self._db.rowcount(statement, {"name": name}) > 0

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._db.release()
