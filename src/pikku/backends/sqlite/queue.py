"""SQLite job queue: jobs are rows in the same database file as the state (see :mod:`pikku.backends.sqlite.database`).

A claim is one ``UPDATE ... RETURNING`` inside ``BEGIN IMMEDIATE``, taking due jobs in (priority, run_at, id)
order along the ``jobs_by_queue_priority`` index (a job's priority defaults to its due time). A job's
``attempts`` doubles as the claim token: ack, release and extend match id, owner and attempts, so a stale
claim (an expired lease that was claimed again, even by the same owner) can no longer touch the job.

Keyed jobs: the partial unique index ``jobs_waiting_by_key`` holds the waiting (unleased) jobs that have a
key, so an enqueue merges into the waiting job with ``ON CONFLICT`` in the insert itself, a claim takes a
job out of the index by leasing it, and a release merges into a waiting job before it could break it.

Dead jobs move to the ``dead_jobs`` table in the transaction that dead-letters them, so claims and counts,
which read ``jobs`` only, never see them. A retried one is enqueued again as a new job (a new id: a
delivery count reset to 0 must not make an old claim token valid again), merging like any keyed enqueue.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from pikku._clock import current
from pikku._records import DeadJob, Enqueue, Job
from pikku.backends.sqlite import statements as sql
from pikku.backends.sqlite.database import Database, Params, claim_params, dumps, insert_job

#: How often ``wait`` looks for jobs other processes enqueued (its own wake it at once).
POLL_S = 0.025


def _job(row: sql.JobRow) -> Job:
    payload = json.loads(row.payload_json)
    return Job(str(row.id), row.queue, payload, row.attempts, row.run_at, row.lease_until, row.owner)


def _dead(row: sql.DeadJobRow) -> DeadJob:
    return DeadJob(str(row.id), row.queue, json.loads(row.payload_json), row.attempts, row.reason, row.died_at)


def _dead_id(job_id: str) -> dict[str, Any]:
    """The parameter that names a dead job (an id that is no number names none)."""
    try:
        return {"id": int(job_id)}
    except ValueError:
        return {"id": -1}


def _claim_order(row: sql.JobRow) -> tuple[float, float, int]:
    return row.priority, row.run_at, row.id


def _among(queues: Sequence[str] | None, statements: tuple[str, str, str]) -> tuple[str, Params]:
    """The statement of ``statements`` (every queue, one queue, several) that suits ``queues`` (None: every
    queue), and its parameters: one queue by name, several as one JSON array."""
    every, one, several = statements
    names = None if queues is None else list(dict.fromkeys(queues))
    if names is None:
        return every, {}
    if len(names) == 1:
        return one, {"queue": names[0]}
    return several, {"queues": dumps(names)}


_CLAIM = (sql.CLAIM_JOBS, sql.CLAIM_JOBS_OF_QUEUE, sql.CLAIM_JOBS_OF_QUEUES)
_ANY_DUE = (sql.ANY_DUE, sql.ANY_DUE_OF_QUEUE, sql.ANY_DUE_OF_QUEUES)


class SQLiteQueue:
    """A :class:`~pikku.backends.JobQueue` in a SQLite file (shared with the state store of a pair)."""

    def __init__(self, db: Database) -> None:
        self._now = current().now  # the clock it was opened under (see pikku._clock)
        self._db = db
        self._closed = False
        db.retain()

    async def enqueue(
        self,
        queue: str,
        payload: dict[str, Any],
        *,
        delay: float = 0.0,
        priority: float | None = None,
        key: str | None = None,
    ) -> str:
        job_id = insert_job(self._db, Enqueue(queue, payload, delay, priority, key), self._now())
        self._db.wakeup.set()
        return job_id

    async def claim(self, queues: Sequence[str] | None, *, owner: str, lease_s: float, limit: int = 1) -> list[Job]:
        if limit <= 0 or (queues is not None and not queues):
            return []
        statement, params = _among(queues, _CLAIM)
        t = self._now()
        with self._db.write() as db:
            claim = {**params, "owner": owner, "lease_until": t + lease_s, "now": t, "limit": limit}
            rows = db.rows(statement, claim, sql.JobRow)
        rows.sort(key=_claim_order)  # RETURNING's order is unspecified
        return [_job(row) for row in rows]

    async def ack(self, job: Job) -> bool:
        return self._db.rowcount(sql.ACK_JOB, claim_params(job)) > 0

    async def release(self, job: Job, *, delay: float = 0.0) -> bool:
        token = claim_params(job) | {"run_at": self._now() + delay}
        with self._db.write() as db:
            # A keyed job whose key has a waiting job merges into it; any other job waits again itself.
            if db.row(sql.MERGE_RELEASED_JOB, token, sql.Id) is not None:
                released = db.rowcount(sql.ACK_JOB, claim_params(job)) > 0
            else:
                released = db.rowcount(sql.RELEASE_JOB, token) > 0
        if released:
            self._db.wakeup.set()
        return released

    async def extend(self, job: Job, lease_s: float) -> bool:
        return self._db.rowcount(sql.EXTEND_JOB, claim_params(job) | {"lease_until": self._now() + lease_s}) > 0

    def _due(self, queues: Sequence[str] | None) -> bool:
        if queues is not None and not queues:
            return False
        statement, params = _among(queues, _ANY_DUE)
        return self._db.row(statement, {**params, "now": self._now()}, sql.Found) is not None

    async def wait(self, queues: Sequence[str] | None, timeout: float) -> None:
        """Return when this process enqueues or releases a job, when a poll finds a due job, or at timeout."""
        wakeup = self._db.wakeup
        wakeup.clear()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        waiter = asyncio.ensure_future(wakeup.wait())
        try:
            while not waiter.done() and not self._due(queues):
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return
                await asyncio.wait((waiter,), timeout=min(remaining, POLL_S))
        finally:
            waiter.cancel()

    async def count(self, queue: str | None = None) -> int:
        if queue is None:
            row = self._db.row(sql.COUNT_JOBS, None, sql.Count)
        else:
            row = self._db.row(sql.COUNT_JOBS_OF_QUEUE, {"queue": queue}, sql.Count)
        return int(row.n) if row else 0

    async def dead_letter(self, job: Job, reason: str) -> bool:
        with self._db.write() as db:
            moved = db.rowcount(sql.DEAD_LETTER_JOB, claim_params(job) | {"reason": reason, "now": self._now()}) > 0
            if moved:
                db.rowcount(sql.ACK_JOB, claim_params(job))
        return moved

    async def list_dead(self, limit: int = 100) -> list[DeadJob]:
        return [_dead(row) for row in self._db.rows(sql.LIST_DEAD_JOBS, {"limit": max(limit, 0)}, sql.DeadJobRow)]

    async def retry_dead(self, job_id: str) -> bool:
        t = self._now()
        with self._db.write() as db:
            dead = db.row(sql.TAKE_DEAD_JOB, _dead_id(job_id), sql.RetriedJobRow)
            if dead is not None:  # payload_json as stored: the queue never re-encodes it
                again = {"queue": dead.queue, "payload_json": dead.payload_json, "run_at": t, "priority": None}
                db.row(sql.INSERT_JOB, again | {"key": dead.key}, sql.Id)
        if dead is None:
            return False
        self._db.wakeup.set()
        return True

    async def drop_dead(self, job_id: str) -> bool:
        return self._db.rowcount(sql.DROP_DEAD_JOB, _dead_id(job_id)) > 0

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._db.release()
