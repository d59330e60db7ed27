"""SQLite state store: the embedded default backend.

Runs, steps and attempts live in one database file next to the queue's jobs (see :mod:`pikku.backends.sqlite.database`).
Every transition is one conditional ``UPDATE``; when it matches nothing, a follow-up read only decides
between "not allowed" (False / None) and "missing" (RunNotFoundError / StepNotFoundError). Statements that
must commit together (a claim and its attempt row, a result or a newly inserted step and its hand-off
job) share one ``BEGIN IMMEDIATE`` transaction. A claim matches only while the step's run is ``running``.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from pikku._clock import now
from pikku._errors import RunNotFoundError, StepNotFoundError
from pikku._records import (
    Enqueue,
    ErrorInfo,
    Job,
    NewStep,
    RunRecord,
    RunStatus,
    StepAttempt,
    StepRecord,
    attempt_of_done_insert,
    claim_owner,
    refuse_ack,
)
from pikku.backends.sqlite.database import Database, dumps, insert_job

_RUN_COLS = "run_id, workflow, status, input_json, output_json, error_json, created_at, updated_at"
_STEP_NAMES = (
    *("run_id", "name", "form", "status", "rpc_name", "data_json", "result_json", "result_type", "error_json"),
    *("attempts", "max_attempts", "wake_at", "lease_owner", "lease_until", "created_at", "updated_at"),
)
_STEP_COLS = ", ".join(_STEP_NAMES)
_CLAIMABLE = "(status IN ('pending', 'scheduled') OR (status = 'running' AND COALESCE(lease_until, 0) <= ?))"
_OPEN = "status NOT IN ('done', 'failed')"
_RUN_RUNNING = "EXISTS (SELECT 1 FROM runs WHERE run_id = ? AND status = 'running')"


# Insert-if-absent of a step whose run exists; RETURNING nothing when it existed (or the run does not).
_INSERT_STEP = (
    "INSERT INTO steps (run_id, name, form, status, rpc_name, data_json, result_json, result_type, "
    "attempts, max_attempts, wake_at, lease_owner, lease_until, created_at, updated_at) "
    "SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM runs WHERE run_id = ?) "
    f"ON CONFLICT (run_id, name) DO NOTHING RETURNING {_STEP_COLS}"
)


def _insert_args(step: NewStep, status: str, owner: str | None, t: float) -> tuple[Any, ...]:
    """Parameters of :data:`_INSERT_STEP`: inserted ``done`` or claimed (``owner``), the step has one attempt."""
    attempts = 1 if status in ("done", "running") else 0
    lease_until = None if owner is None else t + step.lease_s
    return (
        *(step.run_id, step.name, step.form, status, step.rpc_name, step.data_json),
        *(step.result_json, step.result_type, attempts, step.max_attempts, step.wake_at),
        *(owner, lease_until, t, t, step.run_id),
    )


def _error(raw: str | None) -> ErrorInfo | None:
    return None if raw is None else ErrorInfo.from_dict(json.loads(raw))


def _error_json(error: ErrorInfo | None) -> str | None:
    return None if error is None else dumps(error.to_dict())


def _run(row: tuple[Any, ...]) -> RunRecord:
    run_id, workflow, status, input_json, output_json, error_json, created_at, updated_at = row
    return RunRecord(run_id, workflow, status, input_json, output_json, _error(error_json), created_at, updated_at)


def _step(row: tuple[Any, ...]) -> StepRecord:
    fields = dict(zip(_STEP_NAMES, row, strict=True))
    fields["error"] = _error(fields.pop("error_json"))
    return StepRecord(**fields)


class SQLiteStateStore:
    """A :class:`~pikku.backends.StateStore` in a SQLite file; with a co-located queue when opened as a pair."""

    def __init__(self, db: Database, *, handoff: bool = False) -> None:
        self._db = db
        self.supports_handoff = handoff  # the queue shares this database (opened as a pair)
        self.supports_ack = False
        self._closed = False
        db.retain()

    # -- helpers
    def _require_run(self, run_id: str) -> None:
        if self._db.fetchone("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)) is None:
            raise RunNotFoundError(run_id)

    def _require_step(self, run_id: str, name: str) -> None:
        if self._db.fetchone("SELECT 1 FROM steps WHERE run_id = ? AND name = ?", (run_id, name)) is None:
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
            insert_job(self._db, handoff.queue, handoff.payload, t + handoff.delay, handoff.priority)

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
    ) -> RunRecord:
        self._check_handoff(handoff)
        t = now()
        # The lock (if any) is written by the INSERT itself: no separate acquire.
        lock_until = None if lock_owner is None else t + lock_lease
        sql = (
            "INSERT INTO runs (run_id, workflow, status, input_json, created_at, updated_at, lock_owner, lock_until) "
            "VALUES (?, ?, 'running', ?, ?, ?, ?, ?)"
        )
        try:
            with self._tx(handoff is not None) as db:
                db.rowcount(sql, (run_id, workflow, input_json, t, t, lock_owner, lock_until))
                self._enqueue(handoff, t)
        except sqlite3.IntegrityError:
            raise ValueError(f"run {run_id!r} already exists") from None
        self._notify(handoff)
        return RunRecord(run_id, workflow, "running", input_json, created_at=t, updated_at=t)

    async def get_run(self, run_id: str) -> RunRecord:
        row = self._db.fetchone(f"SELECT {_RUN_COLS} FROM runs WHERE run_id = ?", (run_id,))
        if row is None:
            raise RunNotFoundError(run_id)
        return _run(row)

    async def list_runs(
        self,
        *,
        workflow: str | None = None,
        status: RunStatus | None = None,
        limit: int = 100,
        before: str | None = None,
    ) -> list[RunRecord]:
        where, args = ["1"], []
        if before is not None:
            await self.get_run(before)  # RunNotFoundError for an anchor that does not exist
            where.append("(created_at, rowid) < (SELECT created_at, rowid FROM runs WHERE run_id = ?)")
            args.append(before)
        if workflow is not None:
            where.append("workflow = ?")
            args.append(workflow)
        if status is not None:
            where.append("status = ?")
            args.append(status)
        sql = f"SELECT {_RUN_COLS} FROM runs WHERE {' AND '.join(where)} ORDER BY created_at DESC, rowid DESC LIMIT ?"
        return [_run(row) for row in self._db.fetchall(sql, (*args, max(limit, 0)))]

    def _settle(self, run_id: str, status: RunStatus, output: str | None, error: ErrorInfo | None) -> bool:
        sql = (
            "UPDATE runs SET status = ?, output_json = ?, error_json = ?, updated_at = ?, "
            "lock_owner = NULL, lock_until = NULL WHERE run_id = ? AND status = 'running'"
        )
        if self._db.rowcount(sql, (status, output, _error_json(error), now(), run_id)):
            return True
        self._require_run(run_id)
        return False

    async def complete_run(self, run_id: str, output_json: str) -> bool:
        return self._settle(run_id, "completed", output_json, None)

    async def fail_run(self, run_id: str, error: ErrorInfo) -> bool:
        return self._settle(run_id, "failed", None, error)

    async def cancel_run(self, run_id: str) -> bool:
        return self._settle(run_id, "cancelled", None, None)

    # -- lock
    async def acquire_run_lock(self, run_id: str, owner: str, lease_s: float) -> bool:
        t = now()
        sql = (
            "UPDATE runs SET lock_owner = ?, lock_until = ? "
            "WHERE run_id = ? AND (lock_owner IS NULL OR lock_owner = ? OR lock_until <= ?)"
        )
        if self._db.rowcount(sql, (owner, t + lease_s, run_id, owner, t)):
            return True
        self._require_run(run_id)
        return False

    async def lock_run(self, run_id: str, owner: str, lease_s: float) -> tuple[RunRecord, dict[str, StepRecord] | None]:
        """One transaction: the conditional lock ``UPDATE ... RETURNING`` the run, then the steps."""
        t = now()
        sql = (
            "UPDATE runs SET lock_owner = ?, lock_until = ? WHERE run_id = ? AND status = 'running' "
            f"AND (lock_owner IS NULL OR lock_owner = ? OR lock_until <= ?) RETURNING {_RUN_COLS}"
        )
        steps_sql = f"SELECT {_STEP_COLS} FROM steps WHERE run_id = ? ORDER BY rowid"
        with self._db.write() as db:
            row = db.fetchone(sql, (owner, t + lease_s, run_id, owner, t))
            if row is None:  # settled, locked by another live owner, or missing
                row = db.fetchone(f"SELECT {_RUN_COLS} FROM runs WHERE run_id = ?", (run_id,))
                if row is None:
                    raise RunNotFoundError(run_id)
                return _run(row), None
            steps = {step.name: step for step in map(_step, db.fetchall(steps_sql, (run_id,)))}
        return _run(row), steps

    async def renew_run_lock(self, run_id: str, owner: str, lease_s: float) -> bool:
        sql = "UPDATE runs SET lock_until = ? WHERE run_id = ? AND lock_owner = ?"
        if self._db.rowcount(sql, (now() + lease_s, run_id, owner)):
            return True
        self._require_run(run_id)
        return False

    async def release_run_lock(self, run_id: str, owner: str, *, ack: Job | None = None) -> None:
        refuse_ack(ack)
        sql = "UPDATE runs SET lock_owner = NULL, lock_until = NULL WHERE run_id = ? AND lock_owner = ?"
        self._db.rowcount(sql, (run_id, owner))

    # -- steps
    async def get_steps(self, run_id: str) -> dict[str, StepRecord]:
        # One query: the run row is joined so that "no such run" and "no steps yet" differ.
        cols = ", ".join(f"s.{c}" for c in _STEP_NAMES)
        sql = f"SELECT {cols} FROM runs r LEFT JOIN steps s ON s.run_id = r.run_id WHERE r.run_id = ? ORDER BY s.rowid"
        rows = self._db.fetchall(sql, (run_id,))
        if not rows:
            raise RunNotFoundError(run_id)
        return {row[1]: _step(row) for row in rows if row[1] is not None}

    async def get_step(self, run_id: str, name: str) -> StepRecord:
        row = self._db.fetchone(f"SELECT {_STEP_COLS} FROM steps WHERE run_id = ? AND name = ?", (run_id, name))
        if row is None:
            self._require_run(run_id)
            raise StepNotFoundError(run_id, name)
        return _step(row)

    async def insert_step(self, step: NewStep, *, handoff: Enqueue | None = None) -> StepRecord:
        self._check_handoff(handoff)
        owner = claim_owner(step)
        t = now()
        # The attempt row and the hand-off job are written only when this call inserted the step. A step
        # inserted done has no attempt row: get_attempts reads its one attempt off the step.
        with self._tx(step.status == "running" or handoff is not None) as db:
            status = step.status
            if owner is not None and not self._run_is_running(db, step.run_id):
                status, owner = "pending", None  # a claim needs a running run (as claim_step): inserted unclaimed
            row = db.fetchone(_INSERT_STEP, _insert_args(step, status, owner, t))
            if row is not None and status == "running":  # claimed: its open attempt
                db.rowcount(
                    "INSERT INTO attempts (run_id, name, attempt, started_at) VALUES (?, ?, 1, ?)",
                    (step.run_id, step.name, t),
                )
            if row is not None:
                self._enqueue(handoff, t)
        if row is None:
            return await self.get_step(step.run_id, step.name)
        self._notify(handoff)
        return _step(row)

    @staticmethod
    def _run_is_running(db: Database, run_id: str) -> bool:
        """Read inside the insert's write transaction, so the run cannot settle before the step is in."""
        row = db.fetchone("SELECT status FROM runs WHERE run_id = ?", (run_id,))
        return row is not None and row[0] == "running"

    async def mark_step_scheduled(self, run_id: str, name: str) -> bool:
        sql = (
            "UPDATE steps SET status = 'scheduled', updated_at = ? WHERE run_id = ? AND name = ? AND status = 'pending'"
        )
        if self._db.rowcount(sql, (now(), run_id, name)):
            return True
        self._require_step(run_id, name)
        return False

    async def claim_step(self, run_id: str, name: str, owner: str, lease_s: float) -> StepRecord | None:
        t = now()
        sql = (
            "UPDATE steps SET status = 'running', lease_owner = ?, lease_until = ?, attempts = attempts + 1, "
            f"updated_at = ? WHERE run_id = ? AND name = ? AND {_CLAIMABLE} AND {_RUN_RUNNING} "
            f"RETURNING {_STEP_COLS}"
        )
        with self._db.write() as db:
            row = db.fetchone(sql, (owner, t + lease_s, t, run_id, name, t, run_id))
            if row is not None:
                attempt = row[_STEP_NAMES.index("attempts")]
                db.rowcount(
                    "INSERT INTO attempts (run_id, name, attempt, started_at) VALUES (?, ?, ?, ?)",
                    (run_id, name, attempt, t),
                )
        if row is None:
            self._require_step(run_id, name)
            return None
        return _step(row)

    async def renew_step_lease(self, run_id: str, name: str, owner: str, lease_s: float) -> bool:
        sql = (
            "UPDATE steps SET lease_until = ? WHERE run_id = ? AND name = ? AND status = 'running' AND lease_owner = ?"
        )
        if self._db.rowcount(sql, (now() + lease_s, run_id, name, owner)):
            return True
        self._require_step(run_id, name)
        return False

    def _finish(
        self,
        run_id: str,
        name: str,
        sets: str,
        args: tuple[Any, ...],
        error: ErrorInfo | None,
        handoff: Enqueue | None,
        owner: str | None,
    ) -> bool:
        """Move an open step on (``sets``), end its open attempt, enqueue the hand-off: one transaction.

        With ``owner`` the update matches only a step running under that owner's claim.
        """
        self._check_handoff(handoff)
        t = now()
        held = "" if owner is None else " AND status = 'running' AND lease_owner = ?"
        sql = (
            f"UPDATE steps SET {sets}, lease_owner = NULL, lease_until = NULL, updated_at = ? "
            f"WHERE run_id = ? AND name = ? AND {_OPEN}{held} RETURNING attempts"
        )
        where: tuple[Any, ...] = (run_id, name) if owner is None else (run_id, name, owner)
        end = (
            "UPDATE attempts SET ended_at = ?, error_json = ? "
            "WHERE run_id = ? AND name = ? AND attempt = ? AND ended_at IS NULL"
        )
        with self._db.write() as db:
            row = db.fetchone(sql, (*args, t, *where))
            if row is not None:
                db.rowcount(end, (t, _error_json(error), run_id, name, row[0]))
                self._enqueue(handoff, t)
        if row is None:
            self._require_step(run_id, name)
            return False
        self._notify(handoff)
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
        sets = "status = 'done', result_json = ?, result_type = ?, error_json = NULL"
        return self._finish(run_id, name, sets, (result_json, result_type), None, handoff, owner)

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
        sets = "status = ?, wake_at = COALESCE(?, wake_at), error_json = ?"
        return self._finish(run_id, name, sets, (status, retry_at, _error_json(error)), error, handoff, owner)

    async def get_attempts(self, run_id: str, name: str) -> list[StepAttempt]:
        sql = (
            "SELECT attempt, started_at, ended_at, error_json FROM attempts "
            "WHERE run_id = ? AND name = ? ORDER BY attempt"
        )
        rows = self._db.fetchall(sql, (run_id, name))
        if not rows:
            return attempt_of_done_insert(await self.get_step(run_id, name))
        return [StepAttempt(attempt, started, ended, _error(err)) for attempt, started, ended, err in rows]

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._db.release()
