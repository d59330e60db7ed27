"""PostgreSQL: a connection stays spare until the end of the event loop's turn in which its statement ended
(``PgDatabase``), so statements that follow one another take no pool round trip each, while no connection
is kept out of the pool across a yield, from callers waiting in the pool, or past the database's close."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from pikku.backends.postgres.database import PgDatabase, open_database

pytestmark = pytest.mark.postgres


@pytest.fixture
async def db(pg_url: str) -> AsyncIterator[PgDatabase]:
    """A database on a fresh schema with a pool of one connection."""
    database = (await open_database(f"{pg_url}&pool_min=1&pool_max=1&pool_timeout=5")).acquire()
    try:
        yield database
    finally:
        await database.release()


def _requests(db: PgDatabase) -> int:
    return int(db.pool.get_stats().get("requests_num", 0))


async def test_statements_one_after_another_take_one_connection_from_the_pool(db: PgDatabase) -> None:
    """Twenty statements sent back to back (nothing but their replies awaited in between, as in a pass)
    take the pool's connection once, not twenty times."""
    before = _requests(db)
    for n in range(20):
        assert await db.fetchone("SELECT %(n)s::int AS n", {"n": n}) == {"n": n}
    assert _requests(db) - before == 1


async def test_a_spare_connection_is_back_in_the_pool_after_the_turn(db: PgDatabase) -> None:
    """Once the caller yields to the loop for anything else, its connection goes back to the pool (idle),
    and the next statement takes it from there again."""
    await db.fetchone("SELECT 1 AS one", ())
    await asyncio.sleep(0.01)  # the turn ends; the return runs in a task of its own
    stats = db.pool.get_stats()
    assert stats["pool_available"] == stats["pool_size"] == 1
    before = _requests(db)
    await db.fetchone("SELECT 1 AS one", ())
    assert _requests(db) - before == 1


async def test_a_caller_waiting_in_the_pool_gets_the_connection_between_statements(db: PgDatabase) -> None:
    """A task that keeps sending statements gives its connection back once it has had it for HOLD_S while
    another caller waits in the pool (here HOLD_S is 0: at once), so the waiter is served between two of
    its statements instead of after all of them."""
    db.HOLD_S = 0.0
    order: list[str] = []

    async def busy() -> None:
        for n in range(10):
            await db.fetchone("SELECT pg_sleep(0.01), %(n)s::int AS n", {"n": n})
            order.append(f"busy {n}")

    async def waiter() -> None:
        await asyncio.sleep(0.005)  # while busy's first statement runs: it waits in the pool
        await db.fetchone("SELECT 2 AS two", ())
        order.append("waiter")

    await asyncio.gather(busy(), waiter())
    assert order.index("waiter") < order.index("busy 9"), order


async def test_closing_the_database_gives_back_a_spare_connection(db: PgDatabase) -> None:
    """The last release right after a statement (no yield in between) returns the spare connection to the
    pool before the pool closes: none is left out of it."""
    await db.fetchone("SELECT 1 AS one", ())
    assert db._spare  # the statement's connection, spare for the rest of this turn
    await db.release()
    assert not db._spare
    assert db.pool.closed


async def test_a_connection_goes_back_to_the_pool_after_max_out_s(db: PgDatabase) -> None:
    """However busy its callers, a connection goes back to the pool once it has been out for MAX_OUT_S
    (here 0: after every statement), so the pool's checks and max_lifetime see it regularly."""
    db.MAX_OUT_S = 0.0
    before = _requests(db)
    for _ in range(5):
        await db.fetchone("SELECT 1 AS one", ())
    assert _requests(db) - before == 5
