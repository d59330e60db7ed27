"""The PostgreSQL database shared by :mod:`pikku.backends.postgres.store` and :mod:`pikku.backends.postgres.queue`.

One schema holds runs, steps, step attempts, jobs and dead jobs. This module owns the URL, the connection pool, the
schema migrations and the one place where driver errors become :class:`BackendUnavailableError`.

Clock: every timestamp is the *database's* clock (``pikku_now()``: ``statement_timestamp()`` as epoch
seconds), written and compared inside the same statement. Workers on many hosts therefore agree on lease
expiry and job due times even when their own clocks drift; only values the caller computes (``retry_at``,
``wake_at``) are stored as given.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import pq, sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from pikku._errors import BackendUnavailableError, BackendURLError, ConfigError, InvalidInputError
from pikku._records import Job
from pikku._redact import redact_url
from pikku.backends.postgres.executor import Connection

T = TypeVar("T")
Conn = Connection
Params = Sequence[Any] | dict[str, Any]
#: A row, read by column name.
Row = dict[str, Any]

_IDLE = pq.TransactionStatus.IDLE

#: First key of the two-int advisory lock that serialises migrations ("pikk" in ASCII).
_LOCK_CLASS = 0x70696B6B

#: pikku's own URL query parameters; everything else is handed to libpq untouched.
_OWN_PARAMS = ("schema", "pool_min", "pool_max", "pool_timeout")

_LIBPQ_DEFAULTS = (
    ("application_name", "pikku"),
    ("connect_timeout", "10"),
    ("keepalives", "1"),
    ("keepalives_idle", "30"),
    ("keepalives_interval", "10"),
    ("keepalives_count", "3"),
)


def _load_migrations() -> list[tuple[int, str]]:
    """``(version, script)`` of the ``migrations/NNNN_*.sql`` files of this package, in order.

    Append-only: never edit a released file. They name tables without a schema: each is applied with
    ``search_path`` set to the schema being migrated. Numbers may skip (they are handed out to parallel
    lines of work before these merge) but never repeat: a repeated number would apply two files as one
    version.
    """
    folder = resources.files(__package__).joinpath("migrations")
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    numbers = [int(f.name.split("_", 1)[0]) for f in files]
    if not numbers or numbers[0] != 1 or len(set(numbers)) != len(numbers):
        raise RuntimeError(f"pikku's PostgreSQL migrations are misnumbered: {[f.name for f in files]}")
    return [(number, f.read_text(encoding="utf-8")) for number, f in zip(numbers, files, strict=True)]


MIGRATIONS: list[tuple[int, str]] = _load_migrations()
#: The versions a schema passes through, oldest first (each recorded in ``pikku_schema_version``).
MIGRATION_VERSIONS: list[int] = [number for number, _ in MIGRATIONS]
SCHEMA_VERSION = MIGRATION_VERSIONS[-1]


@dataclass(frozen=True, slots=True)
class PgConfig:
    """A parsed ``postgresql://`` URL: the libpq conninfo and pikku's own options."""

    conninfo: str
    schema: str
    pool_min: int = 1
    pool_max: int = 10
    pool_timeout: float = 30.0

    @property
    def channel(self) -> str:
        """The LISTEN/NOTIFY channel of this schema's jobs (identifiers are at most 63 bytes)."""
        name = f"pikku_{self.schema}"
        if len(name.encode()) > 63:
            name = "pikku_" + hashlib.sha1(self.schema.encode()).hexdigest()[:24]
        return name


def parse_url(url: str) -> PgConfig:
    """Split pikku's query parameters off a PostgreSQL URL; BackendURLError on bad values."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in ("postgresql", "postgres"):
        raise BackendURLError(f"{redact_url(url)!r} is not a PostgreSQL URL", hint="use postgresql://user@host/db")
    query = parse_qsl(parts.query, keep_blank_values=True)
    own = {k: v for k, v in query if k in _OWN_PARAMS}
    rest = [(k, v) for k, v in query if k not in _OWN_PARAMS]
    # Defaults the URL may override: a name in pg_stat_activity, a bounded connect, and TCP keepalives so
    # a silently dropped connection (NAT, failover) is noticed, above all the idle LISTEN connection.
    given = {k for k, _ in rest}
    rest += [(k, v) for k, v in _LIBPQ_DEFAULTS if k not in given]
    # %20, not "+", for a space: libpq decodes percent escapes only (e.g. options=-c%20name%3Dvalue).
    conninfo = urlunsplit(("postgresql", parts.netloc, parts.path, urlencode(rest, quote_via=quote), ""))
    schema = own.get("schema") or "pikku"
    try:
        return PgConfig(
            conninfo=conninfo,
            schema=schema,
            pool_min=int(own.get("pool_min", 1)),
            pool_max=int(own.get("pool_max", 10)),
            pool_timeout=float(own.get("pool_timeout", 30.0)),
        )
    except ValueError as exc:
        raise BackendURLError(
            f"bad pool option in {redact_url(url)!r}: {exc}", hint="pool_min/pool_max are ints"
        ) from exc


# -- migrations --------------------------------------------------------------------------------------


async def _current_version(conn: psycopg.AsyncConnection[Any], schema: str) -> int:
    """The recorded version, 0 when the schema or its version table does not exist yet."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables "
        "WHERE schemaname = %(schema)s AND tablename = 'pikku_schema_version') AS found",
        {"schema": schema},
    )
    row = await cur.fetchone()
    if not row or not row["found"]:
        return 0
    table = sql.Identifier(schema, "pikku_schema_version")
    await cur.execute(sql.SQL("SELECT coalesce(max(version), 0) AS version FROM {}").format(table))
    row = await cur.fetchone()
    return int(row["version"]) if row else 0


async def migrate_connection(conn: psycopg.AsyncConnection[Any], schema: str) -> int:
    """Bring ``schema`` up to :data:`SCHEMA_VERSION` on an autocommit connection; return the version.

    The fast path (already current) takes no lock and runs no DDL, so a thousand workers starting at once
    cost one read each. Otherwise a transaction-scoped advisory lock serialises the upgrade across
    processes, and the version is re-read under it so only the first one applies each migration.
    """
    if await _current_version(conn, schema) == SCHEMA_VERSION:
        return SCHEMA_VERSION
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LOCK_CLASS, schema))
        await conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        # The migration files name no schema: for this transaction only, theirs is the one to create in.
        await conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(schema)))
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS pikku_schema_version ("
            " version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        current = await _current_version(conn, schema)
        if current > SCHEMA_VERSION:
            raise ConfigError(
                f"PostgreSQL schema {schema!r} is at version {current}, newer than this pikku knows ({SCHEMA_VERSION})",
                hint="upgrade pikku on this host, or point it at another schema",
            )
        for version, script in MIGRATIONS:
            if version > current:
                await conn.execute(script)  # no parameters: sent as one multi-statement query
                await conn.execute(
                    "INSERT INTO pikku_schema_version (version) VALUES (%(version)s)", {"version": version}
                )
    return SCHEMA_VERSION


async def migrate(url: str) -> int:
    """Create or upgrade the schema named by ``url`` (idempotent, safe from many processes); its version."""
    cfg = parse_url(url)
    try:
        async with await psycopg.AsyncConnection.connect(cfg.conninfo, autocommit=True) as conn:
            return await migrate_connection(conn, cfg.schema)
    except psycopg.OperationalError as exc:
        raise _unavailable(cfg, exc) from exc


def _nul_refused(exc: psycopg.DataError) -> InvalidInputError:
    """A NUL character in a key (a run id, a step or workflow name looked up): PostgreSQL text cannot hold
    one, so no such run or step can exist. Values are JSON text, whose NUL is escaped (``\\u0000``)."""
    return InvalidInputError(
        f"a name or id holds a NUL character, which PostgreSQL text cannot store ({exc})",
        hint="run ids, step and workflow names are printable text; NUL inside JSON values is fine",
    )


def _unavailable(cfg: PgConfig, exc: BaseException) -> BackendUnavailableError:
    where = urlsplit(cfg.conninfo).hostname or "localhost"
    return BackendUnavailableError(
        f"PostgreSQL at {where} is unavailable: {str(exc).strip() or type(exc).__name__}",
        hint="check that the server is up and the URL (PIKKU_STATE_URL) is right; the call may be retried",
    )


# -- the shared pool ---------------------------------------------------------------------------------


class PgDatabase:
    """A pool on one schema, shared by a state store and a queue; closed when its last user closes.

    Every call takes a connection from psycopg_pool for its statement. It goes back to the pool at the end
    of the event loop's turn in which the statement ended, not at once: a statement sent before then (the
    statements of a pass follow one another with nothing but their own replies awaited) takes it again
    without a pool round trip. Nothing else runs meanwhile, so no caller is kept waiting for it; a task
    that keeps sending statements while callers wait in the pool gives it back after HOLD_S, and every
    connection goes back after MAX_OUT_S whatever happens, so that the pool's checks and ``max_lifetime``
    see each one regularly. (A free list of connections kept across idle time was measured and deleted:
    bench/NOTES.md.)
    """

    #: Seconds a connection may go from statement to statement while callers wait in the pool.
    HOLD_S = 0.1
    #: Seconds a connection may go from statement to statement at all.
    MAX_OUT_S = 10.0

    def __init__(self, cfg: PgConfig, pool: AsyncConnectionPool[Conn]) -> None:
        self.cfg = cfg
        self.pool = pool
        self._users = 0
        self._moving: set[asyncio.Task[Any]] = set()  # checkouts and returns running apart from callers
        #: Idle connections whose statement ended in this turn of the loop, by the loop time of their checkout.
        self._spare: dict[Conn, float] = {}
        self._waiting = 0  # callers waiting for a checkout
        self._loop: asyncio.AbstractEventLoop | None = None

    def acquire(self) -> PgDatabase:
        """Count one more user (store or queue) of this database."""
        self._users += 1
        return self

    async def release(self) -> None:
        """One user is done; the pool closes with the last. Safe to call more often than acquire."""
        self._users -= 1
        if self._users <= 0 and not self.pool.closed:
            spare, self._spare = self._spare, {}
            for conn in spare:
                self._give_back(conn)
            if self._moving:  # connections on their way back: into the pool before it closes
                await asyncio.wait(set(self._moving), timeout=5.0)
            await self.pool.close()

    async def run(self, op: Callable[[Conn], Awaitable[T]]) -> T:
        """Run ``op`` on a connection of the pool; the single place driver failures are translated.

        A connection the server dropped (restart, failover, ``pg_terminate_backend``) fails on first use,
        before the statement ran. Then the pool checks its idle connections and replaces the dead, and
        ``op`` runs once more; a second failure is :class:`BackendUnavailableError`. (Should a connection
        die after a write committed but before its reply, the retry sees that write: a transition then
        reports False/None, or create_run a duplicate id; delivery stays at-least-once.)

        A caller cancelled mid-statement gets its CancelledError at once: the executor closes the connection
        and cancels the statement on the server (psycopg, for an ``op`` of its own, cancels it and leaves
        the connection idle); the pool replaces a closed connection. The outcome of a write cancelled that
        way is unknown to the caller, as with any lost reply.
        """
        try:
            return await self._once(op)
        except PoolTimeout as exc:  # a subclass of OperationalError: no pool check and second wait
            raise _unavailable(self.cfg, exc) from exc
        except psycopg.OperationalError:
            pass
        except psycopg.DataError as exc:
            if "NUL" not in str(exc):
                raise
            raise _nul_refused(exc) from exc
        try:
            await self.pool.check()
            return await self._once(op)
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise _unavailable(self.cfg, exc) from exc

    async def _once(self, op: Callable[[Conn], Awaitable[T]]) -> T:
        if self._spare:
            conn, since = self._spare.popitem()
        else:
            conn = await self._checkout()
            self._loop = asyncio.get_running_loop()  # the pool's loop: asked once, not per statement
            since = self._loop.time()
        try:
            return await op(conn)
        finally:
            self._keep(conn, since)

    def _keep(self, conn: Conn, since: float) -> None:
        """Keep ``conn`` spare until the loop's next turn (see the class), or give it back now: when it is
        not idle (a cancelled statement closed it), the database closes, it has been out for MAX_OUT_S, or
        for HOLD_S while callers wait in the pool."""
        loop = self._loop or asyncio.get_running_loop()
        out = loop.time() - since
        if (
            self._users <= 0
            or conn.pgconn.transaction_status != _IDLE
            or out >= self.MAX_OUT_S
            or (self._waiting and out >= self.HOLD_S and self._queued())
        ):
            self._give_back(conn)
            return
        self._spare[conn] = since
        loop.call_soon(self._unspare, conn)

    def _queued(self) -> bool:
        """Whether callers wait in the pool's queue (none has an idle connection to take)."""
        return bool(self.pool.get_stats().get("requests_waiting", 0))

    def _unspare(self, conn: Conn) -> None:
        if self._spare.pop(conn, None) is not None:
            self._give_back(conn)

    async def _checkout(self) -> Conn:
        """A connection of the pool. psycopg_pool is not safe against a cancellation of the task inside
        getconn and putconn (a connection went missing for good in 2 of 8 runs of 200 cancelled calls):
        both run in tasks of their own, which a cancellation of the caller never reaches. A caller
        cancelled while it waits in the pool still waits for its connection and hands it back before its
        CancelledError: a waiter left behind in the pool would hold up the callers after it."""
        task = self._apart(self.pool.getconn())
        self._waiting += 1
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            while not task.done():
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait({task})
            self._give_back_unused(task)
            raise
        finally:
            self._waiting -= 1

    def _give_back(self, conn: Conn) -> None:
        """Return ``conn`` to the pool in a task of its own (the pool replaces a closed one)."""
        self._apart(self.pool.putconn(conn))

    def _give_back_unused(self, task: asyncio.Task[Conn]) -> None:
        if not task.cancelled() and task.exception() is None:
            self._give_back(task.result())

    def _apart(self, work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task = asyncio.get_running_loop().create_task(work)
        self._moving.add(task)
        task.add_done_callback(self._moved)
        return task

    def _moved(self, task: asyncio.Task[Any]) -> None:
        self._moving.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a failed checkout reaches its caller; a failed return costs a connection

    async def fetchone(self, query: str, params: Params) -> Row | None:
        """The first row of a (prepared) statement, or None."""
        return await self.run(lambda conn: conn.executor.first(query, params))

    async def fetchall(self, query: str, params: Params) -> list[Row]:
        """Every row of a (prepared) statement."""
        return await self.run(lambda conn: conn.executor.rows(query, params))

    async def rowcount(self, query: str, params: Params) -> int:
        """How many rows a (prepared) write statement touched."""
        return await self.run(lambda conn: conn.executor.rowcount(query, params))


async def _configure(conn: Conn, *, schema: str) -> None:
    """Session settings of every pooled connection.

    ``search_path`` is pikku's schema alone: pikku's statements name no schema (see ``statements``), so
    they are constants, whatever the configuration (``pg_catalog`` is still searched first, implicitly).

    Generic plans only: every pikku statement has a fixed shape (a variant per filter, no ``$1 IS NULL OR``
    predicates), so one plan per prepared statement is right, and re-planning at each execution costs more
    than executing (PostgreSQL keeps custom plans for a statement whose generic plan *estimates* worse,
    e.g. insert_step with its CASE on the claim owner: ~0.5 ms of planning per step).
    """
    # pikku's statements are prepared by its executor (.executor); psycopg must not prepare its own on
    # these connections, as it would deallocate every prepared statement of the session on some errors.
    conn.prepare_threshold = None
    await conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
    # PostgreSQL 11 and older have no such setting: their default plan choice it is.
    with contextlib.suppress(psycopg.errors.UndefinedObject):
        await conn.execute("SET plan_cache_mode = force_generic_plan")


async def open_database(url: str) -> PgDatabase:
    """Migrate the schema (first use) and open the pool; BackendUnavailableError if unreachable."""
    cfg = parse_url(url)
    await migrate(url)
    pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
        cfg.conninfo,
        connection_class=Connection,
        kwargs={"autocommit": True},
        configure=functools.partial(_configure, schema=cfg.schema),
        min_size=cfg.pool_min,
        max_size=max(cfg.pool_max, cfg.pool_min),
        timeout=cfg.pool_timeout,
        open=False,
        name=f"pikku:{cfg.schema}",
    )
    try:
        await pool.open(wait=True, timeout=cfg.pool_timeout)
    except PoolTimeout as exc:
        await pool.close()
        raise _unavailable(cfg, exc) from exc
    return PgDatabase(cfg, pool)


def claim_of(job: Job) -> tuple[int, int] | None:
    """``(id, attempts)`` naming the claim a Job came from; None when it cannot be ours."""
    try:
        return int(job.id), int(job.receipt if job.receipt is not None else job.attempts)
    except ValueError:
        return None
