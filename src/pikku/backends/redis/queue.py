"""Redis job queue: a ready sorted set per queue (scored by priority), delayed and lease sorted sets, and a
stream with one consumer group holding the leased jobs.

* enqueue: the job hash, then a ``ZADD`` to the ready set (or to the delayed set when it has a delay).
* claim (one Lua script): promote due delayed jobs onto their ready sets, then take expired leases
  (``XCLAIM`` to the new owner) and the first ready jobs (appended to the stream and read at once with
  ``XREADGROUP``, so the owner holds the entry), lowest priority first (ties: oldest ``run_at``, then id),
  and record each job's lease deadline in the lease set. Leases are per claim, so reclaiming goes by that
  deadline, not by ``XAUTOCLAIM``'s one idle threshold per call, which could neither honour a longer
  lease nor an ``extend``. Expired leases are picked up earliest deadline first (at most ``limit`` per
  queue and claim) and then ranked by priority with the ready jobs.
* ack: ``XACK`` + ``XDEL``; release: the same, then back onto the ready set (keeping its priority) or the
  delayed set.
* dead_letter: the same as ack, the job kept in a dead job hash and the ``P:dead`` set instead (one script),
  so it is never claimed or counted again; retry_dead enqueues it again as a new job (merging like any
  keyed enqueue), drop_dead deletes it.

Why not stream order: see :mod:`pikku.backends.redis.scripts`.

``wait`` subscribes to the ``P:wake`` channel (every enqueue/release publishes its queue name) on one
pub/sub connection per queue object, and sleeps no longer than until the earliest delayed job or lease
deadline, which no message announces. Polling with short sleeps would cost round trips while idle and
still wake late; a blocking ``XREADGROUP`` would claim the job it wakes for.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Sequence
from typing import Any, NamedTuple

import redis.exceptions
from redis.asyncio.client import PubSub

from pikku._errors import BackendUnavailableError
from pikku._records import DeadJob, Enqueue, Job
from pikku.backends._wakeup import QUIET_DELAY_S, Wakeups
from pikku.backends.redis.connection import RedisDatabase

__all__ = ["RedisQueue", "enqueue_args"]


def _queues_arg(queues: Sequence[str] | None) -> list[str]:
    return ["*"] if queues is None else list(dict.fromkeys(queues))


def enqueue_args(job: Enqueue) -> list[str]:
    """The arguments that describe a job to enqueue, as every script that enqueues takes them: queue,
    payload, delay, priority ('' = its due time), key ('' = none)."""
    priority = "" if job.priority is None else repr(float(job.priority))
    return [job.queue, json.dumps(job.payload), repr(float(job.delay)), priority, job.key or ""]


class _ClaimedRow(NamedTuple):
    """One row of the claim script's reply."""

    id: str
    queue: str
    payload: str
    attempts: int
    run_at: str
    lease_until: str
    priority: str

    def order(self) -> tuple[float, float, int]:
        """The claim's order: priority, then due time, then id."""
        return float(self.priority), float(self.run_at), int(self.id)

    def job(self, owner: str) -> Job:
        return Job(
            id=str(self.id),
            queue=self.queue,
            payload=json.loads(self.payload),
            attempts=int(self.attempts),
            run_at=float(self.run_at),
            lease_until=float(self.lease_until),
            owner=owner,
            receipt=str(self.attempts),
        )


class _DeadRow(NamedTuple):
    """One row of the list_dead script's reply."""

    id: str
    queue: str
    payload: str
    attempts: str
    reason: str
    died_at: str

    def dead(self) -> DeadJob:
        return DeadJob(
            self.id, self.queue, json.loads(self.payload), int(self.attempts), self.reason, float(self.died_at)
        )


class _Listener:
    """SUBSCRIBE on a dedicated connection and feed queue-name messages to :class:`Wakeups`."""

    def __init__(self, db: RedisDatabase, wakeups: Wakeups) -> None:
        self._db = db
        self._wakeups = wakeups
        self.ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._pubsub: PubSub | None = None
        self._stopping = False

    def start(self) -> None:
        if self._task is None and not self._stopping:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="pikku-redis-listen")

    async def stop(self) -> None:
        """End the listener. Not by cancelling alone: redis-py's pub/sub read can swallow a cancellation
        and block forever, so unsubscribe (which ends ``listen()``) and cancel only as a fallback."""
        self._stopping = True
        if self._task is None:
            return
        pubsub = self._pubsub
        if pubsub is not None and pubsub.connection is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(pubsub.unsubscribe(), 1.0)
        done, _ = await asyncio.wait({self._task}, timeout=1.0)
        if not done:
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=1.0)
        self._task = None

    async def _run(self) -> None:
        backoff, connected_before = 0.05, False
        while not self._stopping:
            self._pubsub = pubsub = self._db.client.pubsub()
            try:
                await pubsub.subscribe(self._db.wake_channel)
                async for message in pubsub.listen():
                    if self._stopping:
                        break
                    if message.get("type") == "message":
                        self._wakeups.notify(message["data"])
                    elif message.get("type") == "subscribe":
                        # Confirmed (again, after redis-py reconnected by itself): from now on no
                        # message is missed; before it, anything may have been enqueued unheard.
                        self.ready.set()
                        if connected_before:
                            self._wakeups.notify(None)
                        connected_before, backoff = True, 0.05
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
                pass
            finally:
                self.ready.clear()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            if self._stopping:
                return
            self._wakeups.notify(None)  # waiters poll on their own timeouts until we are back
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)


class RedisQueue:
    """A :class:`~pikku.backends.JobQueue` on Redis streams."""

    #: Consumers idle this long and holding nothing are removed (by :meth:`prune_consumers`).
    STALE_CONSUMER_S = 600.0

    def __init__(self, db: RedisDatabase) -> None:
        self._db = db.acquire()
        self._wakeups = Wakeups()
        self._listener = _Listener(db, self._wakeups)
        self._closed = False
        self._owners: set[str] = set()  # consumers this queue created (one per claiming owner)
        self._next_prune = 0.0

    async def enqueue(
        self,
        queue: str,
        payload: dict[str, Any],
        *,
        delay: float = 0.0,
        priority: float | None = None,
        key: str | None = None,
    ) -> str:
        return str(await self._db.script("ENQUEUE", *enqueue_args(Enqueue(queue, payload, delay, priority, key))))

    async def claim(self, queues: Sequence[str] | None, *, owner: str, lease_s: float, limit: int = 1) -> list[Job]:
        self._listener.start()  # subscribe from the first claim on, so no message after it is missed
        self._wakeups.claimed()
        if limit <= 0 or (queues is not None and not queues):
            return []
        self._owners.add(owner)
        if time.monotonic() >= self._next_prune:  # dead workers' consumers, now and then
            self._next_prune = time.monotonic() + self.STALE_CONSUMER_S
            await self.prune_consumers(self.STALE_CONSUMER_S)
        reply = await self._db.script("CLAIM", owner, repr(float(lease_s)), limit, *_queues_arg(queues))
        rows = sorted((_ClaimedRow(*row) for row in reply), key=_ClaimedRow.order)  # the claim's order
        return [row.job(owner) for row in rows]

    async def _held(self, script: str, job: Job, *extra: str) -> bool:
        if job.owner is None:
            return False
        attempt = job.receipt if job.receipt is not None else str(job.attempts)
        return bool(await self._db.script(script, job.id, job.owner, attempt, *extra))

    async def ack(self, job: Job) -> bool:
        return await self._held("ACK", job)

    async def release(self, job: Job, *, delay: float = 0.0) -> bool:
        return await self._held("RELEASE", job, repr(float(delay)))

    async def extend(self, job: Job, lease_s: float) -> bool:
        return await self._held("EXTEND", job, repr(float(lease_s)))

    async def wait(self, queues: Sequence[str] | None, timeout: float) -> None:
        if queues is not None and not queues:
            await asyncio.sleep(max(timeout, 0.0))
            return
        self._listener.start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(timeout, QUIET_DELAY_S)  # a quiet job may be enqueued meanwhile
        # Unreachable Redis: just sleep out the timeout; the next claim reports the outage.
        with contextlib.suppress(TimeoutError, BackendUnavailableError):
            due = await asyncio.wait_for(self._db.script("NEXT_DUE", *_queues_arg(queues)), timeout)
            if due is not None:
                deadline = min(deadline, loop.time() + max(float(due), 0.0))
        timeout = deadline - loop.time()
        if not self._listener.ready.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._listener.ready.wait(), timeout)
        await self._wakeups.wait(queues, deadline - loop.time())

    async def count(self, queue: str | None = None) -> int:
        return int(await self._db.script("COUNT", *_queues_arg(None if queue is None else [queue])))

    async def dead_letter(self, job: Job, reason: str) -> bool:
        return await self._held("DEAD_LETTER", job, reason)

    async def list_dead(self, limit: int = 100) -> list[DeadJob]:
        if limit <= 0:
            return []
        rows = await self._db.script("LIST_DEAD", limit)
        return [_DeadRow(*row).dead() for row in rows]

    async def retry_dead(self, job_id: str) -> bool:
        return bool(await self._db.script("RETRY_DEAD", job_id))

    async def drop_dead(self, job_id: str) -> bool:
        return bool(await self._db.script("DROP_DEAD", job_id))

    async def prune_consumers(self, idle_s: float, *, owners: Sequence[str] = ()) -> int:
        """Remove consumers that hold no job and are ``owners`` or idle ``idle_s``; how many went."""
        return int(await self._db.script("PRUNE_CONSUMERS", int(idle_s * 1000), *owners))

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self._listener.stop()
            if self._owners:  # ours, unless they still hold a job (then its lease hands it on)
                with contextlib.suppress(BackendUnavailableError):
                    await self.prune_consumers(self.STALE_CONSUMER_S, owners=sorted(self._owners))
            await self._db.release()
