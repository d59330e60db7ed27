"""Redis: runs and steps as hashes, one stream per queue, every transition one Lua script
(``redis://...?prefix=``); needs ``pikku[redis]``."""

from __future__ import annotations

from pikku.backends._transitions import TakingTransaction
from pikku.backends.redis.connection import open_database
from pikku.backends.redis.queue import RedisQueue
from pikku.backends.redis.store import RedisStateStore

EXTRA: str | None = "redis"


async def open_state(url: str) -> RedisStateStore:
    """A store on the Redis named by ``url`` (keys under its ``prefix``), without a co-located queue."""
    return RedisStateStore(await open_database(url))


async def open_queue(url: str) -> RedisQueue:
    """A queue on the Redis named by ``url`` (keys under its ``prefix``)."""
    return RedisQueue(await open_database(url))


async def open_pair(url: str) -> tuple[RedisStateStore, RedisQueue, TakingTransaction]:
    """A store and a queue on one client: a step's hand-off job is enqueued by the step's own script."""
    db = await open_database(url)
    state, queue = RedisStateStore(db, handoff=True), RedisQueue(db)
    return state, queue, TakingTransaction(state, queue)
