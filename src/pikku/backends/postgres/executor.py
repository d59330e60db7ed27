"""pikku's statements on a psycopg connection, without the cursor machinery: PostgreSQL's fast path.

A PostgreSQL step costs about one statement, and psycopg's async cursor spends more client CPU on it
than the rest of the engine (its generator driven by ``wait_async``, prepared-statement bookkeeping, a
Transformer and a description per cursor). pikku's statements are a fixed set, so this module does only
what they need: psycopg's :class:`~psycopg.adapt.Transformer` dumps the parameters and loads the rows
(the same adapters and types as a cursor), each statement is prepared once per connection under its own
name, and the reply is awaited on the event loop's reader for the socket (``AsyncConnection.pgconn``,
:mod:`psycopg.pq`). Server errors raise psycopg's classes with psycopg's messages, looked up by SQLSTATE
(:func:`psycopg.errors.lookup`). Only documented psycopg APIs are used.

It pays rent: ``cursor.execute(..., prepare=True)`` instead costs 1.22-1.24x the CPU per inline step
and 1.18x per remote step (client and server together) and drains 0.79-0.88x the steps/s (bench/NOTES.md,
"Architecture: fast paths"); tests/backends/test_pg_executor_equivalence.py holds
it to the same rows, errors and cancellation outcome as that plain path.

Only ``%s`` and ``%(name)s`` placeholders are understood (and ``%%`` for a literal ``%``), which is all
pikku's SQL uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import capabilities, errors, pq
from psycopg.abc import Buffer
from psycopg.adapt import PyFormat, Transformer

_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%s|%%")
_OK = (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK)


@dataclass(frozen=True, slots=True)
class Converted:
    """A query with ``$n`` placeholders, and the parameter names in ``$n`` order (None: positional)."""

    sql: bytes
    names: tuple[str, ...] | None
    count: int
    #: The values of the named parameters from a mapping, in ``$n`` order (one C call, not a loop).
    pick: Callable[[Mapping[str, Any]], Any] | None = None
    #: How every parameter is dumped (psycopg's choice by type and value).
    formats: tuple[PyFormat, ...] = ()


@functools.lru_cache(maxsize=1024)
def convert(query: str) -> Converted:
    """``%s`` / ``%(name)s`` placeholders as ``$n``; a name used twice is one parameter, as in psycopg."""
    names: dict[str, int] = {}
    positional = 0

    def number(match: re.Match[str]) -> str:
        nonlocal positional
        if match.group(0) == "%%":
            return "%"
        name = match.group(1)
        if name is None:
            positional += 1
            return f"${positional}"
        if name not in names:
            names[name] = len(names) + 1
        return f"${names[name]}"

    sql = _PLACEHOLDER.sub(number, query)
    if positional and names:
        raise psycopg.ProgrammingError("a query cannot mix %s and %(name)s placeholders")
    count = len(names) or positional
    pick = operator.itemgetter(*names) if names else None
    return Converted(sql.encode(), tuple(names) if names else None, count, pick, (PyFormat.AUTO,) * count)


def _ordered(query: Converted, params: Sequence[Any] | Mapping[str, Any]) -> Sequence[Any]:
    if not query.count and not params:  # no placeholders: no values, as a sequence or a mapping (as psycopg)
        return ()
    if query.names is None:
        if isinstance(params, Mapping) or len(params) != query.count:
            raise psycopg.ProgrammingError(f"the query has {query.count} %s placeholders; pass as many values")
        return params
    if not isinstance(params, Mapping):
        raise psycopg.ProgrammingError("the query has %(name)s placeholders; pass a mapping")
    assert query.pick is not None
    try:
        values = query.pick(params)
    except KeyError as exc:
        raise psycopg.ProgrammingError(f"query parameter missing: {exc.args[0]}") from None
    return values if query.count > 1 else (values,)  # itemgetter of one name gives the value itself


class Connection(psycopg.AsyncConnection[Any]):
    """A pooled connection that carries its :class:`Executor` (prepared statements live with the session)."""

    _executor: Executor | None = None

    @property
    def executor(self) -> Executor:
        """This connection's executor, made on first use."""
        if self._executor is None:
            self._executor = Executor(self)
        return self._executor


class Executor:
    """Runs statements on one connection (never two at once: the caller holds the connection)."""

    #: Prepared statements kept per connection; past it, new ones run unnamed (parsed each time).
    MAX_PREPARED = 256

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._conn = conn
        self._pg = conn.pgconn
        self._tx = Transformer(conn)
        self._encoding = conn.info.encoding
        self._columns: dict[str, list[str]] = {}  # column names by query
        self._prepared: dict[tuple[str, tuple[int, ...]], bytes] = {}
        self._names = itertools.count()

    @property
    def prepared(self) -> int:
        """How many statements this executor has prepared on its connection."""
        return len(self._prepared)

    async def rows(self, query: str, params: Sequence[Any] | Mapping[str, Any]) -> list[dict[str, Any]]:
        """Every row the statement returns, as a dict by column name."""
        result = await self.execute(query, params)
        if not result.ntuples:
            return []
        names = self._columns_of(query, result)
        return [dict(zip(names, values, strict=False)) for values in self._tx.load_rows(0, result.ntuples, tuple)]

    async def first(self, query: str, params: Sequence[Any] | Mapping[str, Any]) -> dict[str, Any] | None:
        """The first row the statement returns (a dict by column name), or None."""
        result = await self.execute(query, params)
        if not result.ntuples:
            return None
        names = self._columns_of(query, result)
        return dict(zip(names, self._tx.load_row(0, tuple), strict=False))

    def _columns_of(self, query: str, result: pq.abc.PGresult) -> list[str]:
        """The result's column names (a statement's are fixed: read once, and always as many as the result
        has, so the rows zip with them without ``strict``), with the result set to load."""
        self._tx.set_pgresult(result)
        names = self._columns.get(query)
        if names is None or len(names) != result.nfields:
            names = [(result.fname(i) or b"").decode(self._encoding) for i in range(result.nfields)]
            if len(self._columns) < self.MAX_PREPARED:
                self._columns[query] = names
        return names

    async def rowcount(self, query: str, params: Sequence[Any] | Mapping[str, Any]) -> int:
        """How many rows the statement touched."""
        return (await self.execute(query, params)).command_tuples or 0

    async def execute(self, query: str, params: Sequence[Any] | Mapping[str, Any]) -> pq.abc.PGresult:
        """Send one statement and wait for its result.

        Cancelled while the server works, the connection is closed at once and the statement cancelled on
        the server by a request of its own (see :meth:`_abandon`); the pool replaces the connection. The
        outcome of a write cancelled this way is unknown to the caller, as with any lost reply.
        """
        converted = convert(query)
        tx = self._tx
        values = tx.dump_sequence(_ordered(converted, params), converted.formats)
        types, formats = tx.types or (), list(tx.formats or ())
        try:
            try:
                return await self._send(query, converted, values, types, formats)
            except errors.InvalidSqlStatementName:
                # The session dropped our prepared statements (DEALLOCATE or DISCARD ALL sent by other code
                # on this connection). The statement did not run: drop whatever is left of them, then
                # prepare again, under new names.
                self._prepared.clear()
                self._pg.send_query(b"DEALLOCATE ALL")
                self._check(await self._result())
                return await self._send(query, converted, values, types, formats)
        except asyncio.CancelledError:
            await self._abandon()
            raise

    async def _send(
        self,
        query: str,
        converted: Converted,
        values: Sequence[Buffer | None],
        types: Sequence[int],
        formats: Sequence[pq.Format],
    ) -> pq.abc.PGresult:
        key = (query, tuple(types))
        name = self._prepared.get(key)
        if name is None and len(self._prepared) < self.MAX_PREPARED:
            name = f"pikku_{next(self._names)}".encode()  # never reused, even after a clear
            self._pg.send_prepare(name, converted.sql, types)
            self._check(await self._result())
            self._prepared[key] = name
        if name is None:
            self._pg.send_query_params(converted.sql, values, types, formats)
        else:
            self._pg.send_query_prepared(name, values, formats)
        return self._check(await self._result())

    async def _abandon(self) -> None:
        """After a cancellation mid-statement: close the session now, and have a cancel request stop the
        statement (it names the server process by pid and key, so it works after the close). Nothing here
        can be cut short by another cancellation of the caller: a server notices a closed client only
        when it next reads or writes, so without the request a long write would still commit."""
        if self._pg.transaction_status == pq.TransactionStatus.ACTIVE:
            _send_cancel(self._pg)
        await self._conn.close()  # no await inside: psycopg only finishes the libpq connection

    def _check(self, result: pq.abc.PGresult | None) -> pq.abc.PGresult:
        if result is not None and result.status in _OK:
            return result
        if self._pg.status == pq.ConnStatus.BAD:
            raise psycopg.OperationalError(f"the connection was lost: {pq.error_message(self._pg)}")
        if result is None:
            raise psycopg.InterfaceError("the server sent no result")
        raise server_error(result, self._encoding)

    async def _result(self) -> pq.abc.PGresult | None:
        """Flush what was sent, then read until the server is ready again; the statement's (first) result."""
        pg = self._pg
        while pg.flush():
            await _socket_ready(pg.socket, writable=True)
        first: pq.abc.PGresult | None = None
        while True:
            pg.consume_input()
            while not pg.is_busy():
                result = pg.get_result()
                if result is None:
                    return first
                if first is None:
                    first = result
            await _socket_ready(pg.socket, writable=False)


async def _socket_ready(fd: int, *, writable: bool) -> None:
    """Until ``fd`` can be written (or read), on the running loop's selector."""
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    wake = functools.partial(_wake, ready)
    if writable:
        loop.add_writer(fd, wake)
    else:
        loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        if writable:
            loop.remove_writer(fd)
        else:
            loop.remove_reader(fd)


def server_error(result: pq.abc.PGresult, encoding: str) -> psycopg.Error:
    """The exception psycopg raises for a failed ``result``: the class of its SQLSTATE, its SQLSTATE and
    psycopg's message (``diag`` stays empty: psycopg fills it through no public constructor)."""
    state = (result.error_field(pq.DiagnosticField.SQLSTATE) or b"").decode("ascii", "replace")
    error = _error_class(state)(pq.error_message(result, encoding))
    if not error.sqlstate and state:  # a code without a class of its own, as psycopg does
        error.sqlstate = state
    return error


#: DB-API classes a SQLSTATE without a class of its own falls back to, by its class (first two characters).
_DBAPI = (
    psycopg.DataError,
    psycopg.OperationalError,
    psycopg.IntegrityError,
    psycopg.InternalError,
    psycopg.ProgrammingError,
    psycopg.NotSupportedError,
)


@functools.lru_cache(maxsize=256)
def _error_class(state: str) -> type[psycopg.Error]:
    """psycopg's class for SQLSTATE ``state``; for a code it has no class for, the DB-API class of the
    code's family (``22xxx``: DataError, ``P9xxx``: ProgrammingError), found from the family's ``..000``
    code, else DatabaseError. (For the rare families without such a code, ``HV``/``XX``, psycopg's own
    table may name a narrower class than DatabaseError.)"""
    with contextlib.suppress(KeyError):
        return errors.lookup(state)
    for family_code in (state[:2] + "000", state[:1] + "0000"):
        with contextlib.suppress(KeyError):
            family = errors.lookup(family_code)
            return next((base for base in _DBAPI if issubclass(family, base)), psycopg.DatabaseError)
    return psycopg.DatabaseError


#: Cancel requests in flight (held so that they are not garbage-collected before they are done).
_CANCELS: set[asyncio.Future[None]] = set()

#: How long a cancel request may take before it is given up (the statement then runs to its end).
CANCEL_TIMEOUT_S = 5.0


def _send_cancel(pg: pq.abc.PGconn) -> None:
    """Start a cancel request for ``pg``'s statement and finish it in a task of its own.

    libpq 17+: a non-blocking cancel connection driven on the event loop. Older libpq: the blocking
    ``PQcancel`` on a thread (psycopg's fallback too; it may hold the loop while the server is slow).
    """
    try:
        if capabilities.has_cancel_safe():
            request = pg.cancel_conn()
            request.start()
            task = asyncio.ensure_future(_finish_cancel(request))
        else:
            task = asyncio.ensure_future(asyncio.to_thread(_blocking_cancel, pg.get_cancel()))
    except psycopg.Error:
        return  # no cancel possible: the statement runs to its end
    _CANCELS.add(task)
    task.add_done_callback(_CANCELS.discard)


async def _finish_cancel(request: pq.abc.PGcancelConn) -> None:
    try:
        async with asyncio.timeout(CANCEL_TIMEOUT_S):  # (not wait_for: in 3.11 it can swallow a cancel)
            while (status := request.poll()) in (pq.PollingStatus.READING, pq.PollingStatus.WRITING):
                await _socket_ready(request.socket, writable=status == pq.PollingStatus.WRITING)
    except (TimeoutError, psycopg.Error):
        pass  # no answer in time, the server is gone or the statement ended: nothing more to do
    finally:
        request.finish()


def _blocking_cancel(request: pq.abc.PGcancel) -> None:
    with contextlib.suppress(psycopg.Error):
        request.cancel()


def _wake(ready: asyncio.Future[None]) -> None:
    if not ready.done():
        ready.set_result(None)
