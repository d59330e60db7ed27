"""The job queue contract. Every backend implements it and passes ``tests/contract/test_queue_contract.py``.

Delivery is at-least-once: a claimed job is leased; if it is neither acked nor released before the lease
runs out (its worker died) it is delivered again. Handlers are therefore idempotent (the engine's are).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from pikku._records import Job


@runtime_checkable
class JobQueue(Protocol):
    """Named queues of small JSON jobs with delays, leases and acks."""

    async def enqueue(
        self, queue: str, payload: dict[str, Any], *, delay: float = 0.0, priority: float | None = None
    ) -> str:
        """Add a job, deliverable after ``delay`` seconds. Returns its id.

        ``priority`` orders due jobs (lower first); without one a job's priority is its due time. The
        engine gives every job of a run the run's creation time, so work on runs already in flight is
        claimed before the first job of newer runs (finish what was started).
        """
        ...

    async def claim(self, queues: Sequence[str] | None, *, owner: str, lease_s: float, limit: int = 1) -> list[Job]:
        """Lease up to ``limit`` due jobs from ``queues`` (None: every queue), lowest priority first
        (ties: oldest due first).

        A job is due when its delay has passed and it is not under a live lease. Claiming is atomic: two
        racing claimers never both get one job. Each claim increments the job's ``attempts``.
        """
        ...

    async def ack(self, job: Job) -> bool:
        """Remove a job its owner finished. False if the lease was lost (another owner may hold it).

        The lease is lost once the job was claimed again, even by the same owner: ack, release and extend
        only act for the claim that returned ``job`` (same id, owner and ``attempts``).
        """
        ...

    async def release(self, job: Job, *, delay: float = 0.0) -> bool:
        """Give a job back, deliverable again after ``delay``. False if the lease was lost."""
        ...

    async def extend(self, job: Job, lease_s: float) -> bool:
        """Extend the owner's lease. False if the lease was lost."""
        ...

    async def wait(self, queues: Sequence[str] | None, timeout: float) -> None:
        """Sleep until a job may be due on ``queues`` (a notification) or ``timeout`` passes."""
        ...

    async def count(self, queue: str | None = None) -> int:
        """Jobs not yet acked, due or not, leased or not (for tests and monitoring)."""
        ...

    async def close(self) -> None:
        """Release connections and files. Safe to call twice."""
        ...
