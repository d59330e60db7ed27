"""In memory, for tests and one-process experiments (``memory://``): nothing survives the process."""

from __future__ import annotations

from pikku.backends._transitions import SharedTransaction
from pikku.backends.memory.queue import MemoryQueue
from pikku.backends.memory.store import MemoryStateStore

EXTRA: str | None = None


async def open_state(url: str) -> MemoryStateStore:
    """A fresh in-memory store without a queue of its own."""
    return MemoryStateStore()


async def open_queue(url: str) -> MemoryQueue:
    """A fresh in-memory queue."""
    return MemoryQueue()


async def open_pair(url: str) -> tuple[MemoryStateStore, MemoryQueue, SharedTransaction]:
    """A fresh store with its co-located queue: a hand-off is put in the same step as the write."""
    queue = MemoryQueue()
    state = MemoryStateStore(sink=queue.put_now)
    return state, queue, SharedTransaction(state, queue)
