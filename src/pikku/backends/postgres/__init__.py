"""PostgreSQL: state and queues in one schema (``postgresql://...?schema=``); needs ``pikku[postgres]``.

``database`` holds the pool and migrations (``migrations/*.sql``), ``statements`` every SQL statement,
``executor`` runs them, ``store`` and ``queue`` implement the contract on it, ``transitions`` joins them in
one statement each.
"""

from __future__ import annotations

from pikku.backends.postgres.database import open_database
from pikku.backends.postgres.queue import PostgresQueue
from pikku.backends.postgres.store import PostgresStateStore
from pikku.backends.postgres.transitions import PostgresTransitions

EXTRA: str | None = "postgres"


async def open_state(url: str) -> PostgresStateStore:
    """A store on the schema named by ``url`` (migrated on first use), without a co-located queue."""
    return PostgresStateStore(await open_database(url))


async def open_queue(url: str) -> PostgresQueue:
    """A queue on the schema named by ``url`` (migrated on first use)."""
    return PostgresQueue(await open_database(url))


async def open_pair(url: str) -> tuple[PostgresStateStore, PostgresQueue, PostgresTransitions]:
    """A store and a queue on one pool: a step's hand-off job and ack commit with the step's transition."""
    db = await open_database(url)
    state, queue = PostgresStateStore(db, handoff=True), PostgresQueue(db)
    return state, queue, PostgresTransitions(state, queue)
