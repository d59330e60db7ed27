"""PostgreSQL job queue: one ``jobs`` table, claimed with ``FOR UPDATE SKIP LOCKED``.

A job is due when ``run_at`` has passed and it has no live lease (``locked_until``); a claim leases it,
so a worker that dies without acking leaves a job that is due again when its lease runs out. Due jobs are
claimed by (priority, run_at, id) off the ``jobs_claim`` index; a job's priority defaults to its due time.
A job with a key merges into the waiting job of its queue with that key (``jobs_waiting_key``). A
dead-lettered job moves to ``dead_jobs``, which no claim reads, until an operator retries or drops it.
Enqueues and releases ``NOTIFY`` a channel of the schema (payload: the queue name) in the same statement,
delivered on commit; :meth:`PostgresQueue.wait` listens on a dedicated connection and falls back to plain
timeouts while that connection is down. Times are the database clock (see :mod:`pikku.backends.postgres.database`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from pikku._records import DeadJob, Job
from pikku.backends._wakeup import QUIET_DELAY_S, Wakeups, wakes
from pikku.backends.postgres import statements
from pikku.backends.postgres.database import PgDatabase, Row, claim_of
from pikku.backends.postgres.vacuum import JobsVacuum

__all__ = ["PostgresQueue"]


def _job(row: Row) -> Job:
    return Job(
        id=str(row["id"]),
        queue=row["queue"],
        payload=json.loads(row["payload"]),
        attempts=row["attempts"],
        run_at=row["run_at"],
        lease_until=row["locked_until"],
        owner=row["owner"],
        receipt=str(row["attempts"]),
    )


def _dead(row: Row) -> DeadJob:
    return DeadJob(
        id=str(row["id"]),
        queue=row["queue"],
        payload=json.loads(row["payload"]),
        attempts=row["attempts"],
        reason=row["reason"],
        died_at=row["died_at"],
    )


def _dead_id(job_id: str) -> int | None:
    """The id of a dead job of this queue, None for text that cannot be one (no such dead job). Digits
    only: ``int()`` would also take " 7" or "7_0", which name no job this queue ever handed out."""
    return int(job_id) if job_id.isascii() and job_id.isdigit() else None


class _Listener:
    """LISTEN on a dedicated connection (never a pooled one) and feed notices to :class:`Wakeups`."""

    def __init__(self, db: PgDatabase, wakeups: Wakeups) -> None:
        self._db = db
        self._conninfo = db.cfg.conninfo
        self._channel = db.cfg.channel
        # A channel only this listener hears: stop() notifies it, so the loop leaves psycopg's notifies()
        # on its own. Cancelling a task parked in that generator could leave it unfinished at loop close.
        self._stop_channel = f"pikku_stop_{uuid.uuid4().hex}"
        self._wakeups = wakeups
        self.ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="pikku-pg-listen")

    async def stop(self) -> None:
        if self._task is not None:
            self._stopping = True
            if self.ready.is_set():  # parked in notifies(): wake it through its stop channel
                with contextlib.suppress(Exception):
                    notice = self._db.rowcount(statements.NOTIFY, {"channel": self._stop_channel})
                    await asyncio.wait_for(notice, 2.0)
            else:  # connecting or backing off: plain awaits, which a cancellation ends at once
                self._task.cancel()
            done, _ = await asyncio.wait({self._task}, timeout=2.0)
            if not done:  # bounded: closing a queue must not hang on a connection that stopped answering
                self._task.cancel()
                await asyncio.wait({self._task}, timeout=1.0)
            self._task = None

    async def _run(self) -> None:
        backoff, connected_before = 0.05, False
        while not self._stopping:
            try:
                async with await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True) as conn:
                    for channel in (self._channel, self._stop_channel):
                        await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                    if self._stopping:
                        return
                    self.ready.set()
                    if connected_before:
                        # Deaf while reconnecting: anything may have been enqueued meanwhile.
                        self._wakeups.notify(None)
                    connected_before, backoff = True, 0.05
                    async for notice in conn.notifies():
                        if self._stopping:
                            break
                        self._wakeups.notify(notice.payload)
            except psycopg.Error:
                pass
            self.ready.clear()
            if self._stopping:
                return
            # Waiters fall back to polling (their own timeouts) until the connection is back.
            self._wakeups.notify(None)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)


class PostgresQueue:
    """A :class:`~pikku.backends.JobQueue` on a PostgreSQL ``jobs`` table."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db.acquire()
        self._channel = db.cfg.channel
        self._wakeups = Wakeups()
        self._listener = _Listener(db, self._wakeups)
        self._closed = False
        self._probes: set[asyncio.Future[float | None]] = set()  # next-due probes running past their wait
        #: Dead jobs vacuumed while a drain runs, when autovacuum lags (see vacuum.py).
        self.vacuum = JobsVacuum(self._db)

    async def enqueue(
        self,
        queue: str,
        payload: dict[str, Any],
        *,
        delay: float = 0.0,
        priority: float | None = None,
        key: str | None = None,
    ) -> str:
        params = {
            "queue": queue,
            "payload": json.dumps(payload),
            "delay": float(delay),
            "priority": None if priority is None else float(priority),
            "key": key,
            "notify": wakes(delay),
            "channel": self._channel,
        }
        row = await self._db.fetchone(statements.ENQUEUE, params)
        assert row is not None
        return str(row["id"])

    async def claim(self, queues: Sequence[str] | None, *, owner: str, lease_s: float, limit: int = 1) -> list[Job]:
        self._listener.start()  # listen from the first claim on, so no notice after it is missed
        self._wakeups.claimed()
        self.vacuum.poke()
        if limit <= 0 or (queues is not None and not queues):
            return []
        params: dict[str, Any] = {"owner": owner, "lease_s": float(lease_s), "limit": limit}
        if queues is None:
            rows = await self._db.fetchall(statements.CLAIM_JOBS_FROM_ALL_QUEUES, params)
        else:
            params["queues"] = list(dict.fromkeys(queues))
            rows = await self._db.fetchall(statements.CLAIM_JOBS, params)
        rows.sort(key=lambda row: (row["priority"], row["run_at"], row["id"]))  # RETURNING has no order of its own
        return [_job(row) for row in rows]

    def _held(self, job: Job, **extra: Any) -> dict[str, Any] | None:
        """The parameters naming the claim ``job`` came from; None when it cannot be one of this queue."""
        claim = claim_of(job)
        if claim is None or job.owner is None:
            return None
        return {"job_id": claim[0], "attempts": claim[1], "owner": job.owner, **extra}

    async def ack(self, job: Job) -> bool:
        params = self._held(job)
        return params is not None and await self._db.rowcount(statements.ACK_JOB, params) > 0

    async def release(self, job: Job, *, delay: float = 0.0) -> bool:
        params = self._held(job, delay=float(delay), notify=wakes(delay), channel=self._channel)
        if params is None:
            return False
        row = await self._db.fetchone(statements.RELEASE_JOB, params)
        return bool(row and row["released"])

    async def extend(self, job: Job, lease_s: float) -> bool:
        params = self._held(job, lease_s=float(lease_s))
        return params is not None and await self._db.rowcount(statements.EXTEND_JOB, params) > 0

    async def wait(self, queues: Sequence[str] | None, timeout: float) -> None:
        if queues is not None and not queues:
            await asyncio.sleep(max(timeout, 0.0))
            return
        self._listener.start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(timeout, QUIET_DELAY_S)  # a quiet job may be enqueued meanwhile
        # No notice is sent when a delayed job falls due, so sleep no longer than until the earliest one.
        # Unreachable database: just sleep out the timeout; the next claim reports the outage. The probe is
        # never cancelled (that would cost a server-side cancel): past the timeout, or when this wait is
        # cancelled, it finishes in the background.
        probe = asyncio.ensure_future(self._next_due(queues))
        self._probes.add(probe)
        probe.add_done_callback(self._probe_done)
        await asyncio.wait({probe}, timeout=max(timeout, 0.0))
        if probe.done() and not probe.cancelled() and probe.exception() is None:
            due = probe.result()
            if due is not None:
                deadline = min(deadline, loop.time() + max(due, 0.0))
        timeout = deadline - loop.time()
        if not self._listener.ready.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._listener.ready.wait(), timeout)
        await self._wakeups.wait(queues, deadline - loop.time())

    def _probe_done(self, probe: asyncio.Future[float | None]) -> None:
        self._probes.discard(probe)
        if not probe.cancelled():
            probe.exception()  # retrieved (an outage is reported by the next claim)

    async def _next_due(self, queues: Sequence[str] | None) -> float | None:
        if queues is None:
            row = await self._db.fetchone(statements.NEXT_DUE_IN_ALL_QUEUES, {})
        else:
            row = await self._db.fetchone(statements.NEXT_DUE, {"queues": list(queues)})
        return None if not row or row["seconds"] is None else float(row["seconds"])

    async def count(self, queue: str | None = None) -> int:
        if queue is None:
            row = await self._db.fetchone(statements.COUNT_ALL_JOBS, {})
        else:
            row = await self._db.fetchone(statements.COUNT_JOBS, {"queue": queue})
        return int(row["jobs"]) if row else 0

    async def dead_letter(self, job: Job, reason: str) -> bool:
        params = self._held(job, reason=reason)
        return params is not None and await self._db.rowcount(statements.DEAD_LETTER_JOB, params) > 0

    async def list_dead(self, limit: int = 100) -> list[DeadJob]:
        if limit <= 0:
            return []
        return [_dead(row) for row in await self._db.fetchall(statements.LIST_DEAD_JOBS, {"limit": limit})]

    async def retry_dead(self, job_id: str) -> bool:
        dead_id = _dead_id(job_id)
        if dead_id is None:
            return False
        row = await self._db.fetchone(statements.RETRY_DEAD_JOB, {"job_id": dead_id, "channel": self._channel})
        return bool(row and row["retried"])

    async def drop_dead(self, job_id: str) -> bool:
        dead_id = _dead_id(job_id)
        return dead_id is not None and await self._db.rowcount(statements.DROP_DEAD_JOB, {"job_id": dead_id}) > 0

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self.vacuum.stop()
            await self._listener.stop()
            if self._probes:  # bounded, like the listener: let them hand their connections back
                await asyncio.wait(set(self._probes), timeout=2.0)
            await self._db.release()
