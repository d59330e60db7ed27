"""SQLite, the embedded default: state and queue in one WAL database file (``sqlite:///path.db``)."""

from __future__ import annotations

from pikku.backends._transitions import TakingTransaction
from pikku.backends.sqlite.database import open_database
from pikku.backends.sqlite.queue import SQLiteQueue
from pikku.backends.sqlite.store import SQLiteStateStore

EXTRA: str | None = None


async def open_state(url: str) -> SQLiteStateStore:
    """The state store alone, on its own connection."""
    return SQLiteStateStore(open_database(url))


async def open_queue(url: str) -> SQLiteQueue:
    """The queue alone, on its own connection."""
    return SQLiteQueue(open_database(url))


async def open_pair(url: str) -> tuple[SQLiteStateStore, SQLiteQueue, TakingTransaction]:
    """State and queue on one connection: a step transition and its hand-off job commit together."""
    db = open_database(url)
    state, queue = SQLiteStateStore(db, handoff=True), SQLiteQueue(db)
    return state, queue, TakingTransaction(state, queue)
