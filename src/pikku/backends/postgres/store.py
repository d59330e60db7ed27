"""PostgreSQL state store.

Every transition is one conditional statement (an ``UPDATE ... WHERE <condition>``, with the attempt row
and the optional hand-off job written by CTEs of the same statement; ``create_run`` writes a run's first
job and ``insert_step`` a dispatched step's job the same way), so it is atomic and costs one round trip; a
lost race shows as zero rows. Only then is existence checked, to tell "missing" (raise) from "condition
false" (return False/None). Timestamps come from the database clock (see :mod:`pikku.backends.postgres.database`).
"""

from __future__ import annotations

import json
from typing import Any

import psycopg.errors

from pikku._errors import CorruptStateError, RunNotFoundError, StepNotFoundError
from pikku._records import (
    Enqueue,
    ErrorInfo,
    Job,
    NewStep,
    RunRecord,
    RunStatus,
    StepAttempt,
    StepRecord,
    attempt_of_done_insert,
    claim_owner,
)
from pikku.backends._wakeup import wakes
from pikku.backends.postgres.database import NOW, PgDatabase, claim_of, migrate

__all__ = ["PostgresStateStore", "migrate"]

_RUN_COLS = "run_id, workflow, status, input_json, output_json, error_json, created_at, updated_at"
#: A hand-off job's priority: the given one, else its due time (``{t}``: the statement's write time).
_PRIORITY = "coalesce(%(hpr)s::float8, {t} + %(hd)s)"
_RUN_WIDTH = len(_RUN_COLS.split(","))
_STEP_COLS = (
    "name, form, status, rpc_name, data_json, result_json, result_type, error_json, attempts, "
    "max_attempts, wake_at, lease_owner, lease_until, created_at, updated_at"
)


def _error_json(error: ErrorInfo | None) -> str | None:
    # ASCII-escaped JSON (here and for job payloads): text pikku encodes itself must always be storable,
    # even a message carrying a lone surrogate from surrogateescape-decoded bytes.
    return None if error is None else json.dumps(error.to_dict())


def _error(raw: str | None, where: str) -> ErrorInfo | None:
    if raw is None:
        return None
    try:
        return ErrorInfo.from_dict(json.loads(raw))
    except (ValueError, AttributeError) as exc:
        raise CorruptStateError(where, f"error is not a JSON object: {exc}") from exc


def _run(row: tuple[Any, ...]) -> RunRecord:
    return RunRecord(
        run_id=row[0],
        workflow=row[1],
        status=row[2],
        input_json=row[3],
        output_json=row[4],
        error=_error(row[5], f"runs[{row[0]!r}]"),
        created_at=row[6],
        updated_at=row[7],
    )


def _step(run_id: str, row: tuple[Any, ...]) -> StepRecord:
    return StepRecord(
        run_id=run_id,
        name=row[0],
        form=row[1],
        status=row[2],
        rpc_name=row[3],
        data_json=row[4],
        result_json=row[5],
        result_type=row[6],
        error=_error(row[7], f"steps[{run_id!r}, {row[0]!r}]"),
        attempts=row[8],
        max_attempts=row[9],
        wake_at=row[10],
        lease_owner=row[11],
        lease_until=row[12],
        created_at=row[13],
        updated_at=row[14],
    )


class _Sql:
    """Every statement, schema-qualified once per store (formatting never happens on the hot path)."""

    def __init__(self, db: PgDatabase) -> None:
        runs, steps = db.table("runs"), db.table("steps")
        att, jobs = db.table("step_attempts"), db.table("jobs")
        chan = db.cfg.channel.replace("'", "''")
        # With a lock owner the run is inserted holding its lock; without, %(ll)s is NULL and so is lock_until.
        create_run = (
            f"INSERT INTO {runs} (run_id, workflow, status, input_json, created_at, updated_at, lock_owner, "
            f"lock_until) VALUES (%(r)s, %(w)s, 'running', %(i)s, {NOW}, {NOW}, %(lo)s, {NOW} + %(ll)s::float8) "
            f"RETURNING {_RUN_COLS}"
        )
        self.create_run = create_run
        # The run and its first job (notified on commit) in one statement: a duplicate id aborts both.
        # (Each statement with a hand-off job has a quiet twin, without the notice, for a job delayed past
        # QUIET_DELAY_S: see pikku.backends._wakeup. `notice` is the FROM item that sends it.)
        notice = f", pg_notify('{chan}', j.queue)"
        self.create_run_handoff_quiet = (
            f"WITH c AS ({create_run}), j AS (INSERT INTO {jobs} (queue, payload, run_at, priority) "
            f"SELECT %(hq)s, %(hp)s, c.created_at + %(hd)s, {_PRIORITY.format(t='c.created_at')} "
            "FROM c RETURNING queue) "
            f"SELECT {_qualified('c', _RUN_COLS)} FROM c, j"
        )
        self.create_run_handoff = self.create_run_handoff_quiet + notice
        self.get_run = f"SELECT {_RUN_COLS} FROM {runs} WHERE run_id = %s"
        # list_runs by workflow (or unfiltered) merges one index-ordered slice per status: no extra index,
        # and each slice stops after `limit` rows however many runs exist.
        self.list_both = (
            f"SELECT {_RUN_COLS} FROM {runs} WHERE workflow = %(w)s AND status = %(s)s "
            "ORDER BY created_at DESC, seq DESC LIMIT %(n)s"
        )
        self.list_status = (
            f"SELECT {_RUN_COLS} FROM {runs} WHERE status = %(s)s ORDER BY created_at DESC, seq DESC LIMIT %(n)s"
        )
        self.list_workflow = self._merge(runs, "workflow = %(w)s AND ")
        self.list_all = self._merge(runs, "")
        # Paging (`before`): the same four, each slice starting after the anchor run's (created_at, seq).
        after = f"(created_at, seq) < (SELECT created_at, seq FROM {runs} WHERE run_id = %(b)s) AND "
        self.list_both_page = self.list_both.replace("WHERE ", f"WHERE {after}", 1)
        self.list_status_page = self.list_status.replace("WHERE ", f"WHERE {after}", 1)
        self.list_workflow_page = self._merge(runs, f"{after}workflow = %(w)s AND ")
        self.list_all_page = self._merge(runs, after)
        self.settle = (
            f"UPDATE {runs} SET status = %s, output_json = %s, error_json = %s, updated_at = {NOW}, "
            "lock_owner = NULL, lock_until = NULL WHERE run_id = %s AND status = 'running'"
        )
        self.run_exists = f"SELECT 1 FROM {runs} WHERE run_id = %s"
        self.acquire_lock = (
            f"UPDATE {runs} SET lock_owner = %(o)s, lock_until = {NOW} + %(l)s WHERE run_id = %(r)s "
            f"AND (lock_owner IS NULL OR lock_owner = %(o)s OR lock_until <= {NOW})"
        )
        # lock_run: the conditional lock (as acquire_lock, and only while the run is running) and the run
        # joined with its steps, in one statement. Each row: the run's columns, whether the lock was taken,
        # one step's columns (NULL without the lock, or without steps); no row at all means no run. Run and
        # steps are read from the statement's snapshot: only a settle changes a run's columns, and a settle
        # committing while the UPDATE waits for the row makes the lock fail.
        self.lock_run = (
            f"WITH l AS (UPDATE {runs} SET lock_owner = %(o)s, lock_until = {NOW} + %(l)s "
            "WHERE run_id = %(r)s AND status = 'running' "
            f"AND (lock_owner IS NULL OR lock_owner = %(o)s OR lock_until <= {NOW}) RETURNING run_id) "
            f"SELECT {_qualified('r', _RUN_COLS)}, EXISTS (SELECT 1 FROM l), {_qualified('s', _STEP_COLS)} "
            f"FROM {runs} r "
            f"LEFT JOIN {steps} s ON s.run_id = r.run_id AND EXISTS (SELECT 1 FROM l) "
            "WHERE r.run_id = %(r)s ORDER BY s.seq"
        )
        self.renew_lock = f"UPDATE {runs} SET lock_until = {NOW} + %(l)s WHERE run_id = %(r)s AND lock_owner = %(o)s"
        self.release_lock = (
            f"UPDATE {runs} SET lock_owner = NULL, lock_until = NULL WHERE run_id = %(r)s AND lock_owner = %(o)s"
        )
        # The acknowledgement of the job a worker processed (`ack=`), as the queue's ack does it: only while
        # that claim holds it. A data-modifying CTE always runs, whether or not the rest matched.
        ack = (
            f"k AS (DELETE FROM {jobs} WHERE id = %(kid)s AND owner = %(ko)s AND attempts = %(ka)s "
            "AND locked_until IS NOT NULL)"
        )
        self.release_lock_ack = f"WITH {ack} {self.release_lock}"
        # LEFT JOIN from the run: no row means no run, a NULL step means no (such) step. One round trip.
        self.get_steps = (
            f"SELECT {_qualified('s', _STEP_COLS)} FROM {runs} r LEFT JOIN {steps} s ON s.run_id = r.run_id "
            "WHERE r.run_id = %s ORDER BY s.seq"
        )
        self.get_step = (
            f"SELECT {_qualified('s', _STEP_COLS)} FROM {runs} r "
            f"LEFT JOIN {steps} s ON s.run_id = r.run_id AND s.name = %s WHERE r.run_id = %s"
        )
        self.step_exists = (
            f"SELECT EXISTS (SELECT 1 FROM {runs} WHERE run_id = %(r)s), "
            f"EXISTS (SELECT 1 FROM {steps} WHERE run_id = %(r)s AND name = %(n)s)"
        )
        # Insert-or-read in one statement; the FK on run_id turns a missing run into an error. A step
        # inserted already done (an inline step) counts as one finished attempt, with no attempt row: it
        # is read back from the step itself (see get_attempts), one row and one FK check fewer per step.
        # One inserted running is claimed by %(lo)s (a step the engine runs itself): one open attempt
        # under that lease, just what claim_step would leave. Like claim_step, that needs a running run
        # (`k`; the EXISTS is evaluated only for a claim): for a settled one the step goes in pending.
        insert_step = (
            "WITH k AS (SELECT CASE WHEN %(lo)s::text IS NULL THEN %(s)s::text "
            f"WHEN EXISTS (SELECT 1 FROM {runs} WHERE run_id = %(r)s AND status = 'running') THEN %(s)s::text "
            "ELSE 'pending' END AS status), "
            f"ins AS (INSERT INTO {steps} (run_id, name, form, status, rpc_name, data_json, result_json, "
            "result_type, attempts, max_attempts, wake_at, lease_owner, lease_until, created_at, updated_at) "
            "SELECT %(r)s, %(n)s, %(f)s, k.status, %(rpc)s, %(d)s, %(res)s, %(rt)s, "
            "CASE WHEN k.status IN ('done', 'running') THEN 1 ELSE 0 END, %(m)s::integer, %(w)s::float8, "
            "CASE WHEN k.status = 'running' THEN %(lo)s::text END, "
            f"CASE WHEN k.status = 'running' THEN {NOW} + %(ls)s::float8 END, {NOW}, {NOW} FROM k "
            f"ON CONFLICT (run_id, name) DO NOTHING RETURNING {_STEP_COLS}), "
            f"a AS (INSERT INTO {att} (run_id, name, attempt, started_at, ended_at) "
            "SELECT %(r)s, name, 1, created_at, NULL FROM ins WHERE status = 'running')"
        )
        read_existing = (
            f"SELECT {_STEP_COLS} FROM {steps} WHERE run_id = %(r)s AND name = %(n)s AND NOT EXISTS (SELECT 1 FROM ins)"
        )
        self.insert_step = f"{insert_step} SELECT {_STEP_COLS} FROM ins UNION ALL {read_existing}"
        # An unclaimed step with no job (an inline step inserted done, a sleep, a failed first attempt): a
        # plain insert, measurably cheaper for the server than the CTE above; no row back means the step
        # already exists, and the caller reads it.
        self.insert_plain_step = (
            f"INSERT INTO {steps} (run_id, name, form, status, rpc_name, data_json, result_json, result_type, "
            "attempts, max_attempts, wake_at, created_at, updated_at) "
            "VALUES (%(r)s, %(n)s, %(f)s, %(s)s, %(rpc)s, %(d)s, %(res)s, %(rt)s, %(a)s::integer, %(m)s::integer, "
            f"%(w)s::float8, {NOW}, {NOW}) ON CONFLICT (run_id, name) DO NOTHING RETURNING {_STEP_COLS}"
        )
        # Dispatch: the step and its job (notified on commit) in one statement. The job is selected from
        # `ins`, so a step that already existed enqueues nothing.
        dispatch = (
            f"{insert_step}, j AS (INSERT INTO {jobs} (queue, payload, run_at, priority) "
            f"SELECT %(hq)s, %(hp)s, ins.created_at + %(hd)s, {_PRIORITY.format(t='ins.created_at')} "
            "FROM ins RETURNING queue) "
            f"SELECT {_qualified('ins', _STEP_COLS)} FROM ins, j<notice> UNION ALL {read_existing}"
        )
        self.insert_step_handoff = dispatch.replace("<notice>", notice)
        self.insert_step_handoff_quiet = dispatch.replace("<notice>", "")
        self.mark_scheduled = (
            f"UPDATE {steps} SET status = 'scheduled', updated_at = {NOW} "
            "WHERE run_id = %s AND name = %s AND status = 'pending'"
        )
        # A claim matches only while the run is still running: a settled run's steps are never claimed.
        self.claim = (
            f"WITH c AS (UPDATE {steps} SET status = 'running', attempts = attempts + 1, "
            f"lease_owner = %(o)s, lease_until = {NOW} + %(l)s, updated_at = {NOW} "
            "WHERE run_id = %(r)s AND name = %(n)s AND (status IN ('pending', 'scheduled') "
            f"OR (status = 'running' AND coalesce(lease_until, 0) <= {NOW})) "
            f"AND EXISTS (SELECT 1 FROM {runs} WHERE run_id = %(r)s AND status = 'running') "
            f"RETURNING {_STEP_COLS}), "
            f"a AS (INSERT INTO {att} (run_id, name, attempt, started_at) "
            "SELECT %(r)s, name, attempts, updated_at FROM c) "
            f"SELECT {_STEP_COLS} FROM c"
        )
        # Settle a step (done, failed or back to scheduled), end its open attempt, optionally enqueue the
        # hand-off job and notify its listeners: all one statement, so one transaction.
        settle_step = (
            f"WITH u AS (UPDATE {steps} SET status = %(s)s, result_json = coalesce(%(res)s, result_json), "
            "result_type = CASE WHEN %(s)s = 'done' THEN %(rt)s ELSE result_type END, "
            "wake_at = coalesce(%(wake)s::float8, wake_at), error_json = %(e)s, "
            f"lease_owner = NULL, lease_until = NULL, updated_at = {NOW} "
            "WHERE run_id = %(r)s AND name = %(n)s AND status NOT IN ('done', 'failed') "
            # With an owner (a worker settling its own claim): only while running under that claim.
            "AND (%(own)s::text IS NULL OR (status = 'running' AND lease_owner = %(own)s::text)) "
            "RETURNING run_id, name, attempts, updated_at), "
            f"a AS (UPDATE {att} AS a SET ended_at = u.updated_at, error_json = %(e)s FROM u "
            "WHERE a.run_id = u.run_id AND a.name = u.name AND a.attempt = u.attempts AND a.ended_at IS NULL)"
        )
        # settle_step[(with ack, hand-off: "" none / "loud" notified / "quiet")]
        self.settle_step: dict[tuple[bool, str], str] = {}
        for acked, ctes in ((False, settle_step), (True, f"{settle_step}, {ack}")):
            handoff = (
                f"{ctes}, j AS (INSERT INTO {jobs} (queue, payload, run_at, priority) "
                f"SELECT %(hq)s, %(hp)s, u.updated_at + %(hd)s, {_PRIORITY.format(t='u.updated_at')} "
                "FROM u RETURNING queue) "
            )
            self.settle_step[acked, ""] = f"{ctes} SELECT count(*) FROM u"
            self.settle_step[acked, "loud"] = (
                f"{handoff}SELECT (SELECT count(*) FROM u), (SELECT count(pg_notify('{chan}', queue)) FROM j)"
            )
            self.settle_step[acked, "quiet"] = f"{handoff}SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM j)"
        # Only the owner of a running step extends its lease (even one that expired, while nobody took
        # over); lease_until is not indexed, so this is a HOT update.
        self.renew_step_lease = (
            f"UPDATE {steps} SET lease_until = {NOW} + %(l)s "
            "WHERE run_id = %(r)s AND name = %(n)s AND status = 'running' AND lease_owner = %(o)s"
        )
        self.get_attempts = (
            f"SELECT attempt, started_at, ended_at, error_json FROM {att} "
            "WHERE run_id = %s AND name = %s ORDER BY attempt"
        )

    @staticmethod
    def _merge(runs: str, where: str) -> str:
        slices = " UNION ALL ".join(
            f"(SELECT {_RUN_COLS}, seq FROM {runs} WHERE {where}status = '{status}' "
            "ORDER BY created_at DESC, seq DESC LIMIT %(n)s)"
            for status in ("running", "completed", "failed", "cancelled")
        )
        return f"SELECT {_RUN_COLS} FROM ({slices}) AS m ORDER BY created_at DESC, seq DESC LIMIT %(n)s"


def _qualified(alias: str, cols: str) -> str:
    return ", ".join(f"{alias}.{c.strip()}" for c in cols.split(","))


class PostgresStateStore:
    """A :class:`~pikku.backends.StateStore` on PostgreSQL."""

    def __init__(self, db: PgDatabase, *, handoff: bool = False) -> None:
        self._db = db.acquire()
        self._sql = _Sql(db)
        self._closed = False
        self.supports_handoff = handoff
        self.supports_ack = handoff  # jobs live in the same database

    # -- runs
    async def create_run(
        self,
        run_id: str,
        workflow: str,
        input_json: str,
        *,
        handoff: Enqueue | None = None,
        lock_owner: str | None = None,
        lock_lease: float = 0.0,
    ) -> RunRecord:
        params: dict[str, Any] = {
            "r": run_id,
            "w": workflow,
            "i": input_json,
            "lo": lock_owner,
            "ll": None if lock_owner is None else lock_lease,
        }
        query = self._sql.create_run
        if handoff is not None:
            query = self._sql.create_run_handoff if wakes(handoff.delay) else self._sql.create_run_handoff_quiet
            params |= self._handoff_params(handoff)
        try:
            row = await self._db.fetchone(query, params)
        except psycopg.errors.UniqueViolation:
            raise ValueError(f"run {run_id!r} already exists") from None
        assert row is not None
        return _run(row)

    async def get_run(self, run_id: str) -> RunRecord:
        row = await self._db.fetchone(self._sql.get_run, (run_id,))
        if row is None:
            raise RunNotFoundError(run_id)
        return _run(row)

    async def list_runs(
        self,
        *,
        workflow: str | None = None,
        status: RunStatus | None = None,
        limit: int = 100,
        before: str | None = None,
    ) -> list[RunRecord]:
        if limit <= 0:
            return []
        params = {"w": workflow, "s": status, "n": limit, "b": before}
        if workflow is not None and status is not None:
            query = self._sql.list_both_page if before else self._sql.list_both
        elif status is not None:
            query = self._sql.list_status_page if before else self._sql.list_status
        elif workflow is not None:
            query = self._sql.list_workflow_page if before else self._sql.list_workflow
        else:
            query = self._sql.list_all_page if before else self._sql.list_all
        if before is not None:
            await self._require_run(before)
        return [_run(row) for row in await self._db.fetchall(query, params)]

    async def _settle(self, run_id: str, status: str, output: str | None, error: ErrorInfo | None) -> bool:
        params = (status, output, _error_json(error), run_id)
        if await self._db.rowcount(self._sql.settle, params):
            return True
        await self._require_run(run_id)
        return False

    async def complete_run(self, run_id: str, output_json: str) -> bool:
        return await self._settle(run_id, "completed", output_json, None)

    async def fail_run(self, run_id: str, error: ErrorInfo) -> bool:
        return await self._settle(run_id, "failed", None, error)

    async def cancel_run(self, run_id: str) -> bool:
        return await self._settle(run_id, "cancelled", None, None)

    async def _require_run(self, run_id: str) -> None:
        if await self._db.fetchone(self._sql.run_exists, (run_id,)) is None:
            raise RunNotFoundError(run_id)

    async def _require_step(self, run_id: str, name: str) -> None:
        row = await self._db.fetchone(self._sql.step_exists, {"r": run_id, "n": name})
        if not row or not row[0]:
            raise RunNotFoundError(run_id)
        if not row[1]:
            raise StepNotFoundError(run_id, name)

    # -- lock
    async def acquire_run_lock(self, run_id: str, owner: str, lease_s: float) -> bool:
        params = {"r": run_id, "o": owner, "l": float(lease_s)}
        if await self._db.rowcount(self._sql.acquire_lock, params):
            return True
        await self._require_run(run_id)
        return False

    async def lock_run(self, run_id: str, owner: str, lease_s: float) -> tuple[RunRecord, dict[str, StepRecord] | None]:
        """One statement: the lock taken (when free) and the run joined with its steps."""
        params = {"r": run_id, "o": owner, "l": float(lease_s)}
        rows = await self._db.fetchall(self._sql.lock_run, params)
        if not rows:
            raise RunNotFoundError(run_id)
        run = _run(rows[0])
        if not rows[0][_RUN_WIDTH]:  # settled, or another owner's live lock
            return run, None
        steps = (row[_RUN_WIDTH + 1 :] for row in rows)
        return run, {step[0]: _step(run_id, step) for step in steps if step[0] is not None}

    async def renew_run_lock(self, run_id: str, owner: str, lease_s: float) -> bool:
        params = {"r": run_id, "o": owner, "l": float(lease_s)}
        if await self._db.rowcount(self._sql.renew_lock, params):
            return True
        await self._require_run(run_id)
        return False

    async def release_run_lock(self, run_id: str, owner: str, *, ack: Job | None = None) -> None:
        params = {"r": run_id, "o": owner}
        if ack is None:
            await self._db.rowcount(self._sql.release_lock, params)
        else:
            await self._db.rowcount(self._sql.release_lock_ack, params | self._ack_params(ack))

    # -- steps
    async def get_steps(self, run_id: str) -> dict[str, StepRecord]:
        rows = await self._db.fetchall(self._sql.get_steps, (run_id,))
        if not rows:
            raise RunNotFoundError(run_id)
        return {row[0]: _step(run_id, row) for row in rows if row[0] is not None}

    async def get_step(self, run_id: str, name: str) -> StepRecord:
        row = await self._db.fetchone(self._sql.get_step, (name, run_id))
        if row is None:
            raise RunNotFoundError(run_id)
        if row[0] is None:
            raise StepNotFoundError(run_id, name)
        return _step(run_id, row)

    async def insert_step(self, step: NewStep, *, handoff: Enqueue | None = None) -> StepRecord:
        owner = claim_owner(step)
        params: dict[str, Any] = {
            "r": step.run_id,
            "n": step.name,
            "f": step.form,
            "s": step.status,
            "rpc": step.rpc_name,
            "d": step.data_json,
            "res": step.result_json,
            "rt": step.result_type,
            "m": step.max_attempts,
            "w": step.wake_at,
            "lo": owner,
            "ls": None if owner is None else float(step.lease_s),
            "a": 1 if step.status == "done" else 0,  # (the plain insert's attempts)
        }
        if handoff is not None:
            query = self._sql.insert_step_handoff if wakes(handoff.delay) else self._sql.insert_step_handoff_quiet
            params |= self._handoff_params(handoff)
        else:
            query = self._sql.insert_step if owner is not None else self._sql.insert_plain_step
        try:
            row = await self._db.fetchone(query, params)
        except psycopg.errors.ForeignKeyViolation:
            raise RunNotFoundError(step.run_id) from None
        if row is None:
            # It exists already (the plain insert), or a concurrent insert committed after the CTE's
            # snapshot: either way it is there now.
            return await self.get_step(step.run_id, step.name)
        return _step(step.run_id, row)

    async def mark_step_scheduled(self, run_id: str, name: str) -> bool:
        if await self._db.rowcount(self._sql.mark_scheduled, (run_id, name)):
            return True
        await self._require_step(run_id, name)
        return False

    async def claim_step(self, run_id: str, name: str, owner: str, lease_s: float) -> StepRecord | None:
        params = {"r": run_id, "n": name, "o": owner, "l": float(lease_s)}
        row = await self._db.fetchone(self._sql.claim, params)
        if row is not None:
            return _step(run_id, row)
        await self._require_step(run_id, name)
        return None

    async def renew_step_lease(self, run_id: str, name: str, owner: str, lease_s: float) -> bool:
        params = {"r": run_id, "n": name, "o": owner, "l": float(lease_s)}
        if await self._db.rowcount(self._sql.renew_step_lease, params):
            return True
        await self._require_step(run_id, name)
        return False

    def _handoff_params(self, handoff: Enqueue) -> dict[str, Any]:
        """The hand-off job's parameters; TypeError (before anything is written) without a co-located queue."""
        if not self.supports_handoff:
            raise TypeError("this store has no co-located queue; enqueue the handoff separately")
        priority = None if handoff.priority is None else float(handoff.priority)
        return {"hq": handoff.queue, "hp": json.dumps(handoff.payload), "hd": float(handoff.delay), "hpr": priority}

    def _ack_params(self, job: Job) -> dict[str, Any]:
        """The acknowledged job's claim; TypeError (before anything is written) without a co-located queue."""
        if not self.supports_ack:
            raise TypeError("this store has no co-located queue; ack the job on its queue")
        claim = claim_of(job)
        # A job not claimed from this queue matches no row: nothing is acknowledged, as the queue's ack.
        return {"kid": claim[0] if claim else None, "ko": job.owner, "ka": claim[1] if claim else None}

    async def _settle_step(self, params: dict[str, Any], handoff: Enqueue | None, ack: Job | None) -> bool:
        kind = ""
        if handoff is not None:
            params |= self._handoff_params(handoff)
            kind = "loud" if wakes(handoff.delay) else "quiet"
        if ack is not None:
            params |= self._ack_params(ack)
        row = await self._db.fetchone(self._sql.settle_step[ack is not None, kind], params)
        if row and row[0]:
            return True
        await self._require_step(params["r"], params["n"])
        return False

    async def complete_step(
        self,
        run_id: str,
        name: str,
        result_json: str,
        *,
        result_type: str | None = None,
        handoff: Enqueue | None = None,
        owner: str | None = None,
        ack: Job | None = None,
    ) -> bool:
        params: dict[str, Any] = {
            "r": run_id,
            "n": name,
            "own": owner,
            "s": "done",
            "res": result_json,
            "rt": result_type,
            "wake": None,
            "e": None,
        }
        return await self._settle_step(params, handoff, ack)

    async def fail_step(
        self,
        run_id: str,
        name: str,
        error: ErrorInfo,
        *,
        retry_at: float | None = None,
        handoff: Enqueue | None = None,
        owner: str | None = None,
        ack: Job | None = None,
    ) -> bool:
        params: dict[str, Any] = {
            "r": run_id,
            "n": name,
            "own": owner,
            "s": "failed" if retry_at is None else "scheduled",
            "res": None,
            "rt": None,
            "wake": retry_at,
            "e": _error_json(error),
        }
        return await self._settle_step(params, handoff, ack)

    async def get_attempts(self, run_id: str, name: str) -> list[StepAttempt]:
        rows = await self._db.fetchall(self._sql.get_attempts, (run_id, name))
        if not rows:
            return attempt_of_done_insert(await self.get_step(run_id, name))
        where = f"step_attempts[{run_id!r}, {name!r}]"
        return [StepAttempt(r[0], r[1], r[2], _error(r[3], where)) for r in rows]

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self._db.release()
