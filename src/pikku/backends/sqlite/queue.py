"""SQLite job queue: jobs are rows in the same database file as the state (see :mod:`pikku.backends.sqlite.database`).

A claim is one ``UPDATE ... RETURNING`` inside ``BEGIN IMMEDIATE``, taking due jobs in (priority, run_at, id)
order along the ``jobs_by_queue_priority`` index (a job's priority defaults to its due time). A job's
``attempts`` doubles as the claim token: ack, release and extend match id, owner and attempts, so a stale
claim (an expired lease that was claimed again, even by the same owner) can no longer touch the job.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from pikku._clock import now
from pikku._records import Job
from pikku.backends.sqlite.database import Database, insert_job

#: How often ``wait`` looks for jobs other processes enqueued (its own wake it at once).
POLL_S = 0.025

_DUE = "run_at <= ? AND (lease_until IS NULL OR lease_until <= ?)"
_HELD = "id = ? AND owner = ? AND attempts = ? AND lease_until IS NOT NULL"
_JOB_COLS = "id, queue, payload_json, attempts, run_at, lease_until, owner"
_ORDER = "priority, run_at, id"


def _queue_filter(queues: Sequence[str] | None) -> tuple[str, tuple[str, ...]]:
    if queues is None:
        return "", ()
    names = tuple(dict.fromkeys(queues))
    return f"queue IN ({', '.join('?' * len(names))}) AND ", names


def _job(row: tuple[Any, ...]) -> Job:
    job_id, queue, payload_json, attempts, run_at, lease_until, owner = row
    return Job(str(job_id), queue, json.loads(payload_json), attempts, run_at, lease_until, owner)


def _held_args(job: Job) -> tuple[Any, ...]:
    try:
        return (int(job.id), job.owner, job.attempts)
    except ValueError:
        return (-1, None, 0)


class SQLiteQueue:
    """A :class:`~pikku.backends.JobQueue` in a SQLite file (shared with the state store of a pair)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._closed = False
        db.retain()

    async def enqueue(
        self, queue: str, payload: dict[str, Any], *, delay: float = 0.0, priority: float | None = None
    ) -> str:
        job_id = insert_job(self._db, queue, payload, now() + delay, priority)
        self._db.wakeup.set()
        return job_id

    async def claim(self, queues: Sequence[str] | None, *, owner: str, lease_s: float, limit: int = 1) -> list[Job]:
        if limit <= 0 or (queues is not None and not queues):
            return []
        where, names = _queue_filter(queues)
        t = now()
        sql = (
            "UPDATE jobs SET attempts = attempts + 1, owner = ?, lease_until = ? WHERE id IN "
            f"(SELECT id FROM jobs WHERE {where}{_DUE} ORDER BY {_ORDER} LIMIT ?) RETURNING {_JOB_COLS}, priority"
        )
        with self._db.write() as db:
            rows = db.fetchall(sql, (owner, t + lease_s, *names, t, t, limit))
        rows.sort(key=lambda row: (row[-1], row[4], row[0]))  # RETURNING's order is unspecified
        return [_job(row[:-1]) for row in rows]

    async def ack(self, job: Job) -> bool:
        return self._db.rowcount(f"DELETE FROM jobs WHERE {_HELD}", _held_args(job)) > 0

    async def release(self, job: Job, *, delay: float = 0.0) -> bool:
        sql = f"UPDATE jobs SET owner = NULL, lease_until = NULL, run_at = ? WHERE {_HELD}"
        if self._db.rowcount(sql, (now() + delay, *_held_args(job))):
            self._db.wakeup.set()
            return True
        return False

    async def extend(self, job: Job, lease_s: float) -> bool:
        sql = f"UPDATE jobs SET lease_until = ? WHERE {_HELD}"
        return self._db.rowcount(sql, (now() + lease_s, *_held_args(job))) > 0

    def _due(self, queues: Sequence[str] | None) -> bool:
        if queues is not None and not queues:
            return False
        where, names = _queue_filter(queues)
        t = now()
        sql = f"SELECT 1 FROM jobs WHERE {where}{_DUE} LIMIT 1"
        return self._db.fetchone(sql, (*names, t, t)) is not None

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
            row = self._db.fetchone("SELECT COUNT(*) FROM jobs")
        else:
            row = self._db.fetchone("SELECT COUNT(*) FROM jobs WHERE queue = ?", (queue,))
        return int(row[0]) if row else 0

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._db.release()
