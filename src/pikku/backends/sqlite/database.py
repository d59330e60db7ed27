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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

from pikku._errors import BackendUnavailableError, CorruptStateError
from pikku.backends._urls import path_from_url

SCHEMA_VERSION = 2
BUSY_TIMEOUT_MS = 10_000
#: The committing connection checkpoints by itself only past this many WAL pages (~40 MB): a safety net
#: for when the background checkpointer cannot keep up. SQLite's default is 1,000.
AUTOCHECKPOINT_PAGES = 10_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    workflow TEXT NOT NULL,
    status TEXT NOT NULL,
    input_json TEXT NOT NULL,
    output_json TEXT,
    error_json TEXT,
    lock_owner TEXT,
    lock_until REAL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_workflow ON runs (workflow, status, created_at);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status, created_at);
CREATE INDEX IF NOT EXISTS runs_by_created ON runs (created_at);
CREATE TABLE IF NOT EXISTS steps (
    run_id TEXT NOT NULL,
    name TEXT NOT NULL,
    form TEXT NOT NULL,
    status TEXT NOT NULL,
    rpc_name TEXT,
    data_json TEXT,
    result_json TEXT,
    result_type TEXT,
    error_json TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL DEFAULT 1,
    wake_at REAL,
    lease_owner TEXT,
    lease_until REAL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (run_id, name)
);
CREATE TABLE IF NOT EXISTS attempts (
    run_id TEXT NOT NULL,
    name TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL,
    error_json TEXT,
    PRIMARY KEY (run_id, name, attempt)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    payload_json TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    run_at REAL NOT NULL,
    lease_until REAL,
    owner TEXT,
    priority REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_due ON jobs (run_at);
"""

#: Version 2 (job priorities): a version-1 file gains ``jobs.priority`` (backfilled with ``run_at``), and the
#: claim's index (queue, priority, run_at, id) replaces the version-1 (queue, run_at) one. Idempotent: it runs
#: after ``_SCHEMA`` in the schema transaction and checks the table before altering it.
_UPGRADE_2 = """
ALTER TABLE jobs ADD COLUMN priority REAL NOT NULL DEFAULT 0;
UPDATE jobs SET priority = run_at
"""
_INDEXES_2 = """
DROP INDEX IF EXISTS jobs_by_queue;
CREATE INDEX IF NOT EXISTS jobs_by_queue_priority ON jobs (queue, priority, run_at, id);
CREATE INDEX IF NOT EXISTS jobs_by_priority ON jobs (priority, run_at, id)
"""


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


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
            self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            self._fail(exc)
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
        if isinstance(exc, sqlite3.OperationalError):
            raise BackendUnavailableError(
                f"SQLite database {self.path} is unavailable: {exc}",
                hint="another process may hold a long write lock; the operation can be retried",
            ) from exc
        if type(exc) is sqlite3.DatabaseError:  # "file is not a database", "disk image is malformed"
            raise CorruptStateError(str(self.path), str(exc)) from exc
        raise exc

    def _configure(self) -> None:
        self.rowcount(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        self.rowcount("PRAGMA journal_mode = WAL")
        self.rowcount("PRAGMA synchronous = NORMAL")
        self.rowcount(f"PRAGMA wal_autocheckpoint = {AUTOCHECKPOINT_PAGES}")
        if self._schema_version() != SCHEMA_VERSION:
            self._create_schema()

    def _schema_version(self) -> int | None:
        try:
            row = self.fetchone("SELECT MAX(version) FROM schema_version")
        except BackendUnavailableError:  # no such table yet
            return None
        return None if row is None else row[0]

    def _create_schema(self) -> None:
        """Create the schema, or upgrade an older file to :data:`SCHEMA_VERSION`, in one transaction."""
        with self.write():
            version = self._schema_version()
            if version is not None and version > SCHEMA_VERSION:
                raise CorruptStateError(
                    str(self.path), f"schema version {version} is newer than this pikku ({SCHEMA_VERSION})"
                )
            for statement in _statements(_SCHEMA):
                self.rowcount(statement)
            job_columns = {row[1] for row in self.fetchall("PRAGMA table_info(jobs)")}
            if "priority" not in job_columns:  # a version-1 file
                for statement in _statements(_UPGRADE_2):
                    self.rowcount(statement)
            for statement in _statements(_INDEXES_2):
                self.rowcount(statement)
            if version is None:
                self.rowcount("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            elif version < SCHEMA_VERSION:
                self.rowcount("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))

    # -- statements
    def fetchone(self, sql: str, args: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        """The first row of ``sql`` (all its rows are run through, so writes with RETURNING complete)."""
        rows = self.fetchall(sql, args)
        return rows[0] if rows else None

    def fetchall(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Every row of ``sql``."""
        try:
            return self.conn.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            self._fail(exc)

    def rowcount(self, sql: str, args: Sequence[Any] = ()) -> int:
        """Run a write; how many rows it changed."""
        try:
            return self.conn.execute(sql, args).rowcount
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
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        except sqlite3.Error:
            return  # the committing connection checkpoints by itself (AUTOCHECKPOINT_PAGES)
        seen = self._wal_stamp()
        try:
            conn.execute("PRAGMA busy_timeout = 0")  # another checkpointer at work: just try again later
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
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error:
            return  # locked or gone: the next round (or the safety net) takes it
        if not busy:
            self.checkpoints += 1


def open_database(url: str) -> Database:
    """Open (creating file, directory and schema when missing) the database a ``sqlite:///`` URL names."""
    path = path_from_url(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    return Database(path)


def insert_job(db: Database, queue: str, payload: dict[str, Any], run_at: float, priority: float | None = None) -> str:
    """Add a job row (inside the caller's transaction when there is one) and return its id.

    Without ``priority`` the job's priority is its due time ``run_at``.
    """
    row = db.fetchone(
        "INSERT INTO jobs (queue, payload_json, run_at, priority) VALUES (?, ?, ?, ?) RETURNING id",
        (queue, dumps(payload), run_at, run_at if priority is None else priority),
    )
    assert row is not None
    return str(row[0])
