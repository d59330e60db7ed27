"""Dead jobs vacuumed while a drain runs, when autovacuum lags behind.

Every job is inserted, claimed and deleted, so a busy queue leaves dead rows at the head of ``jobs_claim``
and ``jobs_due``: the oldest jobs, which every claim's index scan starts from and has to step over. Autovacuum
visits a database at most once a minute (``autovacuum_naptime``, shared by every database of the server),
and a drain of 50,000 queued runs deleted ~100,000 jobs in two minutes with no autovacuum of ``jobs`` at
all: claims slowed, and that drain ran at 0.6x the rate of a 1,000-run one (bench/NOTES.md, session 9).

So a queue that claims checks, at most every :data:`EVERY_S` seconds and in the background, how many dead
rows ``jobs`` has (``pg_stat_user_tables``, a catalog read), and past :data:`MIN_DEAD_ROWS` runs
``VACUUM (SKIP_LOCKED) jobs``: the dead index entries go, and a vacuum already running (another worker's,
or autovacuum's) is not waited for. It never holds up a claim. Should the role not own the table, or the
server be older than PostgreSQL 12 (no SKIP_LOCKED), it stops trying and leaves it to autovacuum.
"""

from __future__ import annotations

import asyncio
import logging

import psycopg

from pikku.backends.postgres import statements
from pikku.backends.postgres.database import Conn, PgDatabase

#: Seconds between two looks at the dead rows of ``jobs`` (per queue object, i.e. per worker process).
EVERY_S = 5.0
#: Dead rows in ``jobs`` that make the look a vacuum.
MIN_DEAD_ROWS = 2_000

_log = logging.getLogger("pikku.postgres")


class JobsVacuum:
    """Started by :meth:`poke` (the queue calls it on each claim), one look at a time."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db
        self._next_at = 0.0
        self._task: asyncio.Task[None] | None = None
        self._stopped = False
        #: Vacuums run (for tests and the curious).
        self.vacuums = 0

    def poke(self) -> None:
        """Look at the dead rows in the background if EVERY_S has passed since the last look."""
        if self._stopped or (self._task is not None and not self._task.done()):
            return
        now = asyncio.get_running_loop().time()
        if now < self._next_at:
            return
        self._next_at = now + EVERY_S
        self._task = asyncio.ensure_future(self._look())

    async def _look(self) -> None:
        try:
            row = await self._db.fetchone(statements.DEAD_JOB_ROWS, {})
            if row is None or int(row["dead"]) < MIN_DEAD_ROWS:
                return
            await self._db.run(_vacuum)
            self.vacuums += 1
        except (psycopg.errors.InsufficientPrivilege, psycopg.errors.SyntaxError) as exc:
            self._stopped = True
            _log.info("pikku: not vacuuming the jobs table (%s); autovacuum keeps it", exc)
        except Exception as exc:  # a maintenance chore: the next look tries again, nothing else depends on it
            _log.debug("pikku: vacuuming the jobs table failed: %s", exc)

    async def stop(self) -> None:
        """Stop looking; a vacuum under way is awaited for at most 2 s (it hands its connection back)."""
        self._stopped = True
        if self._task is not None and not self._task.done():
            await asyncio.wait({self._task}, timeout=2.0)


async def _vacuum(conn: Conn) -> None:
    # A utility statement cannot be prepared (the executor prepares), and VACUUM cannot run in a
    # transaction: the pool's connections are autocommit, so psycopg's plain execute fits.
    await conn.execute("VACUUM (SKIP_LOCKED) jobs")
