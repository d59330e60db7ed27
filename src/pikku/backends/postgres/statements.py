"""Every SQL statement of the PostgreSQL backend, as a constant.

Statements name tables without a schema: each pooled connection has ``search_path`` set to pikku's schema
(see :mod:`pikku.backends.postgres.database`), so the text is the same for every configuration and nothing
from outside is ever formatted into it (the unfiltered list_runs statements are assembled once at import from
code constants, see ``_runs_by_status``). Parameters are named (``%(run_id)s``); rows are read by column name.

``pikku_now()`` is the database clock as epoch seconds, one instant per statement (migration 0003).

Every statement that writes a job can announce it: ``pg_notify(%(channel)s, queue)`` runs only when
``%(notify)s`` is true (a job due in 5 s or more is written quietly, see ``pikku.backends._wakeup``). The
channel is a bound parameter, never text in the statement.

Where an acknowledgement rides along (``ack_job_id``, ``ack_owner``, ``ack_attempts``: the claim of the job
a worker processed), a data-modifying CTE deletes that job only while the claim holds it; it runs whether
or not the rest of the statement matched, and with NULL parameters it deletes nothing.
"""

from __future__ import annotations

from typing import Literal

from pikku._records import RUN_STATUSES, SETTLED_RUN_STATUSES

# -- runs ---------------------------------------------------------------------------------------------

#: With a lock owner the run is inserted holding its lock; without, lock_lease is NULL and so is lock_until.
#: The database clock (what every statement stamps and compares with), for the engine's timers.
NOW = "SELECT pikku_now() AS now"

CREATE_RUN = """
INSERT INTO runs (run_id, workflow, status, input_json, created_at, updated_at, lock_owner, lock_until,
                  parent_run_id, forked_from)
VALUES (%(run_id)s, %(workflow)s, 'running', %(input_json)s, pikku_now(), pikku_now(),
        %(lock_owner)s, pikku_now() + %(lock_lease)s::float8, %(parent_run_id)s, %(forked_from)s)
RETURNING run_id, workflow, status, input_json, output_json, error_json, created_at, updated_at,
       parent_run_id, forked_from, cancel_reason, resumes
"""

#: The run and its first job in one statement: a duplicate run id aborts both.
CREATE_RUN_WITH_JOB = """
WITH run AS (
    INSERT INTO runs (run_id, workflow, status, input_json, created_at, updated_at, lock_owner, lock_until,
                      parent_run_id, forked_from)
    VALUES (%(run_id)s, %(workflow)s, 'running', %(input_json)s, pikku_now(), pikku_now(),
            %(lock_owner)s, pikku_now() + %(lock_lease)s::float8, %(parent_run_id)s, %(forked_from)s)
    RETURNING run_id, workflow, status, input_json, output_json, error_json, created_at, updated_at,
       parent_run_id, forked_from, cancel_reason, resumes
), job AS (
    INSERT INTO jobs (queue, payload, run_at, priority, dedupe_key)
    SELECT %(job_queue)s, %(job_payload)s, run.created_at + %(job_delay)s,
           coalesce(%(job_priority)s::float8, run.created_at + %(job_delay)s), %(job_key)s
    FROM run
    ON CONFLICT (queue, dedupe_key) WHERE dedupe_key IS NOT NULL AND locked_until IS NULL
    DO UPDATE SET run_at = LEAST(jobs.run_at, EXCLUDED.run_at), priority = LEAST(jobs.priority, EXCLUDED.priority)
    RETURNING queue
), notice AS (
    SELECT count(pg_notify(%(channel)s, queue)) AS sent FROM job WHERE %(notify)s
)
SELECT run.run_id, run.workflow, run.status, run.input_json, run.output_json, run.error_json,
       run.created_at, run.updated_at, run.parent_run_id, run.forked_from, run.cancel_reason, run.resumes
FROM run, notice
"""

GET_RUN = """
SELECT run_id, workflow, status, input_json, output_json, error_json, created_at, updated_at,
       parent_run_id, forked_from, cancel_reason, resumes
FROM runs WHERE run_id = %(run_id)s
"""

RUN_EXISTS = "SELECT 1 AS found FROM runs WHERE run_id = %(run_id)s"

#: Where a page of list_runs starts: after this run in newest-first order.
RUN_PAGE_ANCHOR = "SELECT created_at, seq FROM runs WHERE run_id = %(run_id)s"

# list_runs: one statement per filter, each reading an index in newest-first order from the page anchor
# (a first page passes +infinity). Without a status filter, one slice per status is merged: no extra
# index, and each slice stops after `limit` rows however many runs exist.

LIST_RUNS_WITH_STATUS = """
SELECT run_id, workflow, status, input_json, output_json, error_json, created_at, updated_at,
       parent_run_id, forked_from, cancel_reason, resumes
FROM runs
WHERE status = %(status)s AND (created_at, seq) < (%(before_created_at)s::float8, %(before_seq)s::bigint)
ORDER BY created_at DESC, seq DESC LIMIT %(limit)s
"""

LIST_RUNS_OF_WORKFLOW_WITH_STATUS = """
SELECT run_id, workflow, status, input_json, output_json, error_json, created_at, updated_at,
       parent_run_id, forked_from, cancel_reason, resumes
FROM runs
WHERE workflow = %(workflow)s AND status = %(status)s
  AND (created_at, seq) < (%(before_created_at)s::float8, %(before_seq)s::bigint)
ORDER BY created_at DESC, seq DESC LIMIT %(limit)s
"""

# The unfiltered statements read one slice per status: one branch per status, each repeating the column
# list. Written by hand, the copies drifted apart once (a merge added columns to some branches and not to
# others), so they are built here, once at import, from RUN_STATUSES and one column list. Only these code
# constants are formatted in; every value stays a bound parameter.
_RUN_COLUMNS = """run_id, workflow, status, input_json, output_json, error_json, created_at, updated_at,
       parent_run_id, forked_from, cancel_reason, resumes"""


def _literal(status: str) -> str:
    """A run status (a code constant) as a SQL string literal."""
    if not status.isidentifier():  # never one that would need quoting
        raise ValueError(f"run status {status!r} cannot be a SQL literal")
    return f"'{status}'"


def _runs_by_status(where: str) -> str:
    """The newest-first page merged from one index slice per run status, each also matching ``where``."""
    branches = "\n    UNION ALL\n".join(
        f"""    (SELECT {_RUN_COLUMNS}, seq
     FROM runs
     WHERE {where}status = {_literal(status)}
       AND (created_at, seq) < (%(before_created_at)s::float8, %(before_seq)s::bigint)
     ORDER BY created_at DESC, seq DESC LIMIT %(limit)s)"""
        for status in RUN_STATUSES
    )
    return f"""
SELECT {_RUN_COLUMNS}
FROM (
{branches}
) AS merged
ORDER BY created_at DESC, seq DESC LIMIT %(limit)s
"""


LIST_RUNS = _runs_by_status("")

LIST_RUNS_OF_WORKFLOW = _runs_by_status("workflow = %(workflow)s AND ")

#: Settled runs of one status are counted exactly up to this many; past it, the planner's estimate is used.
COUNT_EXACT_UP_TO = 1000


def _count_runs() -> str:
    """Runs by status for the gauge workers sample every 30 s, without reading every run.

    A ``count(*) ... GROUP BY status`` scans the whole table (O(runs), settled history included) on every
    sample of every worker. Instead: runs that still go on (running, waiting, suspended: what an operator
    acts on, and bounded by the work in flight) are counted exactly off ``runs_by_status``; each settled
    status is counted off the same index only up to COUNT_EXACT_UP_TO, and past that reads as its share of
    the table in the planner's statistics (``pg_stats``, kept fresh by autovacuum's ANALYZE; never below
    the exact floor). Statuses with no run are left out, as the contract allows.
    """
    active = ", ".join(_literal(s) for s in RUN_STATUSES if s not in SETTLED_RUN_STATUSES)
    # ORDER BY the index's columns: the LIMIT then stops an index-only scan of one status's slice.
    capped = "\n    UNION ALL\n".join(
        f"""    SELECT {_literal(s)} AS status, count(*) AS n
    FROM (SELECT FROM runs WHERE status = {_literal(s)} ORDER BY status, created_at, seq
          LIMIT {COUNT_EXACT_UP_TO + 1}) AS slice"""
        for s in RUN_STATUSES
        if s in SETTLED_RUN_STATUSES
    )
    return f"""
SELECT status, count(*) AS n FROM runs WHERE status IN ({active}) GROUP BY status
UNION ALL
SELECT capped.status,
       CASE WHEN capped.n <= {COUNT_EXACT_UP_TO} THEN capped.n
            ELSE greatest(capped.n, (
                SELECT (v.freq * c.reltuples)::bigint
                FROM pg_class c, pg_stats s,
                     unnest(s.most_common_vals::text::text[], s.most_common_freqs) AS v(status, freq)
                WHERE c.oid = 'runs'::regclass AND s.schemaname = current_schema() AND s.tablename = 'runs'
                  AND s.attname = 'status' AND v.status = capped.status))
       END AS n
FROM (
{capped}
) AS capped
WHERE capped.n > 0
"""


COUNT_RUNS = _count_runs()

#: running / waiting / suspended -> completed / failed / cancelled; settling releases the run lock, whoever
#: holds it.
SETTLE_RUN = """
UPDATE runs
SET status = %(status)s, output_json = %(output_json)s, error_json = %(error_json)s, updated_at = pikku_now(),
    cancel_reason = %(cancel_reason)s, lock_owner = NULL, lock_until = NULL
WHERE run_id = %(run_id)s AND status NOT IN ('completed', 'failed', 'cancelled')
"""

#: running / waiting -> suspended, and its suspend step inserted done (one finished attempt kept on the step,
#: as INSERT_STEP's done steps): one statement. `suspended` counts 1 when it applied; the step is inserted
#: only then (a run that has a step of that name already is not suspended).
SUSPEND_RUN = """
WITH suspended AS (
    UPDATE runs SET status = 'suspended', updated_at = pikku_now()
    WHERE run_id = %(run_id)s AND status IN ('running', 'waiting')
      AND NOT EXISTS (SELECT 1 FROM steps WHERE run_id = %(run_id)s AND name = %(name)s)
    RETURNING run_id, updated_at
), step AS (
    INSERT INTO steps (run_id, name, form, status, data_json, result_json, attempts, max_attempts,
                       created_at, updated_at)
    SELECT run_id, %(name)s, 'suspend', 'done', %(data_json)s, 'null', 1, 1, updated_at, updated_at
    FROM suspended
    ON CONFLICT (run_id, name) DO NOTHING
)
SELECT count(*) AS suspended FROM suspended
"""

#: A parent's children in creation order, read off the partial index runs_by_parent (migration 0008).
LIST_CHILDREN = """
SELECT run_id, workflow, status, input_json, output_json, error_json, created_at, updated_at,
       parent_run_id, forked_from, cancel_reason, resumes
FROM runs WHERE parent_run_id = %(run_id)s ORDER BY created_at, seq
"""

# -- the run lock -------------------------------------------------------------------------------------

ACQUIRE_RUN_LOCK = """
UPDATE runs SET lock_owner = %(owner)s, lock_until = pikku_now() + %(lease_s)s
WHERE run_id = %(run_id)s AND (lock_owner IS NULL OR lock_owner = %(owner)s OR lock_until <= pikku_now())
"""


#: The conditional lock (as ACQUIRE_RUN_LOCK, and only while the run is running or waiting: a waiting run is
#: running again from here) and the run joined with its steps, in one statement. Each row: the run's
#: columns, whether the lock was taken, one step's columns (prefixed ``step_``; NULL without the lock, or
#: without steps); no row at all means no run. Run and steps are read from the statement's snapshot (the
#: status reported is the lock's own: a waiting run the lock took says running): only a settle, a suspend or
#: a lock changes a run's columns, and one committing while the UPDATE waits for the row makes the lock fail.
def _lock_run(kept: bool) -> str:
    """LOCK_RUN, or with ``kept`` LOCK_RUN_KEPT: one text for both, so the two cannot drift apart."""
    counted = ", counted AS (\n    SELECT count(*) <> %(step_count)s AS whole FROM steps WHERE run_id = %(run_id)s\n)"
    only_named = "\n    AND ((SELECT whole FROM counted) OR s.name = ANY(%(names)s::text[]))"
    return f"""
WITH locked AS (
    UPDATE runs SET lock_owner = %(owner)s, lock_until = pikku_now() + %(lease_s)s, status = 'running'
    WHERE run_id = %(run_id)s AND status IN ('running', 'waiting')
      AND (lock_owner IS NULL OR lock_owner = %(owner)s OR lock_until <= pikku_now())
    RETURNING run_id
){counted if kept else ""}
SELECT r.run_id, r.workflow,
       CASE WHEN EXISTS (SELECT 1 FROM locked) THEN 'running' ELSE r.status END AS status,
       r.input_json, r.output_json, r.error_json, r.created_at, r.updated_at,
       r.parent_run_id, r.forked_from, r.cancel_reason, r.resumes,
       EXISTS (SELECT 1 FROM locked) AS locked,{" (SELECT whole FROM counted) AS whole," if kept else ""}
       s.name AS step_name, s.form AS step_form, s.status AS step_status, s.rpc_name AS step_rpc_name,
       s.data_json AS step_data_json, s.result_json AS step_result_json, s.result_type AS step_result_type,
       s.error_json AS step_error_json, s.attempts AS step_attempts, s.max_attempts AS step_max_attempts,
       s.wake_at AS step_wake_at, s.lease_owner AS step_lease_owner, s.lease_until AS step_lease_until,
       s.created_at AS step_created_at, s.updated_at AS step_updated_at
FROM runs r
LEFT JOIN steps s ON s.run_id = r.run_id AND EXISTS (SELECT 1 FROM locked){only_named if kept else ""}
WHERE r.run_id = %(run_id)s
ORDER BY s.seq
"""


LOCK_RUN = _lock_run(kept=False)
#: LOCK_RUN for a kept run (``lock_run_kept``): the step count decides, in the same statement, whether
#: only the waited-on steps are read (``whole`` false) or all of them (a pass elsewhere recorded more).
LOCK_RUN_KEPT = _lock_run(kept=True)

RENEW_RUN_LOCK = """
UPDATE runs SET lock_until = pikku_now() + %(lease_s)s WHERE run_id = %(run_id)s AND lock_owner = %(owner)s
"""

#: The release (with `waiting`, a running run is left waiting: its pass paused with nothing to do but wait),
#: and the acknowledgement of the job that drove the pass (NULL ack parameters: none).
RELEASE_RUN_LOCK = """
WITH ack AS (
    DELETE FROM jobs
    WHERE id = %(ack_job_id)s AND owner = %(ack_owner)s AND attempts = %(ack_attempts)s
      AND locked_until IS NOT NULL
)
UPDATE runs SET lock_owner = NULL, lock_until = NULL,
    status = CASE WHEN %(waiting)s::boolean AND status = 'running' THEN 'waiting' ELSE status END
WHERE run_id = %(run_id)s AND lock_owner = %(owner)s
"""

# -- steps --------------------------------------------------------------------------------------------

#: LEFT JOIN from the run: no row means no run, a NULL step name means no steps. One round trip.
GET_STEPS = """
SELECT s.name, s.form, s.status, s.rpc_name, s.data_json, s.result_json, s.result_type, s.error_json,
       s.attempts, s.max_attempts, s.wake_at, s.lease_owner, s.lease_until, s.created_at, s.updated_at
FROM runs r LEFT JOIN steps s ON s.run_id = r.run_id
WHERE r.run_id = %(run_id)s
ORDER BY s.seq
"""

#: As GET_STEPS: no row means no run, a NULL name means no such step.
GET_STEP = """
SELECT s.name, s.form, s.status, s.rpc_name, s.data_json, s.result_json, s.result_type, s.error_json,
       s.attempts, s.max_attempts, s.wake_at, s.lease_owner, s.lease_until, s.created_at, s.updated_at
FROM runs r LEFT JOIN steps s ON s.run_id = r.run_id AND s.name = %(name)s
WHERE r.run_id = %(run_id)s
"""

STEP_EXISTS = """
SELECT EXISTS (SELECT 1 FROM runs WHERE run_id = %(run_id)s) AS run_exists,
       EXISTS (SELECT 1 FROM steps WHERE run_id = %(run_id)s AND name = %(name)s) AS step_exists
"""

#: An unclaimed step with no job (an inline step inserted done, a sleep, a failed first attempt): a plain
#: insert, measurably cheaper for the server than the CTEs below; no row back means the step already
#: exists, and the caller reads it. A step inserted done counts as one finished attempt with no attempt
#: row (read back from the step itself, see get_attempts): one row and one FK check fewer per step. The
#: row inserted is the values given and the database's time, so only the time comes back (this is the
#: statement of every inline step: reading back what was just sent cost client CPU on each).
INSERT_STEP = """
INSERT INTO steps (run_id, name, form, status, rpc_name, data_json, result_json, result_type,
                   attempts, max_attempts, wake_at, created_at, updated_at)
VALUES (%(run_id)s, %(name)s, %(form)s, %(status)s, %(rpc_name)s, %(data_json)s, %(result_json)s,
        %(result_type)s, %(attempts)s::integer, %(max_attempts)s::integer, %(wake_at)s::float8,
        pikku_now(), pikku_now())
ON CONFLICT (run_id, name) DO NOTHING
RETURNING created_at, updated_at
"""

#: Insert-or-read in one statement; the FK on run_id turns a missing run into an error. A step inserted
#: running is claimed by lease_owner (a step the engine runs itself): one open attempt under that lease,
#: just what CLAIM_STEP would leave. Like a claim, that needs an unsettled run (`decided`; the EXISTS is only
#: evaluated for a claim): for a settled one the step goes in pending.
INSERT_CLAIMED_STEP = """
WITH decided AS (
    SELECT CASE
        WHEN %(lease_owner)s::text IS NULL THEN %(status)s::text
        WHEN EXISTS (SELECT 1 FROM runs WHERE run_id = %(run_id)s
                     AND status NOT IN ('completed', 'failed', 'cancelled')) THEN %(status)s::text
        ELSE 'pending' END AS status
), inserted AS (
    INSERT INTO steps (run_id, name, form, status, rpc_name, data_json, result_json, result_type,
                       attempts, max_attempts, wake_at, lease_owner, lease_until, created_at, updated_at)
    SELECT %(run_id)s, %(name)s, %(form)s, decided.status, %(rpc_name)s, %(data_json)s, %(result_json)s,
           %(result_type)s, CASE WHEN decided.status IN ('done', 'running') THEN 1 ELSE 0 END,
           %(max_attempts)s::integer, %(wake_at)s::float8,
           CASE WHEN decided.status = 'running' THEN %(lease_owner)s::text END,
           CASE WHEN decided.status = 'running' THEN pikku_now() + %(lease_s)s::float8 END,
           pikku_now(), pikku_now()
    FROM decided
    ON CONFLICT (run_id, name) DO NOTHING
    RETURNING name, form, status, rpc_name, data_json, result_json, result_type, error_json, attempts,
              max_attempts, wake_at, lease_owner, lease_until, created_at, updated_at
), attempt AS (
    INSERT INTO step_attempts (run_id, name, attempt, started_at, ended_at)
    SELECT %(run_id)s, name, 1, created_at, NULL FROM inserted WHERE status = 'running'
)
SELECT * FROM inserted
UNION ALL
SELECT name, form, status, rpc_name, data_json, result_json, result_type, error_json, attempts,
       max_attempts, wake_at, lease_owner, lease_until, created_at, updated_at
FROM steps WHERE run_id = %(run_id)s AND name = %(name)s AND NOT EXISTS (SELECT 1 FROM inserted)
"""


#: A step's columns, as the statements that return a whole step list them.
_STEP_COLUMNS = """name, form, status, rpc_name, data_json, result_json, result_type, error_json, attempts,
       max_attempts, wake_at, lease_owner, lease_until, created_at, updated_at"""


def _job_insert(source: str, taken: bool) -> str:
    """The ``job`` CTE of a transition that puts a job on its queue, one job per row of ``source`` (a CTE
    with ``updated_at``). Waiting: merged into a waiting job with the same key, announced by the statement's
    notice. ``taken``: written already claimed by ``take_owner`` (one delivery, leased ``take_lease_s``), so the
    worker that wrote it goes on with it without a claim round trip; nobody else can claim it, so no notice.
    """
    due = f"{source}.updated_at + %(job_delay)s"
    if taken:
        return f"""job AS (
    INSERT INTO jobs (queue, payload, run_at, priority, dedupe_key, attempts, owner, locked_until)
    SELECT %(job_queue)s, %(job_payload)s, {due}, coalesce(%(job_priority)s::float8, {due}), %(job_key)s,
           1, %(take_owner)s::text, pikku_now() + %(take_lease_s)s::float8
    FROM {source}
    RETURNING id, attempts, run_at, locked_until
)"""
    return f"""job AS (
    INSERT INTO jobs (queue, payload, run_at, priority, dedupe_key)
    SELECT %(job_queue)s, %(job_payload)s, {due}, coalesce(%(job_priority)s::float8, {due}), %(job_key)s
    FROM {source}
    ON CONFLICT (queue, dedupe_key) WHERE dedupe_key IS NOT NULL AND locked_until IS NULL
    DO UPDATE SET run_at = LEAST(jobs.run_at, EXCLUDED.run_at), priority = LEAST(jobs.priority, EXCLUDED.priority)
    RETURNING queue
)"""


#: The columns of a job written taken, after the statement's own (NULL where none was written).
_TAKEN_COLUMNS = (
    "job.id AS job_id, job.attempts AS job_attempts, job.run_at AS job_run_at, job.locked_until AS job_until"
)


def _dispatch(taken: bool) -> str:
    """Dispatch: INSERT_CLAIMED_STEP and the step's job in one statement. The job is selected from
    `inserted`, so a step that already existed enqueues nothing. ``taken``: the job written claimed by the
    dispatching worker (see _job_insert), its columns after the step's, with RELEASE_RUN_LOCK's
    acknowledgement and release (the pass that dispatched the step ends with this write)."""
    step_columns = _STEP_COLUMNS
    if taken:
        found = f"SELECT inserted.*, {_TAKEN_COLUMNS} FROM inserted LEFT JOIN job ON true"
        existing_extra = ", NULL::bigint, NULL::integer, NULL::float8, NULL::float8"
        notice = ""
    else:
        found = "SELECT inserted.* FROM inserted, notice"
        existing_extra = ""
        notice = """, notice AS (
    SELECT count(pg_notify(%(channel)s, queue)) AS sent FROM job WHERE %(notify)s
)"""
    return f"""
WITH decided AS (
    SELECT CASE
        WHEN %(lease_owner)s::text IS NULL THEN %(status)s::text
        WHEN EXISTS (SELECT 1 FROM runs WHERE run_id = %(run_id)s
                     AND status NOT IN ('completed', 'failed', 'cancelled')) THEN %(status)s::text
        ELSE 'pending' END AS status
), inserted AS (
    INSERT INTO steps (run_id, name, form, status, rpc_name, data_json, result_json, result_type,
                       attempts, max_attempts, wake_at, lease_owner, lease_until, created_at, updated_at)
    SELECT %(run_id)s, %(name)s, %(form)s, decided.status, %(rpc_name)s, %(data_json)s, %(result_json)s,
           %(result_type)s, CASE WHEN decided.status IN ('done', 'running') THEN 1 ELSE 0 END,
           %(max_attempts)s::integer, %(wake_at)s::float8,
           CASE WHEN decided.status = 'running' THEN %(lease_owner)s::text END,
           CASE WHEN decided.status = 'running' THEN pikku_now() + %(lease_s)s::float8 END,
           pikku_now(), pikku_now()
    FROM decided
    ON CONFLICT (run_id, name) DO NOTHING
    RETURNING {step_columns}
), attempt AS (
    INSERT INTO step_attempts (run_id, name, attempt, started_at, ended_at)
    SELECT %(run_id)s, name, 1, created_at, NULL FROM inserted WHERE status = 'running'
), {_job_insert("inserted", taken)}{notice}{_RELEASE_CTES if taken else ""}
{found}
UNION ALL
SELECT {step_columns}{existing_extra}
FROM steps WHERE run_id = %(run_id)s AND name = %(name)s AND NOT EXISTS (SELECT 1 FROM inserted)
"""


#: RELEASE_RUN_LOCK's two writes, as CTEs to ride along another statement.
_RELEASE_CTES = """, ack AS (
    DELETE FROM jobs
    WHERE id = %(ack_job_id)s AND owner = %(ack_owner)s AND attempts = %(ack_attempts)s
      AND locked_until IS NOT NULL
), released AS (
    UPDATE runs SET lock_owner = NULL, lock_until = NULL,
        status = CASE WHEN %(waiting)s::boolean AND status = 'running' THEN 'waiting' ELSE status END
    WHERE run_id = %(run_id)s AND lock_owner = %(owner)s
)"""

INSERT_STEP_WITH_JOB = _dispatch(taken=False)
#: INSERT_STEP_WITH_JOB with the job written claimed by the dispatching worker (``take_owner``), the step
#: claimed by it too (``lease_owner``), and the run lock released with the ack of the pass's job: a pass
#: that ends by dispatching a step its worker takes writes once, and the worker runs the step next.
RELEASE_RUN_LOCK_DISPATCHING = _dispatch(taken=True)

MARK_STEP_SCHEDULED = """
UPDATE steps SET status = 'scheduled', updated_at = pikku_now()
WHERE run_id = %(run_id)s AND name = %(name)s AND status = 'pending'
"""

#: A claim matches only while the run is not settled: a settled run's steps are never claimed. With a
#: form (a queue job claims only rpc steps) a step of another form is not matched: a test on the one row
#: the primary key finds, so the plan is the same with or without it.
CLAIM_STEP = """
WITH claimed AS (
    UPDATE steps
    SET status = 'running', attempts = attempts + 1, lease_owner = %(owner)s,
        lease_until = pikku_now() + %(lease_s)s, updated_at = pikku_now()
    WHERE run_id = %(run_id)s AND name = %(name)s
      AND (status IN ('pending', 'scheduled') OR (status = 'running' AND coalesce(lease_until, 0) <= pikku_now()))
      AND (%(form)s::text IS NULL OR form = %(form)s::text)
      AND EXISTS (SELECT 1 FROM runs WHERE run_id = %(run_id)s AND status NOT IN ('completed', 'failed', 'cancelled'))
    RETURNING name, form, status, rpc_name, data_json, result_json, result_type, error_json, attempts,
              max_attempts, wake_at, lease_owner, lease_until, created_at, updated_at
), attempt AS (
    INSERT INTO step_attempts (run_id, name, attempt, started_at)
    SELECT %(run_id)s, name, attempts, updated_at FROM claimed
)
SELECT * FROM claimed
"""


def _settle(job: Literal["none", "waiting", "taken"], lock: bool = False) -> str:
    """Settle a step (done, failed, or back to scheduled for a retry), end its open attempt and acknowledge
    the job that did the work: one statement, so one transaction. With an owner (a worker settling its own
    claim) only while the step is running under that claim. The result of a failed attempt is kept.
    ``job``: with the hand-off job when the step was settled, waiting on its queue (and its notice) or
    taken by the settling worker (see _job_insert; its columns come back). ``lock`` (with a taken job): the
    run lock taken too for the taking worker when it is free, and the run, its step count and the settled
    step come back, as LOCK_RUN_KEPT would read them for the pass the worker runs next."""
    returning = "run_id, name, attempts, updated_at"
    tail, columns = "", ""
    if lock:
        returning = f"run_id, {_STEP_COLUMNS}"
        tail = f""", locked AS (
    UPDATE runs SET lock_owner = %(take_owner)s, lock_until = pikku_now() + %(lock_lease)s, status = 'running'
    WHERE run_id = %(run_id)s AND status IN ('running', 'waiting') AND EXISTS (SELECT 1 FROM settled)
      AND (lock_owner IS NULL OR lock_until <= pikku_now())
    RETURNING {_RUN_COLUMNS}
)"""
        run_columns = ", ".join(f"locked.{c.strip()}" for c in _RUN_COLUMNS.split(","))
        step_columns = ", ".join(f"settled.{c.strip()} AS step_{c.strip()}" for c in _STEP_COLUMNS.split(","))
        columns = f""",
       {run_columns}, (SELECT count(*) FROM steps WHERE run_id = %(run_id)s) AS step_count,
       {step_columns}"""
    if job == "none":
        result = "SELECT count(*) AS settled FROM settled"
    elif job == "waiting":
        tail = ", " + _job_insert("settled", taken=False) + tail
        result = """SELECT (SELECT count(*) FROM settled) AS settled,
       (SELECT count(pg_notify(%(channel)s, queue)) FROM job WHERE %(notify)s) AS notices"""
    else:
        tail = ", " + _job_insert("settled", taken=True) + tail
        joined = " LEFT JOIN settled ON true LEFT JOIN locked ON true" if lock else ""
        result = f"""SELECT (SELECT count(*) FROM settled) AS settled, {_TAKEN_COLUMNS}{columns}
FROM (SELECT 1) AS one LEFT JOIN job ON true{joined}"""
    return f"""
WITH settled AS (
    UPDATE steps
    SET status = %(status)s, result_json = coalesce(%(result_json)s, result_json),
        result_type = CASE WHEN %(status)s = 'done' THEN %(result_type)s ELSE result_type END,
        wake_at = coalesce(%(wake_at)s::float8, wake_at), error_json = %(error_json)s,
        lease_owner = NULL, lease_until = NULL, updated_at = pikku_now()
    WHERE run_id = %(run_id)s AND name = %(name)s AND status NOT IN ('done', 'failed')
      AND (%(owner)s::text IS NULL OR (status = 'running' AND lease_owner = %(owner)s::text))
    RETURNING {returning}
), attempt AS (
    UPDATE step_attempts AS a SET ended_at = settled.updated_at, error_json = %(error_json)s
    FROM settled
    WHERE a.run_id = settled.run_id AND a.name = settled.name AND a.attempt = settled.attempts
      AND a.ended_at IS NULL
), ack AS (
    DELETE FROM jobs
    WHERE id = %(ack_job_id)s AND owner = %(ack_owner)s AND attempts = %(ack_attempts)s
      AND locked_until IS NOT NULL
){tail}
{result}
"""


SETTLE_STEP = _settle("none")
#: SETTLE_STEP, and the hand-off job (with its notice) when the step was settled.
SETTLE_STEP_WITH_JOB = _settle("waiting")
#: SETTLE_STEP, and the hand-off job written claimed by the settling worker (``take_owner``).
SETTLE_STEP_TAKING_JOB = _settle("taken")
#: SETTLE_STEP_TAKING_JOB with the run locked for the taking worker: its next pass starts without a lock read.
SETTLE_STEP_TAKING_PASS = _settle("taken", lock=True)

#: Only the owner of a running step extends its lease (even one that expired, while nobody took over);
#: lease_until is not indexed, so this is a HOT update.
RENEW_STEP_LEASE = """
UPDATE steps SET lease_until = pikku_now() + %(lease_s)s
WHERE run_id = %(run_id)s AND name = %(name)s AND status = 'running' AND lease_owner = %(owner)s
"""

GET_ATTEMPTS = """
SELECT attempt, started_at, ended_at, error_json FROM step_attempts
WHERE run_id = %(run_id)s AND name = %(name)s
ORDER BY attempt
"""

#: Every step's attempts in one read (run inspection). As GET_STEPS: no row means no run, a NULL name no
#: steps; a NULL attempt is a step without attempt rows, whose own columns say whether it was inserted
#: done (one attempt kept on the step, see INSERT_STEP).
GET_RUN_ATTEMPTS = """
SELECT s.name, s.form, s.status, s.attempts, s.created_at, a.attempt, a.started_at, a.ended_at, a.error_json
FROM runs r
LEFT JOIN steps s ON s.run_id = r.run_id
LEFT JOIN step_attempts a ON a.run_id = s.run_id AND a.name = s.name
WHERE r.run_id = %(run_id)s
ORDER BY s.seq, a.attempt
"""

# -- operating runs -----------------------------------------------------------------------------------

#: failed/cancelled/suspended -> running, error cleared, and every failed step pending again with a fresh budget
#: (attempts kept, max_attempts = attempts + max_attempts, error and lease cleared): one statement. Of
#: racing resumes the first to update the run wins; the others wait for its row, find it running and match
#: nothing, and so change no step either.
RESUME_RUN = """
WITH resumed AS (
    UPDATE runs SET status = 'running', error_json = NULL, cancel_reason = NULL, resumes = resumes + 1,
                    updated_at = pikku_now()
    WHERE run_id = %(run_id)s AND status IN ('failed', 'cancelled', 'suspended')
    RETURNING run_id, updated_at
), retried AS (
    UPDATE steps AS s
    SET status = 'pending', error_json = NULL, lease_owner = NULL, lease_until = NULL,
        max_attempts = s.attempts + s.max_attempts, updated_at = resumed.updated_at
    FROM resumed
    WHERE s.run_id = resumed.run_id AND s.status = 'failed'
)
SELECT count(*) AS resumed FROM resumed
"""

#: Prune: up to `limit` runs of the given statuses last changed before `before`, least recently changed
#: first: per status a slice of runs_settled (migration 0006), then the first `limit` across them, deleted
#: by primary key. The DELETE tests status and time itself: a run a concurrent write changed meanwhile (a
#: resume made it running again) is tested again on its new version and kept, so an unsettled run (running,
#: waiting, suspended) is never deleted. Its steps, their attempts and its events go in the same statement
#: (ON DELETE CASCADE: run, steps, attempts, events).
DELETE_RUNS = """
WITH picked AS (
    SELECT c.run_id
    FROM unnest(%(statuses)s::text[]) AS st(status)
    CROSS JOIN LATERAL (
        SELECT run_id, updated_at, seq FROM runs
        WHERE status = st.status AND status <> 'running' AND status NOT IN ('waiting', 'suspended')
          AND updated_at < %(before)s::float8
        ORDER BY updated_at, seq LIMIT %(limit)s
    ) AS c
    ORDER BY c.updated_at, c.seq LIMIT %(limit)s
), deleted AS (
    DELETE FROM runs
    WHERE run_id = ANY(ARRAY(SELECT run_id FROM picked))
      AND status = ANY(%(statuses)s::text[]) AND status NOT IN ('running', 'waiting', 'suspended')
      AND updated_at < %(before)s::float8
    RETURNING run_id, updated_at, seq
)
SELECT run_id FROM deleted ORDER BY updated_at, seq
"""

# -- events (migration 0007) --------------------------------------------------------------------------

#: An event for an unsettled run, unless the run has one with its event_id already: one statement. `status`
#: is the run's (no row: no run), `stored` whether the event went in.
SEND_EVENT = """
WITH run AS (
    SELECT run_id, status FROM runs WHERE run_id = %(run_id)s
), inserted AS (
    INSERT INTO events (run_id, name, payload_json, event_id, created_at)
    SELECT run_id, %(name)s, %(payload_json)s, %(event_id)s, pikku_now() FROM run
    WHERE status NOT IN ('completed', 'failed', 'cancelled')
    ON CONFLICT (run_id, event_id) WHERE event_id IS NOT NULL DO NOTHING
    RETURNING seq
)
SELECT run.status, (SELECT count(*) FROM inserted) AS stored FROM run
"""

#: SEND_EVENT and the run's wake-up job (with its notice) unless the run has settled.
SEND_EVENT_WITH_JOB = """
WITH run AS (
    SELECT run_id, status FROM runs WHERE run_id = %(run_id)s
), inserted AS (
    INSERT INTO events (run_id, name, payload_json, event_id, created_at)
    SELECT run_id, %(name)s, %(payload_json)s, %(event_id)s, pikku_now() FROM run
    WHERE status NOT IN ('completed', 'failed', 'cancelled')
    ON CONFLICT (run_id, event_id) WHERE event_id IS NOT NULL DO NOTHING
    RETURNING seq
), job AS (
    INSERT INTO jobs (queue, payload, run_at, priority, dedupe_key)
    SELECT %(job_queue)s, %(job_payload)s, pikku_now() + %(job_delay)s,
           coalesce(%(job_priority)s::float8, pikku_now() + %(job_delay)s), %(job_key)s
    FROM run WHERE status NOT IN ('completed', 'failed', 'cancelled')
    ON CONFLICT (queue, dedupe_key) WHERE dedupe_key IS NOT NULL AND locked_until IS NULL
    DO UPDATE SET run_at = LEAST(jobs.run_at, EXCLUDED.run_at), priority = LEAST(jobs.priority, EXCLUDED.priority)
    RETURNING queue
)
SELECT run.status, (SELECT count(*) FROM inserted) AS stored,
       (SELECT count(pg_notify(%(channel)s, queue)) FROM job WHERE %(notify)s) AS notices
FROM run
"""

#: The event step takes the oldest waiting event of a name: the event marked taken and the step done with
#: its payload, in one statement. The step row is locked first (so two takes for one step take one event),
#: and the event is picked skipping rows another take holds (two steps waiting for one name take two
#: events). One row: the step as it is now (`taken` says whether this statement completed it; read under
#: the row lock otherwise, so a step another take just completed shows done); none at all means no step
#: (or no run). A step waiting with no event to take comes back unchanged, `taken` false.
TAKE_EVENT = """
WITH step AS (
    SELECT name, form, status, rpc_name, data_json, result_json, result_type, error_json, attempts,
           max_attempts, wake_at, lease_owner, lease_until, created_at, updated_at
    FROM steps WHERE run_id = %(run_id)s AND name = %(step)s FOR UPDATE
), event AS (
    SELECT seq, payload_json FROM events
    WHERE run_id = %(run_id)s AND name = %(name)s AND consumed_by IS NULL
      AND EXISTS (SELECT 1 FROM step WHERE status NOT IN ('done', 'failed'))
    ORDER BY seq LIMIT 1
    FOR UPDATE SKIP LOCKED
), consumed AS (
    UPDATE events SET consumed_by = %(step)s FROM event
    WHERE events.run_id = %(run_id)s AND events.seq = event.seq AND events.consumed_by IS NULL
    RETURNING events.payload_json
), taken AS (
    UPDATE steps SET status = 'done', result_json = consumed.payload_json, result_type = NULL, error_json = NULL,
        lease_owner = NULL, lease_until = NULL, updated_at = pikku_now()
    FROM consumed
    WHERE steps.run_id = %(run_id)s AND steps.name = %(step)s AND steps.status NOT IN ('done', 'failed')
    RETURNING steps.name, steps.form, steps.status, steps.rpc_name, steps.data_json, steps.result_json,
              steps.result_type, steps.error_json, steps.attempts, steps.max_attempts, steps.wake_at,
              steps.lease_owner, steps.lease_until, steps.created_at, steps.updated_at
)
SELECT true AS taken, * FROM taken
UNION ALL
SELECT false AS taken, * FROM step WHERE NOT EXISTS (SELECT 1 FROM taken)
"""

#: As GET_STEPS: no row means no run, a NULL seq that the run has no events.
GET_EVENTS = """
SELECT e.seq, e.name, e.payload_json, e.event_id, e.created_at, e.consumed_by
FROM runs r LEFT JOIN events e ON e.run_id = r.run_id
WHERE r.run_id = %(run_id)s
ORDER BY e.seq
"""

# -- schedules ----------------------------------------------------------------------------------------

GET_SCHEDULE = "SELECT name, last_tick, last_run_id, paused FROM schedules WHERE name = %(name)s"

#: advance_schedule from "no tick handled": inserted, or updated while last_tick is still NULL (a row a pause
#: made); a racing insert of another worker makes this one's conflict update match nothing.
ADVANCE_NEW_SCHEDULE = """
INSERT INTO schedules (name, last_tick, last_run_id) VALUES (%(name)s, %(tick)s, %(run_id)s)
ON CONFLICT (name) DO UPDATE SET last_tick = EXCLUDED.last_tick,
    last_run_id = coalesce(EXCLUDED.last_run_id, schedules.last_run_id)
WHERE schedules.last_tick IS NULL
"""

#: advance_schedule from a tick: only while last_tick is still that tick (a NULL run id keeps the last one).
ADVANCE_SCHEDULE = """
UPDATE schedules SET last_tick = %(tick)s, last_run_id = coalesce(%(run_id)s, last_run_id)
WHERE name = %(name)s AND last_tick = %(expected)s
"""

PAUSE_SCHEDULE = """
INSERT INTO schedules (name, paused) VALUES (%(name)s, true)
ON CONFLICT (name) DO UPDATE SET paused = true WHERE NOT schedules.paused
"""

UNPAUSE_SCHEDULE = "UPDATE schedules SET paused = false WHERE name = %(name)s AND paused"

# -- jobs ---------------------------------------------------------------------------------------------

#: A job with a key merges into the waiting job with that key, if there is one (migration 0004): that job
#: keeps its payload and id, and takes the earlier due time and the lower priority.
ENQUEUE = """
WITH job AS (
    INSERT INTO jobs (queue, payload, run_at, priority, dedupe_key)
    VALUES (%(queue)s, %(payload)s, pikku_now() + %(delay)s, coalesce(%(priority)s::float8, pikku_now() + %(delay)s),
            %(key)s)
    ON CONFLICT (queue, dedupe_key) WHERE dedupe_key IS NOT NULL AND locked_until IS NULL
    DO UPDATE SET run_at = LEAST(jobs.run_at, EXCLUDED.run_at), priority = LEAST(jobs.priority, EXCLUDED.priority)
    RETURNING id, queue
)
SELECT job.id, (SELECT count(pg_notify(%(channel)s, queue)) FROM job WHERE %(notify)s) AS notices
FROM job
"""

#: Per queue, the first due jobs by (priority, run_at, id) straight off jobs_claim (row-locked, skipping
#: rows another claimer holds), then the first `limit` of those across queues, leased in the same
#: statement. `id = ANY(ARRAY(...))`: a primary-key probe per picked id even in the generic (prepared)
#: plan, where the unknown LIMIT would otherwise invite a hash join over the whole table.
CLAIM_JOBS = """
WITH picked AS (
    SELECT c.id
    FROM unnest(%(queues)s::text[]) AS qs(name)
    CROSS JOIN LATERAL (
        SELECT id, priority, run_at FROM jobs
        WHERE queue = qs.name AND run_at <= pikku_now() AND (locked_until IS NULL OR locked_until <= pikku_now())
        ORDER BY priority, run_at, id LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    ) AS c
    ORDER BY c.priority, c.run_at, c.id LIMIT %(limit)s
)
UPDATE jobs SET attempts = attempts + 1, owner = %(owner)s, locked_until = pikku_now() + %(lease_s)s
WHERE id = ANY(ARRAY(SELECT id FROM picked))
RETURNING id, queue, payload, attempts, run_at, locked_until, owner, priority
"""

#: CLAIM_JOBS over every queue that has jobs, found by a loose index scan of jobs_due (one index probe
#: per distinct queue).
CLAIM_JOBS_FROM_ALL_QUEUES = """
WITH RECURSIVE qs(name) AS (
    SELECT min(queue) FROM jobs
    UNION ALL
    SELECT (SELECT min(queue) FROM jobs WHERE queue > qs.name) FROM qs WHERE qs.name IS NOT NULL
), picked AS (
    SELECT c.id
    FROM qs
    CROSS JOIN LATERAL (
        SELECT id, priority, run_at FROM jobs
        WHERE queue = qs.name AND run_at <= pikku_now() AND (locked_until IS NULL OR locked_until <= pikku_now())
        ORDER BY priority, run_at, id LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    ) AS c
    WHERE qs.name IS NOT NULL
    ORDER BY c.priority, c.run_at, c.id LIMIT %(limit)s
)
UPDATE jobs SET attempts = attempts + 1, owner = %(owner)s, locked_until = pikku_now() + %(lease_s)s
WHERE id = ANY(ARRAY(SELECT id FROM picked))
RETURNING id, queue, payload, attempts, run_at, locked_until, owner, priority
"""

# A lease is one claim: the owner *and* the delivery it came with (attempts) must still match.

ACK_JOB = """
DELETE FROM jobs
WHERE id = %(job_id)s AND owner = %(owner)s AND attempts = %(attempts)s AND locked_until IS NOT NULL
"""

#: A released job waits again with its id, payload, attempts and priority, due after `delay`: taken out
#: and put back in one statement, so that a keyed one merges into a job with its key that is already
#: waiting (the waiting one keeps its payload and takes the earlier due time and lower priority; the
#: released one is gone). Reinserting the id deleted just before is fine: a row deleted by this very
#: transaction never conflicts.
RELEASE_JOB = """
WITH released AS (
    DELETE FROM jobs
    WHERE id = %(job_id)s AND owner = %(owner)s AND attempts = %(attempts)s AND locked_until IS NOT NULL
    RETURNING id, queue, payload, attempts, priority, dedupe_key
), waiting AS (
    INSERT INTO jobs (id, queue, payload, run_at, attempts, priority, dedupe_key)
    OVERRIDING SYSTEM VALUE
    SELECT id, queue, payload, pikku_now() + %(delay)s, attempts, priority, dedupe_key FROM released
    ON CONFLICT (queue, dedupe_key) WHERE dedupe_key IS NOT NULL AND locked_until IS NULL
    DO UPDATE SET run_at = LEAST(jobs.run_at, EXCLUDED.run_at), priority = LEAST(jobs.priority, EXCLUDED.priority)
    RETURNING queue
)
SELECT (SELECT count(*) FROM released) AS released,
       (SELECT count(pg_notify(%(channel)s, queue)) FROM waiting WHERE %(notify)s) AS notices
"""

EXTEND_JOB = """
UPDATE jobs SET locked_until = pikku_now() + %(lease_s)s
WHERE id = %(job_id)s AND owner = %(owner)s AND attempts = %(attempts)s AND locked_until IS NOT NULL
"""

COUNT_JOBS = "SELECT count(*) AS jobs FROM jobs WHERE queue = %(queue)s"

COUNT_ALL_JOBS = "SELECT count(*) AS jobs FROM jobs"

#: Dead rows of this schema's jobs table, from the statistics collector (no table scan): see vacuum.py.
#: ``'jobs'::regclass`` resolves through the connection's search_path, i.e. pikku's schema.
DEAD_JOB_ROWS = "SELECT coalesce(n_dead_tup, 0) AS dead FROM pg_stat_user_tables WHERE relid = 'jobs'::regclass"

#: Seconds until the earliest delayed job of the queues falls due (one index probe per queue).
NEXT_DUE = """
SELECT min(n.run_at) - pikku_now() AS seconds
FROM unnest(%(queues)s::text[]) AS qs(name)
CROSS JOIN LATERAL (
    SELECT run_at FROM jobs WHERE queue = qs.name AND run_at > pikku_now() ORDER BY run_at LIMIT 1
) AS n
"""

NEXT_DUE_IN_ALL_QUEUES = """
WITH RECURSIVE qs(name) AS (
    SELECT min(queue) FROM jobs
    UNION ALL
    SELECT (SELECT min(queue) FROM jobs WHERE queue > qs.name) FROM qs WHERE qs.name IS NOT NULL
)
SELECT min(n.run_at) - pikku_now() AS seconds
FROM qs
CROSS JOIN LATERAL (
    SELECT run_at FROM jobs WHERE queue = qs.name AND run_at > pikku_now() ORDER BY run_at LIMIT 1
) AS n
WHERE qs.name IS NOT NULL
"""

# -- dead jobs (migration 0005) -----------------------------------------------------------------------

#: Out of delivery for good, for the claim that returned the job: moved from jobs to dead_jobs in one
#: statement, with the reason and the time.
DEAD_LETTER_JOB = """
WITH dead AS (
    DELETE FROM jobs
    WHERE id = %(job_id)s AND owner = %(owner)s AND attempts = %(attempts)s AND locked_until IS NOT NULL
    RETURNING id, queue, payload, attempts, priority, dedupe_key
)
INSERT INTO dead_jobs (id, queue, payload, attempts, priority, dedupe_key, reason, died_at)
SELECT id, queue, payload, attempts, priority, dedupe_key, %(reason)s, pikku_now() FROM dead
"""

LIST_DEAD_JOBS = """
SELECT id, queue, payload, attempts, reason, died_at FROM dead_jobs
ORDER BY died_at DESC, id DESC LIMIT %(limit)s
"""

#: A dead job back on its queue, due now, with 0 deliveries and its payload, priority and key: a new job
#: (a new id, so that no claim of the dead one can ever ack, release or extend it), or, for a keyed job,
#: merged into the job waiting with its key as any enqueue is. Due now, so always announced.
RETRY_DEAD_JOB = """
WITH revived AS (
    DELETE FROM dead_jobs WHERE id = %(job_id)s
    RETURNING queue, payload, priority, dedupe_key
), job AS (
    INSERT INTO jobs (queue, payload, run_at, priority, dedupe_key)
    SELECT queue, payload, pikku_now(), priority, dedupe_key FROM revived
    ON CONFLICT (queue, dedupe_key) WHERE dedupe_key IS NOT NULL AND locked_until IS NULL
    DO UPDATE SET run_at = LEAST(jobs.run_at, EXCLUDED.run_at), priority = LEAST(jobs.priority, EXCLUDED.priority)
    RETURNING queue
)
SELECT (SELECT count(*) FROM revived) AS retried,
       (SELECT count(pg_notify(%(channel)s, queue)) FROM job) AS notices
"""

DROP_DEAD_JOB = "DELETE FROM dead_jobs WHERE id = %(job_id)s"

#: A notice on one channel (the listener's own stop channel).
NOTIFY = "SELECT pg_notify(%(channel)s, '') AS sent"
