"""In-memory job queue: for tests and single-process use. Nothing survives the process."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import uuid
from collections.abc import Sequence
from typing import Any

from pikku._clock import current
from pikku._records import DeadJob, Enqueue, Job


class MemoryQueue:
    """A :class:`~pikku.backends.JobQueue` kept in a dictionary; methods are atomic under asyncio."""

    def __init__(self) -> None:
        self._now = current().now  # the clock it was opened under (see pikku._clock)
        self._jobs: dict[str, Job] = {}
        self._dead: dict[str, DeadJob] = {}
        self._dead_keys: dict[str, str | None] = {}
        self._seq: dict[str, int] = {}
        self._priority: dict[str, float] = {}
        self._keys: dict[str, str] = {}  # job id -> key, for keyed jobs
        self._waiting: dict[tuple[str, str], str] = {}  # (queue, key) -> the id of its waiting job
        self._counter = itertools.count()
        self._wakeup = asyncio.Event()

    def enqueue_now(
        self,
        queue: str,
        payload: dict[str, Any],
        *,
        delay: float = 0.0,
        priority: float | None = None,
        key: str | None = None,
    ) -> str:
        """Synchronous enqueue, used by the co-located memory store inside its own atomic methods."""
        run_at = self._now() + delay
        prio = run_at if priority is None else priority
        waiting = None if key is None else self._waiting.get((queue, key))
        if waiting is not None:
            self._merge(waiting, run_at, prio)
            return waiting
        job_id = uuid.uuid4().hex
        self._jobs[job_id] = Job(job_id, queue, copy.deepcopy(payload), attempts=0, run_at=run_at)
        self._seq[job_id] = next(self._counter)
        self._priority[job_id] = prio
        if key is not None:
            self._keys[job_id] = key
            self._waiting[(queue, key)] = job_id
        self._wakeup.set()
        return job_id

    def _merge(self, job_id: str, run_at: float, priority: float) -> None:
        """The waiting keyed job absorbs another: due at the earlier time, ordered by the lower priority."""
        job = self._jobs[job_id]
        job.run_at = min(job.run_at, run_at)
        self._priority[job_id] = min(self._priority[job_id], priority)
        self._wakeup.set()

    def put_now(self, job: Enqueue) -> str:
        """Enqueue without awaiting: the co-located store's hand-off, in the same step as its write."""
        return self.enqueue_now(job.queue, job.payload, delay=job.delay, priority=job.priority, key=job.key)

    async def enqueue(
        self,
        queue: str,
        payload: dict[str, Any],
        *,
        delay: float = 0.0,
        priority: float | None = None,
        key: str | None = None,
    ) -> str:
        return self.enqueue_now(queue, payload, delay=delay, priority=priority, key=key)

    async def claim(self, queues: Sequence[str] | None, *, owner: str, lease_s: float, limit: int = 1) -> list[Job]:
        t = self._now()
        wanted = None if queues is None else set(queues)
        due = [
            j
            for j in self._jobs.values()
            if (wanted is None or j.queue in wanted) and j.run_at <= t and (j.lease_until is None or j.lease_until <= t)
        ]
        due.sort(key=lambda j: (self._priority[j.id], j.run_at, self._seq[j.id]))
        claimed = []
        for job in due[:limit]:
            self._stop_waiting(job)
            job.attempts += 1
            job.owner, job.lease_until = owner, t + lease_s
            claimed.append(copy.deepcopy(job))
        return claimed

    def _stop_waiting(self, job: Job) -> None:
        """A claimed keyed job no longer absorbs new ones (its work may already be under way)."""
        key = self._keys.get(job.id)
        if key is not None and self._waiting.get((job.queue, key)) == job.id:
            del self._waiting[(job.queue, key)]

    def _held(self, job: Job) -> Job | None:
        stored = self._jobs.get(job.id)
        if stored is None or stored.lease_until is None:
            return None
        if stored.owner != job.owner or stored.attempts != job.attempts:
            return None  # claimed again since (a later delivery, possibly to the same owner)
        return stored

    def _drop(self, job_id: str) -> None:
        del self._jobs[job_id]
        del self._priority[job_id]
        del self._seq[job_id]
        self._keys.pop(job_id, None)

    async def ack(self, job: Job) -> bool:
        if self._held(job) is None:
            return False
        self._drop(job.id)
        return True

    async def release(self, job: Job, *, delay: float = 0.0) -> bool:
        stored = self._held(job)
        if stored is None:
            return False
        stored.owner, stored.lease_until, stored.run_at = None, None, self._now() + delay
        key = self._keys.get(job.id)
        if key is not None:
            self._wait_again(stored, key)
        self._wakeup.set()
        return True

    def _wait_again(self, job: Job, key: str) -> None:
        """A released keyed job waits again: merged into the one already waiting with its key, if any."""
        waiting = self._waiting.get((job.queue, key))
        if waiting is None:
            self._waiting[(job.queue, key)] = job.id
            return
        self._merge(waiting, job.run_at, self._priority[job.id])
        self._drop(job.id)

    async def extend(self, job: Job, lease_s: float) -> bool:
        stored = self._held(job)
        if stored is None:
            return False
        stored.lease_until = self._now() + lease_s
        return True

    async def wait(self, queues: Sequence[str] | None, timeout: float) -> None:
        self._wakeup.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), timeout)

    async def count(self, queue: str | None = None) -> int:
        return sum(1 for j in self._jobs.values() if queue is None or j.queue == queue)

    async def dead_letter(self, job: Job, reason: str) -> bool:
        held = self._held(job)
        if held is None:
            return False
        self._dead_keys[held.id] = self._keys.get(held.id)  # a retried keyed job waits under its key again
        self._drop(held.id)
        payload = copy.deepcopy(held.payload)
        self._dead[held.id] = DeadJob(held.id, held.queue, payload, held.attempts, reason, self._now())
        return True

    async def list_dead(self, limit: int = 100) -> list[DeadJob]:
        return [copy.copy(d) for d in sorted(self._dead.values(), key=lambda d: d.died_at, reverse=True)[:limit]]

    async def retry_dead(self, job_id: str) -> bool:
        dead = self._dead.pop(job_id, None)
        if dead is None:
            return False
        self.enqueue_now(dead.queue, dead.payload, key=self._dead_keys.pop(job_id, None))
        return True

    async def drop_dead(self, job_id: str) -> bool:
        self._dead_keys.pop(job_id, None)
        return self._dead.pop(job_id, None) is not None

    def next_due_at(self, queues: Sequence[str] | None = None) -> float | None:
        """When the next job of ``queues`` (None: any) can be claimed: its due time, or the end of its
        lease; None for no such job. The test environment skips time to it."""
        times = [
            j.lease_until if j.lease_until is not None and j.owner is not None else j.run_at
            for j in self._jobs.values()
            if queues is None or j.queue in queues
        ]
        return min(times, default=None)

    async def close(self) -> None:
        return None
