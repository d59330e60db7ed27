"""The SQLite database shared by :mod:`pikku.backends.sqlite.store` and :mod:`pikku.backends.sqlite.queue`.

One file holds runs, steps, attempts and jobs. The connection is used directly on the event loop: every
call is a few short statements, and a method never awaits inside a transaction, so under asyncio each
method is atomic within the process; ``BEGIN IMMEDIATE`` plus WAL and a busy timeout make it atomic across
processes too.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple, NoReturn, TypeVar

from pikku._errors import BackendUnavailableError, CorruptStateError, DataFolderError
from pikku._records import Enqueue, Job, Take
from pikku.backends._folders import writable_folder
from pikku.backends._urls import path_from_url
from pikku.backends.sqlite import statements as sql

#: The schema version this code writes: the number of the last file in ``migrations/``. Numbers may skip
#: (numbers are handed out to parallel lines of work before they merge); none is ever reused.
SCHEMA_VERSION = 7
BUSY_TIMEOUT_S = 10.0
#: SQLite's primary result codes for a file it may not write or create: SQLITE_READONLY, SQLITE_CANTOPEN.
_NOT_WRITABLE = frozenset({8, 14})
#: The committing connection checkpoints by itself only past this many WAL pages (~40 MB): a safety net
#: for when the background checkpointer cannot keep up. SQLite's default is 1,000. Set by
#: ``statements.PRAGMA_WAL_AUTOCHECKPOINT``, whose text holds the same number.
AUTOCHECKPOINT_PAGES = 10_000

#: Statement parameters: named (``:run_id``) from a mapping, or none.
Params = Mapping[str, Any]

#: A row shape: a named tuple class of a statement's columns (see ``statements``).
R = TypeVar("R", bound=NamedTuple)


def migrations() -> list[tuple[int, str]]:
    """``(version, script)`` of every file in ``migrations/``, in order: ``0003_job_keys.sql`` is version 3."""
    folder = resources.files("pikku.backends.sqlite") / "migrations"
    found = [(int(item.name.split("_", 1)[0]), item) for item in folder.iterdir() if item.name.endswith(".sql")]
    return [(version, item.read_text(encoding="utf-8")) for version, item in sorted(found, key=lambda f: f[0])]


def script_statements(script: str) -> Iterator[str]:
    """The statements of a migration script, one at a time: lines are gathered until SQLite itself calls
    them a complete statement (a ``;`` inside a string or a trigger body does not end one)."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending
            pending = ""
    if pending.strip() and not all(part.lstrip().startswith("--") for part in pending.splitlines() if part.strip()):
        raise ValueError(f"incomplete statement at the end of a migration: {pending.strip()[:80]!r}")


def dumps(value: Any) -> str:
    """Compact JSON text, unicode kept as is."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class Database:
    """One connection to one database file, shared by a state store and a queue opened as a pair.

    Statements go through :meth:`fetchone`, :meth:`fetchall` and :meth:`rowcount` (or :meth:`write`), which
    turn SQLite failures into pikku's errors: a locked or unreachable database is BackendUnavailableError
    (transient: retry), a damaged file is CorruptStateError naming it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.wakeup = asyncio.Event()  # set on enqueue/release/hand-off through this connection
        self._users = 0
        try:
            self.conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            self._fail(exc)
        self._shapes_checked: set[tuple[str, type[NamedTuple]]] = set()
        try:
            self._configure()
        except BaseException:
            self.conn.close()
            raise
        self.checkpointer = Checkpointer(path)
        # A Database dropped without its last release must not leave the thread polling its file forever.
        weakref.finalize(self, self.checkpointer.stop_soon)

    def _fail(self, exc: sqlite3.Error) -> NoReturn:
        """Re-raise a SQLite failure as pikku's error (IntegrityError and the like pass through)."""
        if getattr(exc, "sqlite_errorcode", 0) & 0xFF in _NOT_WRITABLE:
            raise DataFolderError(str(self.path.parent), f"{exc} ({self.path.name})") from exc
        if isinstance(exc, sqlite3.OperationalError):
            raise BackendUnavailableError(
                f"SQLite database {self.path} is unavailable: {exc}",
                hint="another process may hold a long write lock; the operation can be retried",
            ) from exc
        if type(exc) is sqlite3.DatabaseError:  # "file is not a database", "disk image is malformed"
            raise CorruptStateError(str(self.path), str(exc)) from exc
        raise exc

    def _configure(self) -> None:
        self.rowcount(sql.PRAGMA_JOURNAL_MODE)
        self.rowcount(sql.PRAGMA_SYNCHRONOUS)
        self.rowcount(sql.PRAGMA_WAL_AUTOCHECKPOINT)
        if self._schema_version() != SCHEMA_VERSION:
            self._migrate()

    def _schema_version(self) -> int | None:
        try:
            row = self.row(sql.SCHEMA_VERSION, None, sql.Version)
        except BackendUnavailableError:  # no such table yet
            return None
        return None if row is None else row.version

    def _migrate(self) -> None:
        """Bring the file to :data:`SCHEMA_VERSION` in one transaction: every migration newer than its version.

        The version is read again inside the transaction, so processes opening one file at once migrate it
        once: the others wait for the write lock and then find nothing left to do.
        """
        with self.write():
            version = self._schema_version()
            if version is not None and version > SCHEMA_VERSION:
                raise CorruptStateError(
                    str(self.path), f"schema version {version} is newer than this pikku ({SCHEMA_VERSION})"
                )
            for number, script in migrations():
                if version is None or number > version:
                    for statement in script_statements(script):
                        self.rowcount(statement)
            if version is None:
                self.rowcount(sql.INSERT_SCHEMA_VERSION, {"version": SCHEMA_VERSION})
            elif version < SCHEMA_VERSION:
                self.rowcount(sql.UPDATE_SCHEMA_VERSION, {"version": SCHEMA_VERSION})

    # -- statements
    def rows(self, statement: str, params: Params | None, shape: type[R]) -> list[R]:
        """Every row of ``statement``, each as ``shape`` (a named tuple of the statement's columns, by name)."""
        try:
            cursor = self.conn.execute(statement, params or {})
            found = cursor.fetchall()
        except sqlite3.Error as exc:
            self._fail(exc)
        if (statement, shape) not in self._shapes_checked:
            self._check_shape(statement, cursor, shape)
        return [shape._make(values) for values in found]

    def row(self, statement: str, params: Params | None, shape: type[R]) -> R | None:
        """The first row of ``statement`` as ``shape`` (all rows are run through, so RETURNING completes)."""
        try:
            cursor = self.conn.execute(statement, params or {})
            found = cursor.fetchall()
        except sqlite3.Error as exc:
            self._fail(exc)
        if (statement, shape) not in self._shapes_checked:
            self._check_shape(statement, cursor, shape)
        return shape._make(found[0]) if found else None

    def _check_shape(self, statement: str, cursor: sqlite3.Cursor, shape: type[NamedTuple]) -> None:
        """The shape's fields must be the statement's column names, in order: checked once per pair."""
        columns = tuple(column[0] for column in cursor.description or ())
        if columns != shape._fields:
            raise TypeError(f"{shape.__name__} {shape._fields} does not match the columns {columns} of {statement}")
        self._shapes_checked.add((statement, shape))

    def fetchall(self, statement: str, params: Params | None = None) -> list[sqlite3.Row]:
        """Every row of an ad-hoc ``statement`` (pragmas, tests) as :class:`sqlite3.Row`, read by name."""
        try:
            cursor = self.conn.execute(statement, params or {})
            return [sqlite3.Row(cursor, values) for values in cursor.fetchall()]
        except sqlite3.Error as exc:
            self._fail(exc)

    def fetchone(self, statement: str, params: Params | None = None) -> sqlite3.Row | None:
        """The first row of an ad-hoc ``statement`` as :class:`sqlite3.Row`."""
        found = self.fetchall(statement, params)
        return found[0] if found else None

    def rowcount(self, statement: str, params: Params | None = None) -> int:
        """Run a write; how many rows it changed."""
        try:
            return self.conn.execute(statement, params or {}).rowcount
        except sqlite3.Error as exc:
            self._fail(exc)

    @contextmanager
    def write(self) -> Iterator[Database]:
        """A ``BEGIN IMMEDIATE`` transaction: committed on success, rolled back on any error."""
        self.rowcount("BEGIN IMMEDIATE")
        try:
            yield self
            self.rowcount("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise

    # -- sharing
    def retain(self) -> None:
        """Count one more user (a store or a queue) of this connection."""
        self._users += 1

    def release(self) -> None:
        """One user is done; the connection closes with the last one."""
        self._users -= 1
        if self._users <= 0:
            self.checkpointer.stop()
            self.conn.close()


class Checkpointer:
    """WAL checkpoints on a thread of their own, off the connection that commits.

    Left to itself, SQLite checkpoints inside the commit that pushes the WAL past 1,000 pages: that commit
    copies the pages into the database file and syncs it, a pause of milliseconds that lands on whichever
    step happens to commit then (the p99 of a run, and time that grows with a run's length). Here a daemon
    thread with its own connection looks at the WAL every :attr:`INTERVAL_S` and, when frames were written
    since, runs a PASSIVE checkpoint, which never blocks writers (the sqlite3 module lets
    go of the GIL meanwhile). Durability is unchanged: a commit is as durable as before, only the copy back
    into the main file moves.
    """

    INTERVAL_S = 0.1

    def __init__(self, path: Path) -> None:
        self.path = path.resolve()  # the thread must not follow a later chdir
        self.checkpoints = 0  # how many checkpoints this thread ran (for tests and benchmarks)
        self._wal = Path(f"{self.path}-wal")
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"pikku-checkpoint:{self.path.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and wait for it (a checkpoint in progress finishes first)."""
        self.stop_soon()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)

    def stop_soon(self) -> None:
        """Tell the thread to stop at its next look, without waiting for it."""
        self._stopping.set()

    @property
    def running(self) -> bool:
        """Whether the thread is still alive."""
        return self._thread.is_alive()

    def _loop(self) -> None:
        try:
            # mode=rw: never create a database file of its own (the main connection made this one)
            uri = f"{self.path.as_uri()}?mode=rw"
            # timeout 0: with another checkpointer at work, just try again at the next look
            conn = sqlite3.connect(uri, uri=True, timeout=0.0, isolation_level=None, check_same_thread=False)
        except sqlite3.Error:
            return  # the committing connection checkpoints by itself (AUTOCHECKPOINT_PAGES)
        seen = self._wal_stamp()
        try:
            while not self._stopping.wait(self.INTERVAL_S):
                stamp = self._wal_stamp()
                if stamp != seen:  # frames were written since the last look (the WAL is reused, not shrunk)
                    seen = stamp
                    self._checkpoint(conn)
        finally:
            conn.close()

    def _wal_stamp(self) -> tuple[int, int]:
        try:
            st = os.stat(self._wal)
        except OSError:
            return (0, 0)
        return (st.st_mtime_ns, st.st_size)

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        try:
            busy, _log_pages, _checkpointed = conn.execute(sql.PRAGMA_WAL_CHECKPOINT).fetchone()
        except sqlite3.Error:
            return  # locked or gone: the next round (or the safety net) takes it
        if not busy:
            self.checkpoints += 1


def open_database(url: str) -> Database:
    """Open (creating file, directory and schema when missing) the database a ``sqlite:///`` URL names."""
    path = path_from_url(url)
    writable_folder(path.parent)  # SQLite writes its -wal and -shm files beside the database
    return Database(path)


def insert_job(db: Database, job: Enqueue, now: float) -> str:
    """Add ``job`` due ``job.delay`` after ``now`` (inside the caller's transaction when there is one) and
    return its id: a keyed job meeting a waiting one with its key merges into it (``statements.INSERT_JOB``)."""
    params = {
        "queue": job.queue,
        "payload_json": dumps(job.payload),
        "run_at": now + job.delay,
        "priority": job.priority,
        "key": job.key,
    }
    row = db.row(sql.INSERT_JOB, params, sql.Id)
    assert row is not None
    return str(row.id)


def insert_taken_job(db: Database, job: Enqueue, take: Take, now: float) -> Job:
    """Add ``job`` claimed by ``take.owner`` (leased ``take.lease_s``) inside the caller's transaction: a
    local hand-off (``statements.INSERT_TAKEN_JOB``); the claimed job, as a claim would return it."""
    run_at, until = now + job.delay, now + take.lease_s
    params = {
        "queue": job.queue,
        "payload_json": dumps(job.payload),
        "run_at": run_at,
        "priority": job.priority,
        "key": job.key,
        "owner": take.owner,
        "lease_until": until,
    }
    row = db.row(sql.INSERT_TAKEN_JOB, params, sql.Id)
    assert row is not None
    return Job(str(row.id), job.queue, dict(job.payload), 1, run_at, until, take.owner)


def claim_params(job: Job) -> dict[str, Any]:
    """The parameters that name one claim of a job (an id that is no number names none)."""
    try:
        return {"id": int(job.id), "owner": job.owner, "attempts": job.attempts}
    except ValueError:
        return {"id": -1, "owner": None, "attempts": 0}
