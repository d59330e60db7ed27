"""pikku's executor (its PostgreSQL fast path) against the plain public way: psycopg's cursor with
``execute(..., prepare=True)`` and ``dict_row``, on a connection of psycopg's own defaults. Same rows,
same rowcounts, same errors for failing statements, same outcome of a cancellation.

The fast path side goes through pikku's :class:`PgDatabase` (``fetchone``/``fetchall``/``rowcount``), the
plain side through psycopg's documented API only; both talk to the same schema.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'pikku[postgres]')")

from psycopg import sql  # noqa: E402
from psycopg.rows import dict_row  # noqa: E402

from pikku._records import NewStep  # noqa: E402
from pikku.backends.postgres import open_pair, statements  # noqa: E402
from pikku.backends.postgres.database import PgDatabase, parse_url  # noqa: E402

pytestmark = pytest.mark.postgres

Row = dict[str, Any]


class Paths:
    """The same statement on the fast path (pikku's database) and on the plain path (a psycopg cursor)."""

    def __init__(self, db: PgDatabase, plain: Any) -> None:
        self.db = db
        self.plain = plain

    async def rows(self, query: str, params: Any) -> tuple[list[Row], list[Row]]:
        """Every row, fast path first."""
        return await self.db.fetchall(query, params), await self._plain(query, params, "rows")

    async def first(self, query: str, params: Any) -> tuple[Row | None, Row | None]:
        """The first row (or None), fast path first."""
        return await self.db.fetchone(query, params), await self._plain(query, params, "first")

    async def rowcount(self, query: str, params: Any) -> tuple[int, int]:
        """Rows touched, fast path first."""
        return await self.db.rowcount(query, params), await self._plain(query, params, "rowcount")

    async def _plain(self, query: str, params: Any, want: str) -> Any:
        cur = self.plain.cursor(row_factory=dict_row)
        await cur.execute(query, params, prepare=True)
        if want == "rows":
            return await cur.fetchall()
        if want == "first":
            return await cur.fetchone()
        return cur.rowcount


@pytest.fixture
async def paths(pg_url: str) -> AsyncIterator[Paths]:
    """Both paths on one schema holding a run with two steps (one done, one claimed) and three jobs."""
    state, queue, _ = await open_pair(f"{pg_url}&pool_min=1&pool_max=1&pool_timeout=3")
    await state.create_run("r1", "wf", '{"n": 1}')
    await state.insert_step(NewStep("r1", "a", "inline", status="done", result_json="1"))
    await state.insert_step(NewStep("r1", "b", "rpc", "f", "{}", "running", lease_owner="w", lease_s=30))
    for n in range(3):
        await queue.enqueue("q", {"n": n}, delay=60.0 * n, key=f"k{n}")
    await state._db.rowcount("CREATE TABLE plain_table (a int NOT NULL, b text)", ())
    cfg = parse_url(pg_url)
    plain = await psycopg.AsyncConnection.connect(cfg.conninfo, autocommit=True)
    await plain.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(cfg.schema)))
    try:
        yield Paths(state._db, plain)
    finally:
        await plain.close()
        await queue.close()
        await state.close()


def _same(fast: Any, plain: Any) -> bool:
    """Equal, with NaN equal to NaN."""
    if isinstance(fast, float) and isinstance(plain, float) and math.isnan(fast):
        return math.isnan(plain)
    if isinstance(fast, dict) and isinstance(plain, dict):
        return fast.keys() == plain.keys() and all(_same(fast[k], plain[k]) for k in fast)
    if isinstance(fast, list) and isinstance(plain, list):
        return len(fast) == len(plain) and all(_same(f, p) for f, p in zip(fast, plain, strict=True))
    return type(fast) is type(plain) and bool(fast == plain)


VALUES = [
    ("text", "SELECT %(v)s::text AS v", "zürich \U0001f600 'quoted' \\back"),
    ("empty text", "SELECT %(v)s::text AS v", ""),
    ("float8", "SELECT %(v)s::float8 AS v", 1.5),
    ("infinity", "SELECT %(v)s::float8 AS v", float("inf")),
    ("nan", "SELECT %(v)s::float8 AS v", float("nan")),
    ("small int", "SELECT %(v)s::integer AS v", 7),
    ("bigint", "SELECT %(v)s::bigint AS v", 2**63 - 1),
    ("untyped int", "SELECT %(v)s + 1 AS v", 2**40),
    ("boolean", "SELECT %(v)s::boolean AS v", True),
    ("null text", "SELECT %(v)s::text AS v", None),
    ("null float", "SELECT %(v)s::float8 AS v", None),
    ("text array", "SELECT %(v)s::text[] AS v", ["a", "b", None]),
    ("array param", "SELECT n FROM unnest(%(v)s::text[]) AS n ORDER BY n", ["y", "x"]),
    ("json text", "SELECT %(v)s::text AS v", '{"a": [1, 2.5, null], "b": "\\u00e9"}'),
]


@pytest.mark.parametrize(("query", "value"), [pytest.param(q, v, id=i) for i, q, v in VALUES])
async def test_values_come_back_the_same(paths: Paths, query: str, value: Any) -> None:
    """A value bound and read back is the same value of the same type on both paths."""
    fast, plain = await paths.rows(query, {"v": value})
    assert _same(fast, plain), (fast, plain)


READS = [
    ("get_run", statements.GET_RUN, {"run_id": "r1"}),
    ("get_run (none)", statements.GET_RUN, {"run_id": "nope"}),
    ("get_steps", statements.GET_STEPS, {"run_id": "r1"}),
    ("get_step (missing)", statements.GET_STEP, {"run_id": "r1", "name": "zz"}),
    ("step_exists", statements.STEP_EXISTS, {"run_id": "r1", "name": "b"}),
    ("get_attempts", statements.GET_ATTEMPTS, {"run_id": "r1", "name": "b"}),
    (
        "list_runs",
        statements.LIST_RUNS,
        {"limit": 10, "before_created_at": float("inf"), "before_seq": 2**63 - 1},
    ),
    ("count_jobs", statements.COUNT_JOBS, {"queue": "q"}),
    ("positional", "SELECT g AS n, %s::text AS t FROM generate_series(1, 3) AS g ORDER BY g", ("x",)),
    ("no params", "SELECT 1 AS one WHERE false", ()),
    ("no params, empty mapping", "SELECT 1 AS one", {}),  # as pikku's COUNT_ALL_JOBS is called
]


@pytest.mark.parametrize(("query", "params"), [pytest.param(q, p, id=i) for i, q, p in READS])
async def test_statements_return_the_same_rows(paths: Paths, query: str, params: Any) -> None:
    """pikku's own statements (and plain ones) return the same rows, and the same first row, on both paths."""
    fast, plain = await paths.rows(query, params)
    assert _same(fast, plain), (fast, plain)
    first_fast, first_plain = await paths.first(query, params)
    assert _same(first_fast, first_plain), (first_fast, first_plain)


async def test_writes_report_the_same_rowcount(paths: Paths) -> None:
    """An UPDATE touching some rows, and one touching none, report the same counts on both paths."""
    touch = "UPDATE jobs SET payload = payload WHERE queue = %(queue)s"
    assert await paths.rowcount(touch, {"queue": "q"}) == (3, 3)
    assert await paths.rowcount(touch, {"queue": "none"}) == (0, 0)


FAILURES = [
    ("unique", statements.CREATE_RUN, {"run_id": "r1", "workflow": "wf", "input_json": "{}"}),
    ("foreign key", statements.INSERT_STEP, {"run_id": "nope", "name": "x", "form": "rpc", "status": "pending"}),
    ("not null", "INSERT INTO plain_table (a, b) VALUES (%(a)s, 'x')", {"a": None}),
    ("syntax", "SELEC 1", ()),
    ("division", "SELECT 1 / %(zero)s::int AS v", {"zero": 0}),
    ("bad input", "SELECT %(v)s::integer AS v", {"v": "x"}),
    ("undefined table", "SELECT * FROM no_such_table", ()),
    ("unknown code of a known class", "SELECT pikku_raise('22999')", ()),
    ("unknown PL/pgSQL code", "SELECT pikku_raise('P9999')", ()),
]
_INSERT_DEFAULTS = {"rpc_name": None, "data_json": None, "result_json": None, "result_type": None}
_INSERT_DEFAULTS |= {"attempts": 0, "max_attempts": 1, "wake_at": None}
_RUN_DEFAULTS = {"lock_owner": None, "lock_lease": None, "parent_run_id": None, "forked_from": None}


@pytest.mark.parametrize(("query", "params"), [pytest.param(q, p, id=i) for i, q, p in FAILURES])
async def test_failing_statements_raise_the_same_errors(paths: Paths, query: str, params: Any) -> None:
    """A statement the server refuses raises the same psycopg class, SQLSTATE and message on both paths,
    and both connections go on serving statements."""
    if query == statements.INSERT_STEP:
        params = _INSERT_DEFAULTS | params
    elif query == statements.CREATE_RUN:
        params = _RUN_DEFAULTS | params
    await paths.db.rowcount(
        "CREATE OR REPLACE FUNCTION pikku_raise(code text) RETURNS void LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION USING ERRCODE = code, MESSAGE = 'custom code ' || code; END $$",
        (),
    )
    errors = []
    for run in (paths.db.fetchall, lambda q, p: paths._plain(q, p, "rows")):
        with pytest.raises(psycopg.Error) as caught:
            await run(query, params)
        errors.append(caught.value)
    fast, plain = errors
    assert (type(fast), fast.sqlstate, str(fast)) == (type(plain), plain.sqlstate, str(plain))
    assert await paths.first("SELECT 1 AS one", ()) == ({"one": 1}, {"one": 1})


# -- cancellation --------------------------------------------------------------------------------------

Call = Callable[[str, Any], Awaitable[Any]]


async def _cancel_after(call: Awaitable[Any], seconds: float) -> float:
    """Start ``call``, cancel it after ``seconds``, and return how long the CancelledError took to arrive."""
    task = asyncio.ensure_future(call)
    await asyncio.sleep(seconds)
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return time.monotonic() - started


@pytest.mark.parametrize("path", ["fast", "plain"])
async def test_a_cancelled_statement_stops_on_both_paths(paths: Paths, path: str) -> None:
    """Cancelled mid-statement, the caller gets CancelledError at once, the statement stops on the server
    (a slow write never lands), and the next statement runs (the fast path on the pool's replacement
    connection, the plain path on its own connection, which psycopg drained)."""
    call: Call = paths.db.rowcount if path == "fast" else (lambda q, p: paths._plain(q, p, "rowcount"))
    table = f"t_{path}_{time.monotonic_ns()}"
    await paths.db.rowcount(f"CREATE TABLE {table} (v int)", ())
    assert await _cancel_after(call("SELECT pg_sleep(5)", ()), 0.3) < 1.0
    slow = f"WITH s AS (SELECT pg_sleep(1.5)) INSERT INTO {table} SELECT %(v)s FROM s"
    assert await _cancel_after(call(slow, {"v": 1}), 0.3) < 1.0
    await asyncio.sleep(2.0)  # past the write's own end
    assert await asyncio.wait_for(call("SELECT 1 AS one", ()), 5.0) == 1  # rowcount of a one-row SELECT
    assert await paths.db.fetchall(f"SELECT v FROM {table}", ()) == []
