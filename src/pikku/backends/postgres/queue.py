"""PostgreSQL job queue: one ``jobs`` table, claimed with ``FOR UPDATE SKIP LOCKED``.

A job is due when ``run_at`` has passed and it has no live lease (``locked_until``); a claim leases it,
so a worker that dies without acking leaves a job that is due again when its lease runs out. Due jobs are
claimed by (priority, run_at, id) off the ``jobs_claim`` index; a job's priority defaults to its due time.
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

from pikku._records import Job
from pikku.backends._wakeup import QUIET_DELAY_S, Wakeups, wakes
from pikku.backends.postgres.database import NOW, PgDatabase, claim_of, quote_ident

__all__ = ["PostgresQueue"]

_JOB_COLS = "id, queue, payload, attempts, run_at, locked_until, owner"

# The queues with any job, by a loose index scan of jobs_due: one index probe per distinct queue.
_ALL_QUEUES = (
    "WITH RECURSIVE qs(name) AS (SELECT min(queue) FROM {jobs} UNION ALL "
    "SELECT (SELECT min(queue) FROM {jobs} WHERE queue > qs.name) FROM qs WHERE qs.name IS NOT NULL)"
)


class _Sql:
    """Every statement, schema-qualified once per queue."""

    def __init__(self, db: PgDatabase) -> None:
        jobs = db.table("jobs")
        chan = db.cfg.channel.replace("'", "''")
        # Each notifying statement has a quiet twin for jobs delayed past QUIET_DELAY_S (see pikku.backends._wakeup).
        self.enqueue_quiet = (
            f"WITH j AS (INSERT INTO {jobs} (queue, payload, run_at, priority) "
            f"VALUES (%(q)s, %(p)s, {NOW} + %(d)s, coalesce(%(pr)s::float8, {NOW} + %(d)s)) "
            "RETURNING id, queue) SELECT j.id FROM j"
        )
        self.enqueue = f"{self.enqueue_quiet}, pg_notify('{chan}', j.queue)"
        # Per queue, the first due jobs by (priority, run_at, id) straight off jobs_claim (row-locked,
        # skipping rows another claimer holds), then the first `limit` of those across queues, leased in the
        # same statement.
        pick = (
            "CROSS JOIN LATERAL (SELECT id, priority, run_at FROM {jobs} WHERE queue = qs.name "
            f"AND run_at <= {NOW} AND (locked_until IS NULL OR locked_until <= {NOW}) "
            "ORDER BY priority, run_at, id LIMIT %(n)s FOR UPDATE SKIP LOCKED) AS c "
        ).format(jobs=jobs)
        lease = (
            f"UPDATE {jobs} SET attempts = attempts + 1, owner = %(o)s, locked_until = {NOW} + %(l)s "
            # `= ANY(ARRAY(...))`: a primary-key probe per picked id even in the generic (prepared) plan,
            # where the unknown LIMIT would otherwise invite a hash join over the whole table.
            f"WHERE id = ANY(ARRAY(SELECT id FROM picked)) RETURNING {_JOB_COLS}, priority"
        )
        self.claim = (
            f"WITH picked AS (SELECT c.id FROM unnest(%(q)s::text[]) AS qs(name) {pick}"
            f"ORDER BY c.priority, c.run_at, c.id LIMIT %(n)s) {lease}"
        )
        self.claim_all = (
            f"{_ALL_QUEUES.format(jobs=jobs)}, picked AS (SELECT c.id FROM qs {pick}"
            f"WHERE qs.name IS NOT NULL ORDER BY c.priority, c.run_at, c.id LIMIT %(n)s) {lease}"
        )
        # A lease is one claim: the owner *and* the delivery it came with (attempts) must still match. A
        # release keeps the job's priority.
        held = "WHERE id = %(id)s AND owner = %(o)s AND attempts = %(a)s AND locked_until IS NOT NULL"
        self.ack = f"DELETE FROM {jobs} {held}"
        self.release_quiet = (
            f"WITH r AS (UPDATE {jobs} SET owner = NULL, locked_until = NULL, run_at = {NOW} + %(d)s "
            f"{held} RETURNING queue) SELECT count(*) FROM r"
        )
        self.release = f"{self.release_quiet}, pg_notify('{chan}', r.queue)"
        self.extend = f"UPDATE {jobs} SET locked_until = {NOW} + %(l)s {held}"
        self.count = f"SELECT count(*) FROM {jobs} WHERE queue = %s"
        self.count_all = f"SELECT count(*) FROM {jobs}"
        # Seconds until the earliest delayed job of the queues falls due (one index probe per queue).
        nxt = (
            f"CROSS JOIN LATERAL (SELECT run_at FROM {jobs} WHERE queue = qs.name AND run_at > {NOW} "
            "ORDER BY run_at LIMIT 1) AS n"
        )
        self.next_due = f"SELECT min(n.run_at) - {NOW} FROM unnest(%s::text[]) AS qs(name) {nxt}"
        self.next_due_all = (
            f"{_ALL_QUEUES.format(jobs=jobs)} SELECT min(n.run_at) - {NOW} FROM qs {nxt} WHERE qs.name IS NOT NULL"
        )


def _job(row: tuple[Any, ...]) -> Job:
    return Job(
        id=str(row[0]),
        queue=row[1],
        payload=json.loads(row[2]),
        attempts=row[3],
        run_at=row[4],
        lease_until=row[5],
        owner=row[6],
        receipt=str(row[3]),
    )


class _Listener:
    """LISTEN on a dedicated connection (never a pooled one) and feed notices to :class:`Wakeups`."""

    def __init__(self, db: PgDatabase, wakeups: Wakeups) -> None:
        self._db = db
        self._conninfo = db.cfg.conninfo
        self._channel = quote_ident(db.cfg.channel)
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
                    await asyncio.wait_for(self._db.rowcount("SELECT pg_notify(%s, '')", (self._stop_channel,)), 2.0)
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
                    await conn.execute(f"LISTEN {self._channel}")
                    await conn.execute(f"LISTEN {self._stop_channel}")
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
        self._sql = _Sql(db)
        self._wakeups = Wakeups()
        self._listener = _Listener(db, self._wakeups)
        self._closed = False
        self._probes: set[asyncio.Future[float | None]] = set()  # next-due probes running past their wait

    async def enqueue(
        self, queue: str, payload: dict[str, Any], *, delay: float = 0.0, priority: float | None = None
    ) -> str:
        params = {
            "q": queue,
            "p": json.dumps(payload),
            "d": float(delay),
            "pr": None if priority is None else float(priority),
        }
        row = await self._db.fetchone(self._sql.enqueue if wakes(delay) else self._sql.enqueue_quiet, params)
        assert row is not None
        return str(row[0])

    async def claim(self, queues: Sequence[str] | None, *, owner: str, lease_s: float, limit: int = 1) -> list[Job]:
        self._listener.start()  # listen from the first claim on, so no notice after it is missed
        self._wakeups.claimed()
        if limit <= 0 or (queues is not None and not queues):
            return []
        params: dict[str, Any] = {"o": owner, "l": float(lease_s), "n": limit}
        if queues is None:
            rows = await self._db.fetchall(self._sql.claim_all, params)
        else:
            params["q"] = list(dict.fromkeys(queues))
            rows = await self._db.fetchall(self._sql.claim, params)
        rows.sort(key=lambda row: (row[7], row[4], row[0]))  # RETURNING has no order of its own
        return [_job(row) for row in rows]

    def _held(self, job: Job, **extra: Any) -> dict[str, Any] | None:
        claim = claim_of(job)
        if claim is None or job.owner is None:
            return None
        return {"id": claim[0], "a": claim[1], "o": job.owner, **extra}

    async def ack(self, job: Job) -> bool:
        params = self._held(job)
        return params is not None and await self._db.rowcount(self._sql.ack, params) > 0

    async def release(self, job: Job, *, delay: float = 0.0) -> bool:
        params = self._held(job, d=float(delay))
        if params is None:
            return False
        row = await self._db.fetchone(self._sql.release if wakes(delay) else self._sql.release_quiet, params)
        return bool(row and row[0])

    async def extend(self, job: Job, lease_s: float) -> bool:
        params = self._held(job, l=float(lease_s))
        return params is not None and await self._db.rowcount(self._sql.extend, params) > 0

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
            row = await self._db.fetchone(self._sql.next_due_all, ())
        else:
            row = await self._db.fetchone(self._sql.next_due, (list(queues),))
        return None if not row or row[0] is None else float(row[0])

    async def count(self, queue: str | None = None) -> int:
        if queue is None:
            row = await self._db.fetchone(self._sql.count_all, ())
        else:
            row = await self._db.fetchone(self._sql.count, (queue,))
        return int(row[0]) if row else 0

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self._listener.stop()
            if self._probes:  # bounded, like the listener: let them hand their connections back
                await asyncio.wait(set(self._probes), timeout=2.0)
            await self._db.release()
