"""Every SQL statement of the SQLite backend, one named constant each, with named parameters (``:run_id``),
and the shapes of the rows they return.

Statements are complete texts: none is assembled from pieces or from configuration at run time. Rows are
read by column name: each comes back as the named tuple given with the statement (``RunRow``,
``StepRow``, ...), whose field names the database checks against the statement's own column names on its
first use (:meth:`pikku.backends.sqlite.database.Database.rows`), so a column list and its shape cannot
drift apart unnoticed. Named tuples rather than :class:`sqlite3.Row`: reading a field is an attribute
access instead of a scan of the column names, a few microseconds per step on the hot path. The schema
itself is in ``migrations/*.sql``.
"""

from __future__ import annotations

from typing import NamedTuple

from pikku._records import RunStatus, StepForm, StepStatus

# -- row shapes ---------------------------------------------------------------------------------------


class Found(NamedTuple):
    """``SELECT 1 AS found``: the row exists."""

    found: int


class Version(NamedTuple):
    version: int | None


class Count(NamedTuple):
    n: int


class Status(NamedTuple):
    status: str


class StatusCount(NamedTuple):
    status: str
    n: int


class Id(NamedTuple):
    id: int


class Attempts(NamedTuple):
    """A step's attempt count after a transition (the number of its open attempt)."""

    attempts: int


class RunPosition(NamedTuple):
    """Where a run stands in the newest-first order of ``list_runs``."""

    created_at: float
    seq: int


class RunRow(NamedTuple):
    run_id: str
    workflow: str
    status: RunStatus
    input_json: str
    output_json: str | None
    error_json: str | None
    created_at: float
    updated_at: float
    parent_run_id: str | None
    forked_from: str | None
    cancel_reason: str | None
    resumes: int


class StepRow(NamedTuple):
    """A step; every field None in ``RUN_WITH_STEPS``'s row for a run without steps."""

    run_id: str
    name: str
    form: StepForm
    status: StepStatus
    rpc_name: str | None
    data_json: str | None
    result_json: str | None
    result_type: str | None
    error_json: str | None
    attempts: int
    max_attempts: int
    wake_at: float | None
    lease_owner: str | None
    lease_until: float | None
    created_at: float
    updated_at: float


class AttemptRow(NamedTuple):
    attempt: int
    started_at: float
    ended_at: float | None
    error_json: str | None


class RunAttemptRow(NamedTuple):
    """One attempt of one step of a run (``RUN_ATTEMPTS``): a step without attempt rows has one row whose
    attempt columns are None; a run without steps, one row whose columns are all None."""

    name: str | None
    form: StepForm
    status: StepStatus
    attempts: int
    created_at: float
    attempt: int | None
    started_at: float
    ended_at: float | None
    error_json: str | None


class RunToDelete(NamedTuple):
    """A run ``delete_runs`` may delete, and its place in the oldest-change-first order."""

    run_id: str
    updated_at: float
    seq: int


class EventRow(NamedTuple):
    run_id: str
    seq: int
    name: str
    payload_json: str
    event_id: str | None
    created_at: float
    consumed_by: str | None


class WaitingEvent(NamedTuple):
    """The oldest event of a name that no step has taken yet."""

    seq: int
    payload_json: str


class ScheduleRow(NamedTuple):
    name: str
    last_tick: float | None
    last_run_id: str | None
    paused: int


class JobRow(NamedTuple):
    id: int
    queue: str
    payload_json: str
    attempts: int
    run_at: float
    lease_until: float | None
    owner: str | None
    priority: float


class DeadJobRow(NamedTuple):
    id: int
    queue: str
    payload_json: str
    attempts: int
    reason: str
    died_at: float


class RetriedJobRow(NamedTuple):
    """What a retried dead job is enqueued with again."""

    queue: str
    payload_json: str
    key: str | None


# -- schema -------------------------------------------------------------------------------------------

PRAGMA_JOURNAL_MODE = "PRAGMA journal_mode = WAL"
PRAGMA_SYNCHRONOUS = "PRAGMA synchronous = NORMAL"
#: Keep in step with ``database.AUTOCHECKPOINT_PAGES`` (tests/backends/test_sqlite_checkpoint.py reads it back).
PRAGMA_WAL_AUTOCHECKPOINT = "PRAGMA wal_autocheckpoint = 10000"
PRAGMA_WAL_CHECKPOINT = "PRAGMA wal_checkpoint(PASSIVE)"

SCHEMA_VERSION = "SELECT MAX(version) AS version FROM schema_version"
INSERT_SCHEMA_VERSION = "INSERT INTO schema_version (version) VALUES (:version)"
UPDATE_SCHEMA_VERSION = "UPDATE schema_version SET version = :version"

# -- runs ---------------------------------------------------------------------------------------------

# The lock (if any) is written by the INSERT itself: an inline run's driver needs no separate acquire.
INSERT_RUN = """
INSERT INTO runs (run_id, workflow, status, input_json, created_at, updated_at, lock_owner, lock_until,
    parent_run_id, forked_from)
VALUES (:run_id, :workflow, 'running', :input_json, :now, :now, :lock_owner, :lock_until, :parent_run_id,
    :forked_from)
"""

GET_RUN = """
SELECT run_id, workflow, status, input_json, output_json, error_json, created_at, updated_at,
    parent_run_id, forked_from, cancel_reason, resumes
FROM runs WHERE run_id = :run_id
"""
RUN_EXISTS = "SELECT 1 AS found FROM runs WHERE run_id = :run_id"
RUN_STATUS = "SELECT status FROM runs WHERE run_id = :run_id"

#: Where a page of ``list_runs`` starts: runs ordered before this (created_at, rowid) pair come next.
RUN_POSITION = "SELECT created_at, rowid AS seq FROM runs WHERE run_id = :run_id"

# The four listings differ only in their filter; each keeps its own index usable: (status, created_at),
# (workflow, status, created_at) or (created_at), walked newest first from the page's start position.
#: Runs by status, from the runs_by_status index (a covering scan, no table rows read).
COUNT_RUNS = "SELECT status, count(*) AS n FROM runs GROUP BY status"

LIST_RUNS = """
SELECT run_id, workflow, status, input_json, output_json, error_json, created_at, updated_at,
    parent_run_id, forked_from, cancel_reason, resumes FROM runs
WHERE (created_at, rowid) < (:before_created, :before_seq)
ORDER BY created_at DESC, rowid DESC LIMIT :limit
"""
LIST_RUNS_OF_WORKFLOW = """
SELECT run_id, workflow, status, input_json, output_json, error_json, created_at, updated_at,
    parent_run_id, forked_from, cancel_reason, resumes FROM runs
WHERE workflow = :workflow AND (created_at, rowid) < (:before_created, :before_seq)
ORDER BY created_at DESC, rowid DESC LIMIT :limit
"""
LIST_RUNS_WITH_STATUS = """
SELECT run_id, workflow, status, input_json, output_json, error_json, created_at, updated_at,
    parent_run_id, forked_from, cancel_reason, resumes FROM runs
WHERE status = :status AND (created_at, rowid) < (:before_created, :before_seq)
ORDER BY created_at DESC, rowid DESC LIMIT :limit
"""
LIST_RUNS_OF_WORKFLOW_WITH_STATUS = """
SELECT run_id, workflow, status, input_json, output_json, error_json, created_at, updated_at,
    parent_run_id, forked_from, cancel_reason, resumes FROM runs
WHERE workflow = :workflow AND status = :status AND (created_at, rowid) < (:before_created, :before_seq)
ORDER BY created_at DESC, rowid DESC LIMIT :limit
"""

# A settled run needs no lock: settling clears it, whoever holds it. Any unsettled run settles (running,
# waiting, suspended).
SETTLE_RUN = """
UPDATE runs SET status = :status, output_json = :output_json, error_json = :error_json, updated_at = :now,
    cancel_reason = :cancel_reason, lock_owner = NULL, lock_until = NULL
WHERE run_id = :run_id AND status NOT IN ('completed', 'failed', 'cancelled')
"""

# suspend_run: the run first (its condition decides), then, in the same transaction, the suspend step (done).
SUSPEND_RUN = """
UPDATE runs SET status = 'suspended', updated_at = :now
WHERE run_id = :run_id AND status IN ('running', 'waiting')
    AND NOT EXISTS (SELECT 1 FROM steps WHERE run_id = :run_id AND name = :name)
"""

# list_children: a parent's children in creation order, read off the partial index runs_by_parent.
LIST_CHILDREN = """
SELECT run_id, workflow, status, input_json, output_json, error_json, created_at, updated_at,
    parent_run_id, forked_from, cancel_reason, resumes
FROM runs WHERE parent_run_id = :run_id ORDER BY created_at, rowid
"""

ACQUIRE_RUN_LOCK = """
UPDATE runs SET lock_owner = :owner, lock_until = :lock_until
WHERE run_id = :run_id AND (lock_owner IS NULL OR lock_owner = :owner OR lock_until <= :now)
"""


# lock_run: the lock taken as ACQUIRE_RUN_LOCK does, but only on a running or waiting run (a waiting one is
# running again from here), returning the run.
def _lock_run(reentrant: bool) -> str:
    """Take the lock of a running or waiting run (left running) when it is free or expired, and with
    ``reentrant`` when its owner holds it too; the run comes back."""
    ours = "lock_owner = :owner OR " if reentrant else ""
    return f"""
UPDATE runs SET lock_owner = :owner, lock_until = :lock_until, status = 'running'
WHERE run_id = :run_id AND status IN ('running', 'waiting')
    AND (lock_owner IS NULL OR {ours}lock_until <= :now)
RETURNING run_id, workflow, status, input_json, output_json, error_json, created_at, updated_at,
    parent_run_id, forked_from, cancel_reason, resumes
"""


LOCK_RUNNING_RUN = _lock_run(reentrant=True)
#: A settle that takes its hand-off locks the run only when nobody holds it, not even its owner, whose
#: pass is still running then.
LOCK_FREE_RUN = _lock_run(reentrant=False)

RENEW_RUN_LOCK = "UPDATE runs SET lock_until = :lock_until WHERE run_id = :run_id AND lock_owner = :owner"
# With :waiting (a pass that paused with nothing to do but wait) a running run is left waiting.
RELEASE_RUN_LOCK = """
UPDATE runs SET lock_owner = NULL, lock_until = NULL,
    status = CASE WHEN :waiting AND status = 'running' THEN 'waiting' ELSE status END
WHERE run_id = :run_id AND lock_owner = :owner
"""

# -- steps --------------------------------------------------------------------------------------------

STEP_EXISTS = "SELECT 1 AS found FROM steps WHERE run_id = :run_id AND name = :name"
GET_STEP = """
SELECT run_id, name, form, status, rpc_name, data_json, result_json, result_type, error_json,
    attempts, max_attempts, wake_at, lease_owner, lease_until, created_at, updated_at
FROM steps WHERE run_id = :run_id AND name = :name
"""
STEPS_OF_RUN = """
SELECT run_id, name, form, status, rpc_name, data_json, result_json, result_type, error_json,
    attempts, max_attempts, wake_at, lease_owner, lease_until, created_at, updated_at
FROM steps WHERE run_id = :run_id ORDER BY rowid
"""

COUNT_STEPS_OF_RUN = "SELECT count(*) AS n FROM steps WHERE run_id = :run_id"

# One query for get_steps: the run row is joined so that "no such run" (no row) and "no steps yet" (one
# row whose step columns are NULL) differ.
RUN_WITH_STEPS = """
SELECT s.run_id, s.name, s.form, s.status, s.rpc_name, s.data_json, s.result_json, s.result_type,
    s.error_json, s.attempts, s.max_attempts, s.wake_at, s.lease_owner, s.lease_until, s.created_at,
    s.updated_at
FROM runs r LEFT JOIN steps s ON s.run_id = r.run_id WHERE r.run_id = :run_id ORDER BY s.rowid
"""

# Insert-if-absent of a step whose run exists; RETURNING nothing when it existed (or the run does not).
INSERT_STEP = """
INSERT INTO steps (run_id, name, form, status, rpc_name, data_json, result_json, result_type, attempts,
    max_attempts, wake_at, lease_owner, lease_until, created_at, updated_at)
SELECT :run_id, :name, :form, :status, :rpc_name, :data_json, :result_json, :result_type, :attempts,
    :max_attempts, :wake_at, :lease_owner, :lease_until, :now, :now
WHERE EXISTS (SELECT 1 FROM runs WHERE run_id = :run_id)
ON CONFLICT (run_id, name) DO NOTHING
RETURNING run_id, name, form, status, rpc_name, data_json, result_json, result_type, error_json,
    attempts, max_attempts, wake_at, lease_owner, lease_until, created_at, updated_at
"""

MARK_STEP_SCHEDULED = """
UPDATE steps SET status = 'scheduled', updated_at = :now
WHERE run_id = :run_id AND name = :name AND status = 'pending'
"""

# Claimable: pending or scheduled, or running under an expired lease, of a run that is not settled; with
# a :form (a queue job claims only rpc steps), only a step of that form.
CLAIM_STEP = """
UPDATE steps SET status = 'running', lease_owner = :owner, lease_until = :lease_until,
    attempts = attempts + 1, updated_at = :now
WHERE run_id = :run_id AND name = :name AND (:form IS NULL OR form = :form)
    AND (status IN ('pending', 'scheduled') OR (status = 'running' AND COALESCE(lease_until, 0) <= :now))
    AND EXISTS (SELECT 1 FROM runs WHERE run_id = :run_id AND status NOT IN ('completed', 'failed', 'cancelled'))
RETURNING run_id, name, form, status, rpc_name, data_json, result_json, result_type, error_json,
    attempts, max_attempts, wake_at, lease_owner, lease_until, created_at, updated_at
"""

RENEW_STEP_LEASE = """
UPDATE steps SET lease_until = :lease_until
WHERE run_id = :run_id AND name = :name AND status = 'running' AND lease_owner = :owner
"""

# Complete and fail move an open step on. With an :owner (a worker finishing what it claimed) they match
# only a step still running under that owner's claim; with NULL, any open step.
COMPLETE_STEP = """
UPDATE steps SET status = 'done', result_json = :result_json, result_type = :result_type, error_json = NULL,
    lease_owner = NULL, lease_until = NULL, updated_at = :now
WHERE run_id = :run_id AND name = :name AND status NOT IN ('done', 'failed')
    AND (:owner IS NULL OR (status = 'running' AND lease_owner = :owner))
RETURNING attempts
"""

# :status is 'scheduled' with a :retry_at (the step's wake_at), else 'failed' (wake_at kept).
FAIL_STEP = """
UPDATE steps SET status = :status, wake_at = COALESCE(:retry_at, wake_at), error_json = :error_json,
    lease_owner = NULL, lease_until = NULL, updated_at = :now
WHERE run_id = :run_id AND name = :name AND status NOT IN ('done', 'failed')
    AND (:owner IS NULL OR (status = 'running' AND lease_owner = :owner))
RETURNING attempts
"""

# -- operating runs -----------------------------------------------------------------------------------

# resume_run: the run first (its condition decides), then, in the same transaction, its failed steps: each
# pending again with a fresh budget of as many attempts as it had, its attempt rows kept.
RESUME_RUN = """
UPDATE runs SET status = 'running', error_json = NULL, cancel_reason = NULL, resumes = resumes + 1,
    updated_at = :now
WHERE run_id = :run_id AND status IN ('failed', 'cancelled', 'suspended')
"""
RESUME_FAILED_STEPS = """
UPDATE steps SET status = 'pending', error_json = NULL, lease_owner = NULL, lease_until = NULL,
    max_attempts = attempts + max_attempts, updated_at = :now
WHERE run_id = :run_id AND status = 'failed'
"""

# delete_runs: for each status asked for, its oldest runs (walked in order along runs_settled_by_update:
# `status <> 'running'` is that partial index's own condition; with the next test it keeps every unsettled
# run out whatever :status says); the oldest of them all are then deleted with their attempts, events and
# steps, in the same transaction. :run_ids is a JSON array.
RUNS_TO_DELETE_WITH_STATUS = """
SELECT run_id, updated_at, rowid AS seq FROM runs
WHERE status <> 'running' AND status NOT IN ('waiting', 'suspended') AND status = :status AND updated_at < :before
ORDER BY updated_at, rowid LIMIT :limit
"""
DELETE_EVENTS_OF_RUNS = "DELETE FROM events WHERE run_id IN (SELECT value FROM json_each(:run_ids))"
DELETE_ATTEMPTS_OF_RUNS = "DELETE FROM attempts WHERE run_id IN (SELECT value FROM json_each(:run_ids))"
DELETE_STEPS_OF_RUNS = "DELETE FROM steps WHERE run_id IN (SELECT value FROM json_each(:run_ids))"
DELETE_RUNS = "DELETE FROM runs WHERE run_id IN (SELECT value FROM json_each(:run_ids))"

# -- events (migration 0005) --------------------------------------------------------------------------

# A send with an :event_id the run already has (the partial unique index events_by_id) stores nothing and
# returns no row.
INSERT_EVENT = """
INSERT INTO events (run_id, name, payload_json, event_id, created_at)
VALUES (:run_id, :name, :payload_json, :event_id, :now)
ON CONFLICT (run_id, event_id) WHERE event_id IS NOT NULL DO NOTHING
RETURNING seq AS id
"""

OLDEST_WAITING_EVENT = """
SELECT seq, payload_json FROM events
WHERE run_id = :run_id AND name = :name AND consumed_by IS NULL ORDER BY seq LIMIT 1
"""

CONSUME_EVENT = "UPDATE events SET consumed_by = :step WHERE seq = :seq AND consumed_by IS NULL"

# The event step taking its event: done with the event's payload (no attempt ends: none was started).
COMPLETE_EVENT_STEP = """
UPDATE steps SET status = 'done', result_json = :payload_json, result_type = NULL, error_json = NULL,
    lease_owner = NULL, lease_until = NULL, updated_at = :now
WHERE run_id = :run_id AND name = :name AND status NOT IN ('done', 'failed')
RETURNING run_id, name, form, status, rpc_name, data_json, result_json, result_type, error_json,
    attempts, max_attempts, wake_at, lease_owner, lease_until, created_at, updated_at
"""

EVENTS_OF_RUN = """
SELECT run_id, seq, name, payload_json, event_id, created_at, consumed_by FROM events
WHERE run_id = :run_id ORDER BY seq
"""
# -- schedules ----------------------------------------------------------------------------------------

GET_SCHEDULE = "SELECT name, last_tick, last_run_id, paused FROM schedules WHERE name = :name"
# advance_schedule's compare-and-set, one statement each way: from "no tick handled" (no row yet, or a row a
# pause made) the row is inserted or updated only while its last_tick is NULL; from a tick, updated only
# while last_tick is still that tick. A NULL :run_id keeps the run of the last tick that started one.
ADVANCE_NEW_SCHEDULE = """
INSERT INTO schedules (name, last_tick, last_run_id) VALUES (:name, :tick, :run_id)
ON CONFLICT (name) DO UPDATE SET last_tick = excluded.last_tick,
    last_run_id = coalesce(excluded.last_run_id, schedules.last_run_id)
WHERE schedules.last_tick IS NULL
"""
ADVANCE_SCHEDULE = """
UPDATE schedules SET last_tick = :tick, last_run_id = coalesce(:run_id, last_run_id)
WHERE name = :name AND last_tick = :expected
"""
PAUSE_SCHEDULE = """
INSERT INTO schedules (name, paused) VALUES (:name, 1)
ON CONFLICT (name) DO UPDATE SET paused = 1 WHERE schedules.paused = 0
"""
UNPAUSE_SCHEDULE = "UPDATE schedules SET paused = 0 WHERE name = :name AND paused = 1"

# -- attempts -----------------------------------------------------------------------------------------

START_ATTEMPT = """
INSERT INTO attempts (run_id, name, attempt, started_at) VALUES (:run_id, :name, :attempt, :now)
"""

END_ATTEMPT = """
UPDATE attempts SET ended_at = :now, error_json = :error_json
WHERE run_id = :run_id AND name = :name AND attempt = :attempt AND ended_at IS NULL
"""

GET_ATTEMPTS = """
SELECT attempt, started_at, ended_at, error_json FROM attempts
WHERE run_id = :run_id AND name = :name ORDER BY attempt
"""

# Every attempt of every step of a run in one query. The run row is joined so that "no such run" (no row)
# and "no steps yet" differ; a step without attempt rows (inserted done, or not attempted) comes as one row
# whose attempt columns are NULL.
RUN_ATTEMPTS = """
SELECT s.name, s.form, s.status, s.attempts, s.created_at, a.attempt, a.started_at, a.ended_at, a.error_json
FROM runs r
LEFT JOIN steps s ON s.run_id = r.run_id
LEFT JOIN attempts a ON a.run_id = s.run_id AND a.name = s.name
WHERE r.run_id = :run_id ORDER BY s.rowid, a.attempt
"""

# -- jobs ---------------------------------------------------------------------------------------------

# A job's priority defaults to its due time. A keyed job that meets a waiting one with its queue and key
# (the partial unique index jobs_waiting_by_key) is not added: the waiting one takes the earlier due time
# and the lower priority, and RETURNING gives its id. Jobs without a key never conflict.
INSERT_JOB = """
INSERT INTO jobs (queue, payload_json, run_at, priority, key)
VALUES (:queue, :payload_json, :run_at, COALESCE(:priority, :run_at), :key)
ON CONFLICT (queue, key) WHERE key IS NOT NULL AND lease_until IS NULL
DO UPDATE SET run_at = MIN(run_at, excluded.run_at), priority = MIN(priority, excluded.priority)
RETURNING id
"""

# A job written claimed by the worker that wrote it (a local hand-off): its first delivery, leased. It is
# not waiting, so it never meets jobs_waiting_by_key.
INSERT_TAKEN_JOB = """
INSERT INTO jobs (queue, payload_json, run_at, priority, key, attempts, owner, lease_until)
VALUES (:queue, :payload_json, :run_at, COALESCE(:priority, :run_at), :key, 1, :owner, :lease_until)
RETURNING id
"""

# Claims take due jobs (delay passed, no live lease) by (priority, run_at, id), along the
# jobs_by_priority index for every queue, or jobs_by_queue_priority for one queue (already in claim order)
# or several. Several queue names come as one JSON array parameter, so the statement's text is the same
# for any number of them.
CLAIM_JOBS = """
UPDATE jobs SET attempts = attempts + 1, owner = :owner, lease_until = :lease_until
WHERE id IN (
    SELECT id FROM jobs WHERE run_at <= :now AND (lease_until IS NULL OR lease_until <= :now)
    ORDER BY priority, run_at, id LIMIT :limit
)
RETURNING id, queue, payload_json, attempts, run_at, lease_until, owner, priority
"""
CLAIM_JOBS_OF_QUEUE = """
UPDATE jobs SET attempts = attempts + 1, owner = :owner, lease_until = :lease_until
WHERE id IN (
    SELECT id FROM jobs
    WHERE queue = :queue AND run_at <= :now AND (lease_until IS NULL OR lease_until <= :now)
    ORDER BY priority, run_at, id LIMIT :limit
)
RETURNING id, queue, payload_json, attempts, run_at, lease_until, owner, priority
"""
CLAIM_JOBS_OF_QUEUES = """
UPDATE jobs SET attempts = attempts + 1, owner = :owner, lease_until = :lease_until
WHERE id IN (
    SELECT id FROM jobs
    WHERE queue IN (SELECT value FROM json_each(:queues))
        AND run_at <= :now AND (lease_until IS NULL OR lease_until <= :now)
    ORDER BY priority, run_at, id LIMIT :limit
)
RETURNING id, queue, payload_json, attempts, run_at, lease_until, owner, priority
"""

ANY_DUE = """
SELECT 1 AS found FROM jobs WHERE run_at <= :now AND (lease_until IS NULL OR lease_until <= :now) LIMIT 1
"""
ANY_DUE_OF_QUEUE = """
SELECT 1 AS found FROM jobs
WHERE queue = :queue AND run_at <= :now AND (lease_until IS NULL OR lease_until <= :now) LIMIT 1
"""
ANY_DUE_OF_QUEUES = """
SELECT 1 AS found FROM jobs
WHERE queue IN (SELECT value FROM json_each(:queues))
    AND run_at <= :now AND (lease_until IS NULL OR lease_until <= :now)
LIMIT 1
"""

# ack, release and extend act only for the claim that returned the job: same id, owner and attempts (the
# claim token), still leased.
ACK_JOB = "DELETE FROM jobs WHERE id = :id AND owner = :owner AND attempts = :attempts AND lease_until IS NOT NULL"

RELEASE_JOB = """
UPDATE jobs SET owner = NULL, lease_until = NULL, run_at = :run_at
WHERE id = :id AND owner = :owner AND attempts = :attempts AND lease_until IS NOT NULL
"""

# A released keyed job whose key already has a waiting job merges into it (releasing it as it is would
# break jobs_waiting_by_key): the waiting job takes the earlier due time and the lower priority, and
# returns its id; the released job is then deleted (ACK_JOB). Matches nothing for a job without a key.
MERGE_RELEASED_JOB = """
UPDATE jobs AS waiting SET run_at = MIN(waiting.run_at, :run_at), priority = MIN(waiting.priority, released.priority)
FROM jobs AS released
WHERE released.id = :id AND released.owner = :owner AND released.attempts = :attempts
    AND released.lease_until IS NOT NULL AND released.key IS NOT NULL
    AND waiting.queue = released.queue AND waiting.key = released.key AND waiting.lease_until IS NULL
RETURNING id  -- the waiting job (RETURNING sees only the updated table)
"""

EXTEND_JOB = """
UPDATE jobs SET lease_until = :lease_until
WHERE id = :id AND owner = :owner AND attempts = :attempts AND lease_until IS NOT NULL
"""

COUNT_JOBS = "SELECT COUNT(*) AS n FROM jobs"
COUNT_JOBS_OF_QUEUE = "SELECT COUNT(*) AS n FROM jobs WHERE queue = :queue"

# -- dead jobs ----------------------------------------------------------------------------------------

# dead_letter: the claim's job moves to dead_jobs (this copy, then ACK_JOB's delete, in one transaction).
DEAD_LETTER_JOB = """
INSERT INTO dead_jobs (id, queue, payload_json, attempts, key, reason, died_at)
SELECT id, queue, payload_json, attempts, key, :reason, :now FROM jobs
WHERE id = :id AND owner = :owner AND attempts = :attempts AND lease_until IS NOT NULL
"""

LIST_DEAD_JOBS = """
SELECT id, queue, payload_json, attempts, reason, died_at FROM dead_jobs
ORDER BY died_at DESC, id DESC LIMIT :limit
"""

# retry_dead: taken out of dead_jobs, then enqueued again with INSERT_JOB (due now, no delivery yet), where
# a keyed one merges into a waiting job with its key as any keyed enqueue does.
TAKE_DEAD_JOB = "DELETE FROM dead_jobs WHERE id = :id RETURNING queue, payload_json, key"

DROP_DEAD_JOB = "DELETE FROM dead_jobs WHERE id = :id"
