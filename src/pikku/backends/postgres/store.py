"""PostgreSQL state store.

Every transition is one conditional statement (an ``UPDATE ... WHERE <condition>``, with the attempt row
and the optional hand-off job written by CTEs of the same statement; ``create_run`` writes a run's first
job and ``insert_step`` a dispatched step's job the same way), so it is atomic and costs one round trip; a
lost race shows as zero rows. Only then is existence checked, to tell "missing" (raise) from "condition
false" (return False/None). Timestamps come from the database clock (see :mod:`pikku.backends.postgres.database`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg.errors

from pikku._errors import CorruptStateError, RunNotFoundError, StepNotFoundError
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
)
from pikku.backends._wakeup import wakes
from pikku.backends.postgres import statements
from pikku.backends.postgres.database import PgDatabase, Row, claim_of, migrate

__all__ = ["PostgresStateStore", "migrate"]

#: Where a first page of list_runs starts: before every run.
_FIRST_PAGE: dict[str, Any] = {"before_created_at": float("inf"), "before_seq": 2**63 - 1}
#: The ack parameters of a statement that acknowledges nothing.
_NO_ACK: dict[str, Any] = {"ack_job_id": None, "ack_owner": None, "ack_attempts": None}


def _done_params(
    run_id: str, name: str, owner: str | None, result_json: str, result_type: str | None
) -> dict[str, Any]:
    """The settle statements' parameters for a step completed with ``result_json``."""
    return {
        "run_id": run_id,
        "name": name,
        "owner": owner,
        "status": "done",
        "result_json": result_json,
        "result_type": result_type,
        "wake_at": None,
        "error_json": None,
    }


def _take_params(take: Take) -> dict[str, Any]:
    return {"take_owner": take.owner, "take_lease_s": float(take.lease_s)}


def _taken_job(row: Row, job: Enqueue, take: Take) -> Job | None:
    """The job a statement wrote claimed by ``take.owner`` (its columns, see statements._TAKEN_COLUMNS)."""
    if row["job_id"] is None:
        return None
    attempts = row["job_attempts"]
    return Job(
        id=str(row["job_id"]),
        queue=job.queue,
        payload=json.loads(json.dumps(job.payload)),  # as a claim would read it back
        attempts=attempts,
        run_at=row["job_run_at"],
        lease_until=row["job_until"],
        owner=take.owner,
        receipt=str(attempts),
    )


def _error_json(error: ErrorInfo | None) -> str | None:
    # ASCII-escaped JSON (here and for job payloads): text pikku encodes itself must always be storable,
    # even a message carrying a lone surrogate from surrogateescape-decoded bytes.
    return None if error is None else json.dumps(error.to_dict())


def _error(raw: str | None, table: str, *key: str) -> ErrorInfo | None:
    """The stored error ``raw`` of the row ``key`` of ``table`` (named in the error only when it is corrupt)."""
    if raw is None:
        return None
    try:
        return ErrorInfo.from_dict(json.loads(raw))
    except (ValueError, AttributeError) as exc:
        where = f"{table}[{', '.join(map(repr, key))}]"
        raise CorruptStateError(where, f"error is not a JSON object: {exc}") from exc


def _run(row: Row) -> RunRecord:
    return RunRecord(
        run_id=row["run_id"],
        workflow=row["workflow"],
        status=row["status"],
        input_json=row["input_json"],
        output_json=row["output_json"],
        error=_error(row["error_json"], "runs", row["run_id"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        parent_run_id=row["parent_run_id"],
        forked_from=row["forked_from"],
        cancel_reason=row["cancel_reason"],
        resumes=row["resumes"],
    )


@dataclass(frozen=True, slots=True)
class _StepColumns:
    """The names of a row's step columns (LOCK_RUN's carry a prefix: its rows also hold the run)."""

    name: str
    form: str
    status: str
    rpc_name: str
    data_json: str
    result_json: str
    result_type: str
    error_json: str
    attempts: str
    max_attempts: str
    wake_at: str
    lease_owner: str
    lease_until: str
    created_at: str
    updated_at: str

    @classmethod
    def prefixed(cls, prefix: str) -> _StepColumns:
        return cls(*(prefix + field.name for field in dataclasses.fields(cls)))


_STEP_COLUMNS = _StepColumns.prefixed("")
_LOCKED_STEP_COLUMNS = _StepColumns.prefixed("step_")


def _step(run_id: str, row: Row, columns: _StepColumns = _STEP_COLUMNS) -> StepRecord:
    """The step in ``row``, its columns named by ``columns`` (one step per row, read on every step)."""
    name = row[columns.name]
    return StepRecord(
        run_id=run_id,
        name=name,
        form=row[columns.form],
        status=row[columns.status],
        rpc_name=row[columns.rpc_name],
        data_json=row[columns.data_json],
        result_json=row[columns.result_json],
        result_type=row[columns.result_type],
        error=_error(row[columns.error_json], "steps", run_id, name),
        attempts=row[columns.attempts],
        max_attempts=row[columns.max_attempts],
        wake_at=row[columns.wake_at],
        lease_owner=row[columns.lease_owner],
        lease_until=row[columns.lease_until],
        created_at=row[columns.created_at],
        updated_at=row[columns.updated_at],
    )


def _inserted(step: NewStep, attempts: int, row: Row) -> StepRecord:
    """The step INSERT_STEP stored: the values given, at the database's time in ``row``."""
    return StepRecord(
        run_id=step.run_id,
        name=step.name,
        form=step.form,
        status=step.status,
        rpc_name=step.rpc_name,
        data_json=step.data_json,
        result_json=step.result_json,
        result_type=step.result_type,
        attempts=attempts,
        max_attempts=step.max_attempts,
        wake_at=None if step.wake_at is None else float(step.wake_at),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _unattempted(run_id: str, row: Row) -> StepRecord:
    """The step of a GET_RUN_ATTEMPTS row without attempt rows, as far as :func:`attempt_of_done_insert`
    reads it (the row carries no values or lease)."""
    return StepRecord(
        run_id=run_id,
        name=row["name"],
        form=row["form"],
        status=row["status"],
        attempts=row["attempts"],
        created_at=row["created_at"],
    )


class PostgresStateStore:
    """A :class:`~pikku.backends.StateStore` on PostgreSQL."""

    def __init__(self, db: PgDatabase, *, handoff: bool = False) -> None:
        self._db = db.acquire()
        self._channel = db.cfg.channel
        self._closed = False
        self.supports_handoff = handoff
        self.supports_ack = handoff  # jobs live in the same database

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
        params: dict[str, Any] = {
            "run_id": run_id,
            "workflow": workflow,
            "input_json": input_json,
            "lock_owner": lock_owner,
            "lock_lease": None if lock_owner is None else lock_lease,
            "parent_run_id": parent_run_id,
            "forked_from": forked_from,
        }
        query = statements.CREATE_RUN
        if handoff is not None:
            query = statements.CREATE_RUN_WITH_JOB
            params |= self._handoff_params(handoff)
        try:
            row = await self._db.fetchone(query, params)
        except psycopg.errors.UniqueViolation:
            raise ValueError(f"run {run_id!r} already exists") from None
        assert row is not None
        return _run(row)

    async def now(self) -> float:
        row = await self._db.fetchone(statements.NOW, {})
        assert row is not None
        now: float = row["now"]
        return now

    async def get_run(self, run_id: str) -> RunRecord:
        row = await self._db.fetchone(statements.GET_RUN, {"run_id": run_id})
        if row is None:
            raise RunNotFoundError(run_id)
        return _run(row)

    async def count_runs(self) -> dict[str, int]:
        return {row["status"]: row["n"] for row in await self._db.fetchall(statements.COUNT_RUNS, {})}

    async def list_runs(
        self,
        *,
        workflow: str | None = None,
        status: RunStatus | None = None,
        limit: int = 100,
        before: str | None = None,
    ) -> list[RunRecord]:
        if limit <= 0:
            return []
        params: dict[str, Any] = {"workflow": workflow, "status": status, "limit": limit}
        params |= _FIRST_PAGE if before is None else await self._page_anchor(before)
        if workflow is not None and status is not None:
            query = statements.LIST_RUNS_OF_WORKFLOW_WITH_STATUS
        elif status is not None:
            query = statements.LIST_RUNS_WITH_STATUS
        elif workflow is not None:
            query = statements.LIST_RUNS_OF_WORKFLOW
        else:
            query = statements.LIST_RUNS
        return [_run(row) for row in await self._db.fetchall(query, params)]

    async def _page_anchor(self, before: str) -> dict[str, Any]:
        """Where the page after run ``before`` starts; RunNotFoundError if there is no such run."""
        row = await self._db.fetchone(statements.RUN_PAGE_ANCHOR, {"run_id": before})
        if row is None:
            raise RunNotFoundError(before)
        return {"before_created_at": row["created_at"], "before_seq": row["seq"]}

    async def _settle(
        self, run_id: str, status: str, output: str | None, error: ErrorInfo | None, reason: str | None = None
    ) -> bool:
        params = {"run_id": run_id, "status": status, "output_json": output, "error_json": _error_json(error)}
        params["cancel_reason"] = reason
        if await self._db.rowcount(statements.SETTLE_RUN, params):
            return True
        await self._require_run(run_id)
        return False

    async def complete_run(self, run_id: str, output_json: str) -> bool:
        return await self._settle(run_id, "completed", output_json, None)

    async def fail_run(self, run_id: str, error: ErrorInfo) -> bool:
        return await self._settle(run_id, "failed", None, error)

    async def cancel_run(self, run_id: str, reason: str | None = None) -> bool:
        return await self._settle(run_id, "cancelled", None, None, reason)

    async def list_children(self, run_id: str) -> list[RunRecord]:
        await self._require_run(run_id)  # children may outlive a pruned parent: their rows alone do not say
        return [_run(row) for row in await self._db.fetchall(statements.LIST_CHILDREN, {"run_id": run_id})]

    async def suspend_run(self, run_id: str, name: str, data_json: str) -> bool:
        params = {"run_id": run_id, "name": name, "data_json": data_json}
        row = await self._db.fetchone(statements.SUSPEND_RUN, params)
        if row and row["suspended"]:
            return True
        await self._require_run(run_id)
        return False

    async def _require_run(self, run_id: str) -> None:
        if await self._db.fetchone(statements.RUN_EXISTS, {"run_id": run_id}) is None:
            raise RunNotFoundError(run_id)

    async def _require_step(self, run_id: str, name: str) -> None:
        row = await self._db.fetchone(statements.STEP_EXISTS, {"run_id": run_id, "name": name})
        if not row or not row["run_exists"]:
            raise RunNotFoundError(run_id)
        if not row["step_exists"]:
            raise StepNotFoundError(run_id, name)

    # -- lock
    async def acquire_run_lock(self, run_id: str, owner: str, lease_s: float) -> bool:
        params = {"run_id": run_id, "owner": owner, "lease_s": float(lease_s)}
        if await self._db.rowcount(statements.ACQUIRE_RUN_LOCK, params):
            return True
        await self._require_run(run_id)
        return False

    async def lock_run(self, run_id: str, owner: str, lease_s: float) -> tuple[RunRecord, dict[str, StepRecord] | None]:
        """One statement: the lock taken (when free) and the run joined with its steps."""
        params = {"run_id": run_id, "owner": owner, "lease_s": float(lease_s)}
        rows = await self._db.fetchall(statements.LOCK_RUN, params)
        if not rows:
            raise RunNotFoundError(run_id)
        run = _run(rows[0])
        if not rows[0]["locked"]:  # settled, or another owner's live lock
            return run, None
        steps = (_step(run_id, row, _LOCKED_STEP_COLUMNS) for row in rows if row["step_name"] is not None)
        return run, {step.name: step for step in steps}

    async def lock_run_kept(
        self, run_id: str, owner: str, lease_s: float, *, step_count: int, names: Sequence[str]
    ) -> tuple[RunRecord, dict[str, StepRecord] | None, bool]:
        """One statement: the lock, the step count, and the named steps only (all of them if it changed)."""
        params = {"run_id": run_id, "owner": owner, "lease_s": float(lease_s), "step_count": step_count}
        rows = await self._db.fetchall(statements.LOCK_RUN_KEPT, params | {"names": list(names)})
        if not rows:
            raise RunNotFoundError(run_id)
        run = _run(rows[0])
        if not rows[0]["locked"]:
            return run, None, True
        steps = (_step(run_id, row, _LOCKED_STEP_COLUMNS) for row in rows if row["step_name"] is not None)
        return run, {step.name: step for step in steps}, bool(rows[0]["whole"])

    async def renew_run_lock(self, run_id: str, owner: str, lease_s: float) -> bool:
        params = {"run_id": run_id, "owner": owner, "lease_s": float(lease_s)}
        if await self._db.rowcount(statements.RENEW_RUN_LOCK, params):
            return True
        await self._require_run(run_id)
        return False

    async def release_run_lock(self, run_id: str, owner: str, *, ack: Job | None = None, waiting: bool = False) -> None:
        params = {"run_id": run_id, "owner": owner, "waiting": waiting} | self._ack_params(ack)
        await self._db.rowcount(statements.RELEASE_RUN_LOCK, params)

    # -- steps
    async def get_steps(self, run_id: str) -> dict[str, StepRecord]:
        rows = await self._db.fetchall(statements.GET_STEPS, {"run_id": run_id})
        if not rows:
            raise RunNotFoundError(run_id)
        return {row["name"]: _step(run_id, row) for row in rows if row["name"] is not None}

    async def get_step(self, run_id: str, name: str) -> StepRecord:
        row = await self._db.fetchone(statements.GET_STEP, {"run_id": run_id, "name": name})
        if row is None:
            raise RunNotFoundError(run_id)
        if row["name"] is None:
            raise StepNotFoundError(run_id, name)
        return _step(run_id, row)

    async def insert_step(self, step: NewStep, *, handoff: Enqueue | None = None) -> StepRecord:
        owner = claim_owner(step)
        params: dict[str, Any] = {
            "run_id": step.run_id,
            "name": step.name,
            "form": step.form,
            "status": step.status,
            "rpc_name": step.rpc_name,
            "data_json": step.data_json,
            "result_json": step.result_json,
            "result_type": step.result_type,
            "max_attempts": step.max_attempts,
            "wake_at": step.wake_at,
        }
        if handoff is None and owner is None:
            query = statements.INSERT_STEP
            params["attempts"] = 1 if step.status == "done" else 0
        else:
            query = statements.INSERT_CLAIMED_STEP if handoff is None else statements.INSERT_STEP_WITH_JOB
            params |= {"lease_owner": owner, "lease_s": None if owner is None else float(step.lease_s)}
            if handoff is not None:
                params |= self._handoff_params(handoff)
        try:
            row = await self._db.fetchone(query, params)
        except psycopg.errors.ForeignKeyViolation:
            raise RunNotFoundError(step.run_id) from None
        if row is None:
            # It exists already (the plain insert), or a concurrent insert committed after the CTE's
            # snapshot: either way it is there now.
            return await self.get_step(step.run_id, step.name)
        if query is statements.INSERT_STEP:
            return _inserted(step, params["attempts"], row)
        return _step(step.run_id, row)

    async def mark_step_scheduled(self, run_id: str, name: str) -> bool:
        if await self._db.rowcount(statements.MARK_STEP_SCHEDULED, {"run_id": run_id, "name": name}):
            return True
        await self._require_step(run_id, name)
        return False

    async def claim_step(
        self, run_id: str, name: str, owner: str, lease_s: float, *, form: StepForm | None = None
    ) -> StepRecord | None:
        params = {"run_id": run_id, "name": name, "owner": owner, "lease_s": float(lease_s), "form": form}
        row = await self._db.fetchone(statements.CLAIM_STEP, params)
        if row is not None:
            return _step(run_id, row)
        await self._require_step(run_id, name)
        return None

    async def renew_step_lease(self, run_id: str, name: str, owner: str, lease_s: float) -> bool:
        params = {"run_id": run_id, "name": name, "owner": owner, "lease_s": float(lease_s)}
        if await self._db.rowcount(statements.RENEW_STEP_LEASE, params):
            return True
        await self._require_step(run_id, name)
        return False

    def _handoff_params(self, handoff: Enqueue) -> dict[str, Any]:
        """The hand-off job's parameters; TypeError (before anything is written) without a co-located queue."""
        if not self.supports_handoff:
            raise TypeError("this store has no co-located queue; enqueue the handoff separately")
        return {
            "job_queue": handoff.queue,
            "job_payload": json.dumps(handoff.payload),
            "job_delay": float(handoff.delay),
            "job_priority": None if handoff.priority is None else float(handoff.priority),
            "job_key": handoff.key,
            "notify": wakes(handoff.delay),
            "channel": self._channel,
        }

    def _ack_params(self, job: Job | None) -> dict[str, Any]:
        """The acknowledged job's claim; TypeError (before anything is written) without a co-located queue."""
        if job is None:
            return _NO_ACK
        if not self.supports_ack:
            raise TypeError("this store has no co-located queue; ack the job on its queue")
        claim = claim_of(job)
        if claim is None:  # not claimed from this queue: matches no row, as the queue's ack
            return _NO_ACK
        return {"ack_job_id": claim[0], "ack_owner": job.owner, "ack_attempts": claim[1]}

    async def release_run_lock_dispatching(
        self, run_id: str, owner: str, *, ack: Job | None, waiting: bool, step: NewStep, job: Enqueue, take: Take
    ) -> tuple[StepRecord, Job | None]:
        """The step inserted ``running`` (claimed by ``take.owner``) with its job written claimed by the same
        owner (neither when the step exists), and :meth:`release_run_lock` with ``ack``: one statement."""
        if run_id != step.run_id:
            raise ValueError(f"step {step.name!r} of run {step.run_id!r} dispatched with the release of {run_id!r}")
        release = {"owner": owner, "waiting": waiting} | self._ack_params(ack)
        return await self._dispatch_taking(statements.RELEASE_RUN_LOCK_DISPATCHING, step, job, take, release)

    async def _dispatch_taking(
        self, query: str, step: NewStep, job: Enqueue, take: Take, extra: dict[str, Any]
    ) -> tuple[StepRecord, Job | None]:
        params: dict[str, Any] = {
            "run_id": step.run_id,
            "name": step.name,
            "form": step.form,
            "status": "running",
            "rpc_name": step.rpc_name,
            "data_json": step.data_json,
            "result_json": None,
            "result_type": None,
            "max_attempts": step.max_attempts,
            "wake_at": None,
            "lease_owner": take.owner,
            "lease_s": float(step.lease_s or take.lease_s),
        }
        params |= self._handoff_params(job) | _take_params(take) | extra
        try:
            row = await self._db.fetchone(query, params)
        except psycopg.errors.ForeignKeyViolation:
            raise RunNotFoundError(step.run_id) from None
        if row is None:  # a concurrent insert committed after the statement's snapshot: it is there now
            return await self.get_step(step.run_id, step.name), None
        return _step(step.run_id, row), _taken_job(row, job, take)

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
        """:meth:`complete_step` with the hand-off written claimed by ``take.owner`` and returned (and with
        ``lock_lease`` the run locked for it when free, with what its next pass reads first)."""
        params = _done_params(run_id, name, owner, result_json, result_type)
        params |= self._handoff_params(handoff) | _take_params(take) | self._ack_params(ack)
        query = statements.SETTLE_STEP_TAKING_JOB
        if lock_lease is not None:
            query, params["lock_lease"] = statements.SETTLE_STEP_TAKING_PASS, float(lock_lease)
        row = await self._db.fetchone(query, params)
        if not (row and row["settled"]):
            await self._require_step(run_id, name)
            return TakenSettle(False)
        done = TakenSettle(True, _taken_job(row, handoff, take))
        if lock_lease is not None and row["run_id"] is not None:
            done.run, done.step_count = _run(row), row["step_count"]
            done.step = _step(run_id, row, _LOCKED_STEP_COLUMNS)
        return done

    async def _settle_step(self, params: dict[str, Any], handoff: Enqueue | None, ack: Job | None) -> bool:
        query = statements.SETTLE_STEP
        if handoff is not None:
            query = statements.SETTLE_STEP_WITH_JOB
            params |= self._handoff_params(handoff)
        params |= self._ack_params(ack)
        row = await self._db.fetchone(query, params)
        if row and row["settled"]:
            return True
        await self._require_step(params["run_id"], params["name"])
        return False

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
        return await self._settle_step(_done_params(run_id, name, owner, result_json, result_type), handoff, ack)

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
        params: dict[str, Any] = {
            "run_id": run_id,
            "name": name,
            "owner": owner,
            "status": "failed" if retry_at is None else "scheduled",
            "result_json": None,
            "result_type": None,
            "wake_at": retry_at,
            "error_json": _error_json(error),
        }
        return await self._settle_step(params, handoff, ack)

    async def get_attempts(self, run_id: str, name: str) -> list[StepAttempt]:
        rows = await self._db.fetchall(statements.GET_ATTEMPTS, {"run_id": run_id, "name": name})
        if not rows:
            return attempt_of_done_insert(await self.get_step(run_id, name))
        return [
            StepAttempt(
                row["attempt"],
                row["started_at"],
                row["ended_at"],
                _error(row["error_json"], "step_attempts", run_id, name),
            )
            for row in rows
        ]

    async def get_run_attempts(self, run_id: str) -> dict[str, list[StepAttempt]]:
        rows = await self._db.fetchall(statements.GET_RUN_ATTEMPTS, {"run_id": run_id})
        if not rows:
            raise RunNotFoundError(run_id)
        every: dict[str, list[StepAttempt]] = {}
        for row in rows:
            name = row["name"]
            if name is None:  # a run without steps
                continue
            if row["attempt"] is None:  # no attempt rows: inserted done (one attempt on the step), or none
                every[name] = attempt_of_done_insert(_unattempted(run_id, row))
                continue
            error = _error(row["error_json"], "step_attempts", run_id, name)
            every.setdefault(name, []).append(StepAttempt(row["attempt"], row["started_at"], row["ended_at"], error))
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
        params: dict[str, Any] = {"run_id": run_id, "name": name, "payload_json": payload_json, "event_id": event_id}
        query = statements.SEND_EVENT
        if handoff is not None:
            query = statements.SEND_EVENT_WITH_JOB
            params |= self._handoff_params(handoff)
        row = await self._db.fetchone(query, params)
        if row is None:
            raise RunNotFoundError(run_id)
        if row["status"] in SETTLED_RUN_STATUSES:
            return "settled"
        return "stored" if row["stored"] else "duplicate"

    async def take_event(self, run_id: str, step: str, name: str) -> StepRecord | None:
        row = await self._db.fetchone(statements.TAKE_EVENT, {"run_id": run_id, "step": step, "name": name})
        if row is None:
            await self._require_step(run_id, step)
            raise StepNotFoundError(run_id, step)  # the step went between the statement and the look
        record = _step(run_id, row)
        return record if row["taken"] or record.status in ("done", "failed") else None

    async def get_events(self, run_id: str) -> list[EventRecord]:
        rows = await self._db.fetchall(statements.GET_EVENTS, {"run_id": run_id})
        if not rows:
            raise RunNotFoundError(run_id)
        return [
            EventRecord(
                run_id,
                row["seq"],
                row["name"],
                row["payload_json"],
                row["event_id"],
                row["created_at"],
                row["consumed_by"],
            )
            for row in rows
            if row["seq"] is not None
        ]

    # -- operating runs
    async def resume_run(self, run_id: str) -> bool:
        row = await self._db.fetchone(statements.RESUME_RUN, {"run_id": run_id})
        if row and row["resumed"]:
            return True
        await self._require_run(run_id)
        return False

    async def delete_runs(self, *, before: float, statuses: Sequence[RunStatus], limit: int) -> list[str]:
        wanted = [status for status in dict.fromkeys(statuses) if status in SETTLED_RUN_STATUSES]
        if limit <= 0 or not wanted:
            return []
        # The statement itself never deletes an unsettled run; leaving those statuses out only saves slices.
        params = {"statuses": wanted, "before": float(before), "limit": limit}
        return [row["run_id"] for row in await self._db.fetchall(statements.DELETE_RUNS, params)]

    # -- schedules
    async def get_schedule(self, name: str) -> ScheduleState:
        row = await self._db.fetchone(statements.GET_SCHEDULE, {"name": name})
        if row is None:
            return ScheduleState(name)
        return ScheduleState(name, row["last_tick"], row["last_run_id"], bool(row["paused"]))

    async def advance_schedule(self, name: str, *, expected: float | None, tick: float, run_id: str | None) -> bool:
        statement = statements.ADVANCE_NEW_SCHEDULE if expected is None else statements.ADVANCE_SCHEDULE
        params = {"name": name, "tick": float(tick), "run_id": run_id, "expected": expected}
        return await self._db.rowcount(statement, params) > 0

    async def set_schedule_paused(self, name: str, paused: bool) -> bool:
        statement = statements.PAUSE_SCHEDULE if paused else statements.UNPAUSE_SCHEDULE
        return await self._db.rowcount(statement, {"name": name}) > 0

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self._db.release()
