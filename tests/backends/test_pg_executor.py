"""pikku's PostgreSQL executor: statements straight on libpq with psycopg's adapters and error classes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'pikku[postgres]')")

from psycopg import sql  # noqa: E402

from pikku.backends.postgres.database import PgDatabase, open_database  # noqa: E402
from pikku.backends.postgres.executor import Executor  # noqa: E402

pytestmark = pytest.mark.postgres

PREPARED = "SELECT count(*) AS n FROM pg_prepared_statements WHERE name LIKE 'pikku%%'"


@pytest.fixture
async def db(pg_url: str) -> AsyncIterator[PgDatabase]:
    """A database with one pooled connection, so every call below shares one session."""
    database = await open_database(f"{pg_url}&pool_min=1&pool_max=1&pool_timeout=3")
    database.acquire()
    try:
        yield database
    finally:
        await database.release()


async def _executor(conn: Any) -> Executor:
    executor: Executor = conn.executor
    return executor


async def _prepared(db: PgDatabase) -> int:
    row = await db.fetchone(PREPARED, ())
    assert row is not None
    return int(row["n"])


async def test_values_round_trip_through_psycopg_adapters(db: PgDatabase) -> None:
    """Parameters and rows use psycopg's own adapters: text, numbers, NULL, booleans and arrays."""
    values = ("zürich \U0001f600", 1.5, 2**40, None, True, ["a", "b"])
    row = await db.fetchone(
        "SELECT %s::text AS a, %s::float8 AS b, %s::bigint AS c, %s::text AS d, %s::boolean AS e, %s::text[] AS f,"
        " 'x'::text = 'x' AS g",
        values,
    )
    assert row == dict(zip("abcdefg", (*values, True), strict=True))
    named = await db.fetchall("SELECT %(a)s::int + g AS n FROM generate_series(1, 3) AS g ORDER BY g", {"a": 10})
    assert named == [{"n": 11}, {"n": 12}, {"n": 13}]


async def test_a_statement_is_prepared_once_per_connection(db: PgDatabase) -> None:
    """Repeats of a statement reuse one server-side prepared statement."""
    before = await _prepared(db)
    for n in range(5):
        assert await db.fetchone("SELECT %s::int * 2 AS n", (n,)) == {"n": 2 * n}
    assert await _prepared(db) == before + 1


async def test_past_the_cap_statements_run_unprepared(db: PgDatabase) -> None:
    """A connection keeps at most MAX_PREPARED statements; further ones still run, parsed each time."""
    await db.fetchone("SELECT 1 AS n", ())
    executor = await db.run(_executor)
    executor.MAX_PREPARED = executor.prepared + 1
    before = await _prepared(db)  # this one is the last to be prepared
    for n in range(3):
        assert await db.fetchone(f"SELECT %s::int + {n} AS n", (1,)) == {"n": 1 + n}
    assert await _prepared(db) == before


async def test_errors_are_psycopg_classes_and_leave_the_session_usable(db: PgDatabase) -> None:
    """Server errors raise psycopg's classes (UniqueViolation, SyntaxError); the connection goes on."""
    table = f"t_{time.monotonic_ns()}"
    await db.rowcount(f"CREATE TABLE {table} (id int PRIMARY KEY)", ())
    assert await db.rowcount(f"INSERT INTO {table} VALUES (%s)", (1,)) == 1
    with pytest.raises(psycopg.errors.UniqueViolation):
        await db.rowcount(f"INSERT INTO {table} VALUES (%s)", (1,))
    with pytest.raises(psycopg.errors.SyntaxError):
        await db.fetchone("SELEC 1", ())
    with pytest.raises(psycopg.ProgrammingError, match="missing"):
        await db.fetchone("SELECT %(a)s::int", {"b": 1})
    assert await db.rowcount(f"INSERT INTO {table} VALUES (%s)", (2,)) == 1
    assert await db.fetchall(f"SELECT id FROM {table} ORDER BY id", ()) == [{"id": 1}, {"id": 2}]


async def test_a_cancelled_statement_ends_with_its_connection(db: PgDatabase) -> None:
    """Cancelled mid-statement, the caller gets CancelledError at once; the statement stops on the server,
    its connection is closed, and the pool's replacement serves the next call."""

    async def pid(conn: Any) -> int:
        cur = await conn.execute("SELECT pg_backend_pid()")
        row = await cur.fetchone()
        return int(row[0])

    first = await db.run(pid)
    caller = asyncio.ensure_future(db.fetchone("SELECT pg_sleep(5)", ()))
    await asyncio.sleep(0.3)
    started = time.monotonic()
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert time.monotonic() - started < 1.0
    assert await asyncio.wait_for(db.fetchone("SELECT %s::int AS n", (7,)), 5.0) == {"n": 7}
    assert await db.run(pid) != first
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as admin:
        for _ in range(20):  # well before the 5 s of pg_sleep
            sleeping = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (first,)).fetchone()
            if sleeping == (0,):
                break
            await asyncio.sleep(0.1)
        assert sleeping == (0,)


async def test_a_second_cancellation_still_stops_the_statement(db: PgDatabase) -> None:
    """Cancelled twice in a row (a lease keeper cancelled again while it cleans up), a slow write is still
    stopped on the server: closing the socket alone would let it commit."""
    table = f"t_{time.monotonic_ns()}"
    await db.rowcount(f"CREATE TABLE {table} (v int)", ())
    slow = f"WITH s AS (SELECT pg_sleep(1.5)) INSERT INTO {table} SELECT %s FROM s"
    caller = asyncio.ensure_future(db.rowcount(slow, (1,)))
    await asyncio.sleep(0.3)
    caller.cancel()
    await asyncio.sleep(0)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    await asyncio.sleep(2.0)  # past the statement's own end
    assert await db.fetchall(f"SELECT v FROM {table}", ()) == []


async def test_prepared_statements_dropped_by_the_session_are_prepared_again(db: PgDatabase) -> None:
    """DEALLOCATE ALL (or DISCARD ALL) from other code on the connection costs a re-prepare, not an error;
    and psycopg itself never prepares on pikku's connections (it would deallocate on some errors)."""

    async def deallocate(conn: Any) -> Any:
        await conn.execute("DEALLOCATE ALL")
        return conn.prepare_threshold

    assert await db.fetchone("SELECT %s::int + 1 AS n", (1,)) == {"n": 2}
    assert await db.run(deallocate) is None
    assert await db.fetchone("SELECT %s::int + 1 AS n", (2,)) == {"n": 3}
    assert await _prepared(db) >= 1
    await db.fetchone("SELECT %s::int * 3 AS n", (1,))
    row = await db.fetchone(
        "SELECT name FROM pg_prepared_statements WHERE statement = %s", ("SELECT $1::int + 1 AS n",)
    )
    assert row is not None

    async def deallocate_one(conn: Any) -> None:
        await conn.execute(sql.SQL("DEALLOCATE {}").format(sql.Identifier(row["name"])))  # the others stay

    await db.run(deallocate_one)
    assert await db.fetchone("SELECT %s::int + 1 AS n", (3,)) == {"n": 4}
    # Re-prepared after clearing the server too: no leftovers beside the executor's statements.
    names = await db.fetchall("SELECT name FROM pg_prepared_statements ORDER BY name", ())
    executor = await db.run(_executor)
    assert len(names) == executor.prepared
