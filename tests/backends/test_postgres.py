"""PostgreSQL-specific behaviour: migrations, query plans, LISTEN/NOTIFY wake-ups, reconnects."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import multiprocessing
import random
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql

from pikku._errors import BackendUnavailableError, ConfigError
from pikku._records import Enqueue, NewStep
from pikku.backends.postgres import open_pair, open_queue, statements
from pikku.backends.postgres.database import MIGRATION_VERSIONS, SCHEMA_VERSION, migrate, open_database, parse_url
from pikku.backends.postgres.queue import PostgresQueue
from pikku.backends.postgres.store import PostgresStateStore

pytestmark = pytest.mark.postgres

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"
ROWS = 20_000


def quote_ident(name: str) -> str:
    """``name`` as a quoted SQL identifier (for the test's own SQL)."""
    return sql.Identifier(name).as_string()


def _admin() -> psycopg.Connection[Any]:
    return psycopg.connect(ADMIN_DSN, autocommit=True)


def _versions(schema: str) -> list[int]:
    with _admin() as conn:
        rows = conn.execute(f"SELECT version FROM {quote_ident(schema)}.pikku_schema_version ORDER BY 1")
        return [r[0] for r in rows.fetchall()]


@pytest.fixture
async def pair(pg_url: str) -> AsyncIterator[tuple[PostgresStateStore, PostgresQueue]]:
    """A state store and its co-located queue on a fresh schema."""
    state, queue, _ = await open_pair(pg_url)
    try:
        yield state, queue
    finally:
        await queue.close()
        await state.close()


# -- migrations ---------------------------------------------------------------------------------------


async def test_migrate_is_idempotent_and_versioned(pg_url: str) -> None:
    """migrate creates the schema once, records each version once, and a second run changes nothing."""
    schema = parse_url(pg_url).schema
    assert await migrate(pg_url) == SCHEMA_VERSION
    assert await migrate(pg_url) == SCHEMA_VERSION
    assert _versions(schema) == MIGRATION_VERSIONS


def _migrate_in_child(url: str, barrier: Any, out: Any) -> None:
    barrier.wait(timeout=60)
    out.put(asyncio.run(migrate(url)))


async def test_migrate_concurrently_from_three_processes(pg_url: str) -> None:
    """Three processes migrating a missing schema at once all succeed, and each version is applied once."""
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(3), ctx.Queue()
    procs = [ctx.Process(target=_migrate_in_child, args=(pg_url, barrier, out)) for _ in range(3)]
    for proc in procs:
        proc.start()
    results = [out.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    assert results == [SCHEMA_VERSION] * 3
    assert _versions(parse_url(pg_url).schema) == MIGRATION_VERSIONS


async def test_open_migrates_on_first_use(pg_url: str) -> None:
    """Opening a backend on a schema that does not exist yet creates and versions it."""
    state, queue, _ = await open_pair(pg_url)
    try:
        await state.create_run("r1", "wf", "{}")
    finally:
        await queue.close()
        await state.close()
    assert _versions(parse_url(pg_url).schema) == MIGRATION_VERSIONS


async def test_newer_schema_is_refused(pg_url: str) -> None:
    """A schema migrated by a newer pikku (higher version) is refused with a ConfigError, not touched."""
    schema = quote_ident(parse_url(pg_url).schema)
    await migrate(pg_url)
    with _admin() as conn:
        conn.execute(f"INSERT INTO {schema}.pikku_schema_version (version) VALUES (%s)", (SCHEMA_VERSION + 1,))
    with pytest.raises(ConfigError):
        await migrate(pg_url)


async def test_schema_name_needing_quotes(pg_url: str) -> None:
    """A schema name with capitals, spaces and quotes works end to end, including NOTIFY and wait."""
    schema = f'Odd "Name" {uuid.uuid4().hex[:6]}'
    url = f"{ADMIN_DSN}?schema={schema}"
    try:
        state, queue, _ = await open_pair(url)
        try:
            await state.create_run("r1", "wf", "{}")
            task = asyncio.ensure_future(queue.wait(["q"], 5))
            await asyncio.sleep(0.3)
            await queue.enqueue("q", {"a": 1})
            await asyncio.wait_for(task, 4)
            [job] = await queue.claim(["q"], owner="w", lease_s=30)
            assert job.payload == {"a": 1} and await queue.ack(job)
        finally:
            await queue.close()
            await state.close()
    finally:
        with _admin() as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {quote_ident(schema)} CASCADE")


async def test_libpq_options_with_spaces_reach_the_server(pg_url: str) -> None:
    """A libpq parameter holding a space (``options=-c name=value``) reaches the server as written: the
    URL pikku hands to libpq escapes it as %20, which libpq decodes (it would read "+" literally)."""
    db = await open_database(f"{pg_url}&options={quote('-c work_mem=5MB')}")
    db.acquire()
    try:
        assert await db.fetchone("SHOW work_mem", ()) == {"work_mem": "5MB"}
    finally:
        await db.release()


#: A schema name that, spliced into a string literal where backslashes escape quotes, ends the literal
#: early and runs SQL of its own (here a 3 s sleep), commenting out the rest of the line. It did, before
#: the NOTIFY channel became a bound parameter.
HOSTILE = "x\\' || pg_sleep(3)::text, j.queue) --"


async def test_hostile_schema_name_cannot_inject_with_standard_conforming_strings_off(pg_url: str) -> None:
    """With ``standard_conforming_strings=off`` (backslash escapes in string literals) a schema name holding
    ``\\'`` cannot end a literal early: the NOTIFY channel is a bound parameter and LISTEN an identifier,
    never text spliced into SQL. Enqueue runs nothing of the name's, and its notice reaches a waiting
    worker on the schema's channel."""
    schema = f"pikku_t_{uuid.uuid4().hex[:6]}_{HOSTILE}"
    url = f"{ADMIN_DSN}?schema={quote(schema)}&options={quote('-c standard_conforming_strings=off')}"
    try:
        state, queue, _ = await open_pair(url)
        waiting = await open_queue(url)
        try:
            setting = await state._db.fetchone("SHOW standard_conforming_strings", ())
            assert setting == {"standard_conforming_strings": "off"}
            await state.create_run("r1", "wf", "{}", handoff=Enqueue("q", {"n": 1}))
            task = asyncio.ensure_future(waiting.wait(["q2"], 5))
            await asyncio.sleep(0.3)
            started = time.monotonic()
            await queue.enqueue("q2", {"n": 2})
            assert time.monotonic() - started < 2.0  # the injected pg_sleep(3) did not run
            await asyncio.wait_for(task, 4)  # the notice went to the channel the worker listens on
            jobs = await queue.claim(None, owner="w", lease_s=30, limit=5)
            assert sorted(job.payload["n"] for job in jobs) == [1, 2]
        finally:
            await waiting.close()
            await queue.close()
            await state.close()
    finally:
        with _admin() as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


# -- query plans --------------------------------------------------------------------------------------


def _fill(schema: str) -> None:
    """ROWS runs over 50 workflows and every status, 2 steps and attempts and an event per run (every other
    one taken), ROWS jobs in 5 queues."""
    s = quote_ident(schema)
    with _admin() as conn:
        conn.execute(
            f"INSERT INTO {s}.runs (run_id, workflow, status, input_json, created_at, updated_at) "
            "SELECT 'r' || g, 'wf' || (g %% 50), "
            "(ARRAY['running','completed','completed','completed','failed','cancelled','waiting','suspended'])"
            "[1 + g %% 8], "
            "'{}', 1e9 + g, 1e9 + g FROM generate_series(1, %s) g",
            (ROWS,),
        )
        conn.execute(
            f"INSERT INTO {s}.steps (run_id, name, form, status, attempts, created_at, updated_at) "
            "SELECT 'r' || g, n, 'rpc', 'done', 1, 1e9 + g, 1e9 + g "
            "FROM generate_series(1, %s) g, unnest(ARRAY['a', 'b']) n",
            (ROWS,),
        )
        conn.execute(
            f"INSERT INTO {s}.step_attempts (run_id, name, attempt, started_at, ended_at) "
            f"SELECT run_id, name, 1, created_at, created_at FROM {s}.steps"
        )
        conn.execute(
            f"INSERT INTO {s}.jobs (queue, payload, run_at, priority) "
            "SELECT 'q' || (g %% 5), '{}', 1e9 + g, 1e9 + g %% 1000 FROM generate_series(1, %s) g",
            (ROWS,),
        )
        conn.execute(
            f"INSERT INTO {s}.events (run_id, name, payload_json, event_id, created_at, consumed_by) "
            "SELECT 'r' || g, 'approval', '{}', 'e' || g, 1e9 + g, CASE WHEN g %% 2 = 0 THEN 'w' END "
            "FROM generate_series(1, %s) g",
            (ROWS,),
        )
        conn.execute(f"ANALYZE {s}.runs, {s}.steps, {s}.step_attempts, {s}.jobs, {s}.events")


def _positional(query: str, params: Any) -> tuple[str, list[Any]]:
    """psycopg placeholders (%s, %(name)s) as PREPARE's $n, with the values in $n order."""
    if isinstance(params, dict):
        names: list[str] = []

        def named(m: re.Match[str]) -> str:
            if m.group(1) not in names:
                names.append(m.group(1))
            return f"${names.index(m.group(1)) + 1}"

        return re.sub(r"%\((\w+)\)s", named, query), [params[n] for n in names]
    counter = itertools.count(1)
    return re.sub(r"%s", lambda _: f"${next(counter)}", query), list(params)


def _plan(schema: str, query: str, params: Any, mode: str) -> str:
    """The plan the server uses for a prepared statement: custom (values known) or generic."""
    text, values = _positional(query, params)
    with _admin() as conn:
        conn.execute(f"SET search_path TO {quote_ident(schema)}")
        conn.execute(f"SET plan_cache_mode = force_{mode}_plan")
        conn.execute(f"PREPARE p AS {text}")
        args = sql.SQL(", ").join(sql.Literal(v) for v in values)
        call = sql.SQL("EXPLAIN EXECUTE p({})").format(args) if values else sql.SQL("EXPLAIN EXECUTE p")
        rows = conn.execute(call).fetchall()
    return "\n".join(r[0] for r in rows)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["custom", "generic"])
async def test_hot_queries_use_indexes(pair: tuple[PostgresStateStore, PostgresQueue], mode: str) -> None:
    """With 20k runs/steps/jobs analysed, no hot-path statement (nor a page of a prune) plans a Seq Scan,
    prepared or not."""
    state, _ = pair
    schema = state._db.cfg.schema
    _fill(schema)
    step = {"run_id": "r123", "name": "c", "form": "rpc", "rpc_name": "f", "data_json": "1", "result_json": None}
    step |= {"result_type": None, "max_attempts": 1, "wake_at": None}
    job = {"job_queue": "q1", "job_payload": "{}", "job_delay": 0.0, "job_key": "r1", "notify": True, "channel": "c"}
    settle = {"run_id": "r1", "name": "a", "status": "done", "result_json": "1", "result_type": None}
    settle |= {"wake_at": None, "error_json": None, "owner": "w"}
    ack = {"ack_job_id": 5, "ack_owner": "w", "ack_attempts": 1}
    first_page = {"before_created_at": float("inf"), "before_seq": 2**63 - 1}
    cases: dict[str, tuple[str, Any]] = {
        "get_run": (statements.GET_RUN, {"run_id": "r123"}),
        "get_steps": (statements.GET_STEPS, {"run_id": "r123"}),
        "get_step": (statements.GET_STEP, {"run_id": "r123", "name": "a"}),
        "list_runs(status)": (statements.LIST_RUNS_WITH_STATUS, {"status": "completed", "limit": 100} | first_page),
        "list_runs(workflow)": (statements.LIST_RUNS_OF_WORKFLOW, {"workflow": "wf7", "limit": 100} | first_page),
        "list_runs(workflow, status)": (
            statements.LIST_RUNS_OF_WORKFLOW_WITH_STATUS,
            {"workflow": "wf7", "status": "running", "limit": 100} | first_page,
        ),
        "list_runs()": (statements.LIST_RUNS, {"limit": 100} | first_page),
        "list_runs(before)": (
            statements.LIST_RUNS_WITH_STATUS,
            {"status": "completed", "limit": 100, "before_created_at": 1e9 + 500, "before_seq": 500},
        ),
        "claim_step": (
            statements.CLAIM_STEP,
            {"run_id": "r123", "name": "a", "owner": "w", "lease_s": 30.0, "form": None},
        ),
        "claim_step(form)": (
            statements.CLAIM_STEP,
            {"run_id": "r123", "name": "a", "owner": "w", "lease_s": 30.0, "form": "rpc"},
        ),
        "insert_step+handoff": (
            statements.INSERT_STEP_WITH_JOB,
            step | {"status": "scheduled", "lease_owner": None, "lease_s": None, "job_priority": 5.0} | job,
        ),
        "insert_step(claimed)": (
            statements.INSERT_CLAIMED_STEP,
            step | {"status": "running", "lease_owner": "w", "lease_s": 30.0},
        ),
        "complete_step+handoff": (
            statements.SETTLE_STEP_WITH_JOB,
            settle | job | {"job_priority": None, "ack_job_id": None, "ack_owner": None, "ack_attempts": None},
        ),
        "complete_step+handoff+ack": (statements.SETTLE_STEP_WITH_JOB, settle | job | {"job_priority": None} | ack),
        "complete_step+ack": (statements.SETTLE_STEP, settle | ack),
        "release_run_lock+ack": (
            statements.RELEASE_RUN_LOCK,
            {"run_id": "r123", "owner": "w", "waiting": True} | ack,
        ),
        "send_event": (
            statements.SEND_EVENT,
            {"run_id": "r123", "name": "approval", "payload_json": "{}", "event_id": "e1"},
        ),
        "send_event+wake": (
            statements.SEND_EVENT_WITH_JOB,
            {"run_id": "r123", "name": "approval", "payload_json": "{}", "event_id": None, "job_priority": 1.0} | job,
        ),
        "take_event": (statements.TAKE_EVENT, {"run_id": "r123", "step": "a", "name": "approval"}),
        "get_events": (statements.GET_EVENTS, {"run_id": "r123"}),
        "suspend_run": (statements.SUSPEND_RUN, {"run_id": "r124", "name": "hold", "data_json": "null"}),
        "mark_step_scheduled": (statements.MARK_STEP_SCHEDULED, {"run_id": "r123", "name": "a"}),
        "settle run": (
            statements.SETTLE_RUN,
            {"run_id": "r123", "status": "completed", "output_json": "1", "error_json": None, "cancel_reason": None},
        ),
        "list_children": (statements.LIST_CHILDREN, {"run_id": "r123"}),
        "acquire_run_lock": (statements.ACQUIRE_RUN_LOCK, {"run_id": "r123", "owner": "w", "lease_s": 30.0}),
        "lock_run": (statements.LOCK_RUN, {"run_id": "r124", "owner": "w", "lease_s": 30.0}),
        "get_attempts": (statements.GET_ATTEMPTS, {"run_id": "r123", "name": "a"}),
        "claim(queues)": (
            statements.CLAIM_JOBS,
            {"queues": ["q1", "q2"], "owner": "w", "lease_s": 30.0, "limit": 10},
        ),
        "claim(None)": (statements.CLAIM_JOBS_FROM_ALL_QUEUES, {"owner": "w", "lease_s": 30.0, "limit": 10}),
        "ack": (statements.ACK_JOB, {"job_id": 5, "owner": "w", "attempts": 1}),
        "enqueue(key)": (
            statements.ENQUEUE,
            {"queue": "q1", "payload": "{}", "delay": 0.0, "priority": None, "key": "k"}
            | {"notify": True, "channel": "c"},
        ),
        "release": (
            statements.RELEASE_JOB,
            {"job_id": 5, "owner": "w", "attempts": 1, "delay": 0.0, "notify": True, "channel": "c"},
        ),
        "wait: next due": (statements.NEXT_DUE, {"queues": ["q1"]}),
        # Operating runs and dead jobs: not hot, but a page of a prune must not read every run.
        "get_run_attempts": (statements.GET_RUN_ATTEMPTS, {"run_id": "r123"}),
        "resume_run": (statements.RESUME_RUN, {"run_id": "r124"}),
        "delete_runs": (
            statements.DELETE_RUNS,
            {"statuses": ["completed", "failed"], "before": 1e9 + 5000, "limit": 500},
        ),
        "dead_letter": (statements.DEAD_LETTER_JOB, {"job_id": 5, "owner": "w", "attempts": 1, "reason": "x"}),
        "retry_dead": (statements.RETRY_DEAD_JOB, {"job_id": 5, "channel": "c"}),
    }
    seq_scans = {
        name: plan
        for name, (query, params) in cases.items()
        if re.search(
            r"Seq Scan on (runs|steps|step_attempts|jobs|events)\b", plan := _plan(schema, query, params, mode)
        )
    }
    assert not seq_scans, "\n\n".join(f"{name}:\n{plan}" for name, plan in seq_scans.items())


@pytest.mark.slow
async def test_count_runs_reads_no_settled_history(pair: tuple[PostgresStateStore, PostgresQueue]) -> None:
    """The runs-by-status gauge (sampled by every worker every 30 s) on 100k settled runs: no Seq Scan of runs;
    the active statuses are exact, a settled status past COUNT_EXACT_UP_TO is the statistics' estimate."""
    state, _ = pair
    schema = state._db.cfg.schema
    s = quote_ident(schema)
    with _admin() as conn:
        conn.execute(
            f"INSERT INTO {s}.runs (run_id, workflow, status, input_json, created_at, updated_at) "
            "SELECT 'r' || g, 'wf', (ARRAY['completed','completed','completed','failed','cancelled'])[1 + g % 5], "
            "'{}', 1e9 + g, 1e9 + g FROM generate_series(1, 100000) g"
        )
        conn.execute(
            f"INSERT INTO {s}.runs (run_id, workflow, status, input_json, created_at, updated_at) "
            "SELECT 'a' || g, 'wf', (ARRAY['running','waiting','suspended'])[1 + g % 3], '{}', 2e9 + g, 2e9 + g "
            "FROM generate_series(1, 300) g"
        )
        conn.execute(f"ANALYZE {s}.runs")
    plan = _plan(schema, statements.COUNT_RUNS, {}, "custom")  # no parameters: generic and custom are one
    assert not re.search(r"Seq Scan on runs\b", plan), plan
    counts = await state.count_runs()
    assert {k: counts[k] for k in ("running", "waiting", "suspended")} == dict.fromkeys(
        ("running", "waiting", "suspended"), 100
    )
    for status, exact in {"completed": 60_000, "failed": 20_000, "cancelled": 20_000}.items():
        assert abs(counts[status] - exact) < exact * 0.1, counts


async def test_count_runs_is_exact_up_to_its_floor(pair: tuple[PostgresStateStore, PostgresQueue]) -> None:
    """Below COUNT_EXACT_UP_TO a settled status is counted exactly, analysed or not (stale statistics that
    claim many more, or none at all, change nothing); past it the figure never drops below the floor."""
    state, _ = pair
    s = quote_ident(state._db.cfg.schema)
    limit = statements.COUNT_EXACT_UP_TO
    with _admin() as conn:
        conn.execute(
            f"INSERT INTO {s}.runs (run_id, workflow, status, input_json, created_at, updated_at) "
            "SELECT 'r' || g, 'wf', 'completed', '{}', 1e9 + g, 1e9 + g FROM generate_series(1, %s) g",
            (limit,),
        )
        assert await state.count_runs() == {"completed": limit}  # never analysed: no statistics
        conn.execute(
            f"INSERT INTO {s}.runs (run_id, workflow, status, input_json, created_at, updated_at) "
            "SELECT 'f' || g, 'wf', 'failed', '{}', 1e9 + g, 1e9 + g FROM generate_series(1, %s) g",
            (limit * 3,),
        )
        conn.execute(f"ANALYZE {s}.runs")
        conn.execute(f"DELETE FROM {s}.runs WHERE status = 'failed' AND run_id > 'f1'")  # statistics now stale
        assert await state.count_runs() == {"completed": limit, "failed": 1}
        conn.execute(f"DELETE FROM {s}.runs")
        conn.execute(
            f"INSERT INTO {s}.runs (run_id, workflow, status, input_json, created_at, updated_at) "
            "SELECT 'c' || g, 'wf', 'cancelled', '{}', 1e9 + g, 1e9 + g FROM generate_series(1, %s) g",
            (limit + 5,),
        )
        assert await state.count_runs() == {"cancelled": limit + 1}  # statistics know no cancelled runs


# -- keyed jobs -----------------------------------------------------------------------------------------


async def test_concurrent_keyed_enqueues_make_one_job(pg_url: str) -> None:
    """Twenty enqueues with one key at once, on four connections, leave one job, and all return its id."""
    queue = await open_queue(f"{pg_url}&pool_min=4&pool_max=4")
    try:
        ids = await asyncio.gather(*(queue.enqueue("q", {"n": n}, key="k") for n in range(20)))
        assert len(set(ids)) == 1
        assert await queue.count("q") == 1
    finally:
        await queue.close()


async def test_a_released_keyed_job_waits_again_as_itself(pair: tuple[PostgresStateStore, PostgresQueue]) -> None:
    """Released with no other job of its key waiting, a keyed job is back with its id, payload, attempts and
    priority; the next enqueue with its key merges into it."""
    _, queue = pair
    job_id = await queue.enqueue("q", {"n": 1}, priority=7.0, key="k")
    [claimed] = await queue.claim(["q"], owner="w", lease_s=30)
    assert await queue.release(claimed)
    assert await queue.enqueue("q", {"n": 2}, priority=9.0, key="k") == job_id
    await queue.enqueue("q", {"n": "other"}, priority=8.0)
    [again] = await queue.claim(["q"], owner="w", lease_s=30)  # priority 7 still: ahead of the other
    assert (again.id, again.payload, again.attempts) == (job_id, {"n": 1}, 2)
    assert await queue.count("q") == 2


# -- LISTEN/NOTIFY ------------------------------------------------------------------------------------


async def test_enqueue_elsewhere_ends_wait_early(pg_url: str) -> None:
    """A job enqueued through another connection ends a 5 s wait well before its timeout."""
    waiting, other = await open_queue(pg_url), await open_queue(pg_url)
    try:
        task = asyncio.ensure_future(waiting.wait(["q"], 5.0))
        await asyncio.sleep(0.3)
        assert not task.done()
        await other.enqueue("q", {})
        await asyncio.wait_for(task, 4.0)
    finally:
        await other.close()
        await waiting.close()


async def test_wait_ignores_other_queues(pair: tuple[PostgresStateStore, PostgresQueue]) -> None:
    """A notice for another queue does not end a wait on "q"; one for "q" does."""
    _, queue = pair
    task = asyncio.ensure_future(queue.wait(["q"], 5.0))
    await asyncio.sleep(0.3)
    await queue.enqueue("elsewhere", {})
    await asyncio.sleep(0.3)
    assert not task.done()
    await queue.enqueue("q", {})
    await asyncio.wait_for(task, 4.0)


async def test_wait_wakes_when_delayed_job_falls_due(pair: tuple[PostgresStateStore, PostgresQueue]) -> None:
    """No notice marks a delayed job falling due, so wait sleeps no longer than until its run_at."""
    _, queue = pair
    await queue.enqueue("q", {}, delay=0.5)
    await queue.claim(["q"], owner="w", lease_s=30)  # consumes the enqueue's own notice
    await asyncio.wait_for(queue.wait(["q"], 30.0), 10.0)
    assert len(await queue.claim(["q"], owner="w", lease_s=30)) == 1


async def test_handoff_notifies_on_commit(pg_url: str) -> None:
    """complete_step with a hand-off wakes a worker waiting on the hand-off queue in another process."""
    state, _queue, _ = await open_pair(pg_url)
    waiting = await open_queue(pg_url)
    try:
        await state.create_run("r1", "wf", "{}")
        await state.insert_step(NewStep("r1", "s", "rpc"))
        task = asyncio.ensure_future(waiting.wait(["orchestrator"], 5.0))
        await asyncio.sleep(0.3)
        assert await state.complete_step("r1", "s", "1", handoff=Enqueue("orchestrator", {"run_id": "r1"}))
        await asyncio.wait_for(task, 4.0)
        [job] = await waiting.claim(["orchestrator"], owner="w", lease_s=30)
        assert job.payload == {"run_id": "r1"}
    finally:
        await waiting.close()
        await _queue.close()
        await state.close()


# -- connection loss ----------------------------------------------------------------------------------


def _terminate(app: str) -> int:
    with _admin() as conn:
        row = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = 'test' AND application_name = %s AND pid <> pg_backend_pid()",
            (app,),
        ).fetchone()
    return int(row[0]) if row else 0


async def test_operations_survive_terminated_connections(pg_url: str) -> None:
    """After the server kills every pooled and listening connection, the next operations just work."""
    app = f"pikku_t_{uuid.uuid4().hex[:8]}"
    url = f"{pg_url}&application_name={app}&pool_min=3"
    state, queue, _ = await open_pair(url)
    try:
        await state.create_run("r1", "wf", "{}")
        await queue.wait(["q"], 0.1)  # starts the listener connection
        assert _terminate(app) >= 2
        await state.create_run("r2", "wf", "{}")
        assert (await state.get_run("r1")).status == "running"
        await queue.enqueue("q", {"n": 1})
        [job] = await queue.claim(["q"], owner="w", lease_s=30)
        assert await queue.ack(job)
        # The listener came back on its own: a notice ends a long wait again.
        task = asyncio.ensure_future(queue.wait(["q"], 5.0))
        await asyncio.sleep(0.5)
        other = await open_queue(pg_url)
        try:
            await other.enqueue("q", {"n": 2})
        finally:
            await other.close()
        await asyncio.wait_for(task, 4.0)
    finally:
        await queue.close()
        await state.close()


async def test_unreachable_server_is_backend_unavailable() -> None:
    """A server that cannot be reached raises BackendUnavailableError (coded, retryable), not a driver error."""
    with pytest.raises(BackendUnavailableError):
        await open_pair("postgresql://postgres@127.0.0.1:1/test?schema=nowhere")


# -- cancellation -------------------------------------------------------------------------------------


async def test_cancelled_calls_never_lose_pooled_connections(pg_url: str) -> None:
    """200 store/queue calls cancelled at random points leave every pooled connection usable, at once."""
    state, queue, _ = await open_pair(f"{pg_url}&pool_min=2&pool_max=4&pool_timeout=3")
    pool = state._db.pool
    try:
        await state.create_run("r1", "wf", "{}")
        await state.insert_step(NewStep("r1", "s", "rpc", "f"))
        await queue.enqueue("q", {"n": 1}, delay=60)
        calls = [
            lambda: state.get_run("r1"),
            lambda: state.claim_step("r1", "s", "w", 0.01),
            lambda: queue.claim(["q"], owner="w", lease_s=30),
            lambda: queue.wait(["q"], 0.05),
            lambda: queue.wait(None, 0.05),
        ]
        rng, loop = random.Random(7), asyncio.get_running_loop()
        tasks = [asyncio.ensure_future(calls[n % len(calls)]()) for n in range(200)]  # many pool waiters
        for task in tasks:
            loop.call_later(rng.uniform(0, 0.005), task.cancel)
        await asyncio.wait(tasks, timeout=10)
        # Background next-due probes hand their connections back in their own time (a loaded box: longer).
        stats = pool.get_stats()
        for _ in range(100):
            if stats.get("requests_waiting", 0) == 0 and stats["pool_available"] == stats["pool_size"]:
                break
            await asyncio.sleep(0.05)
            stats = pool.get_stats()
        assert stats.get("requests_waiting", 0) == 0
        assert stats["pool_available"] == stats["pool_size"]  # every connection back in the pool, idle
        # A lost connection would leave callers waiting for the pool's 3 s timeout (PoolTimeout): all 16 served.
        runs = await asyncio.gather(*(state.get_run("r1") for _ in range(4 * 4)))
        assert all(run.run_id == "r1" for run in runs)
    finally:
        await queue.close()
        await state.close()


async def test_a_caller_cancelled_while_its_connection_goes_back_loses_no_connection(pg_url: str) -> None:
    """psycopg_pool's putconn can wait (its lock) and a cancellation there loses the connection for good;
    pikku returns connections in a task of its own, so a caller cancelled just then loses nothing."""
    db = await open_database(f"{pg_url}&pool_min=1&pool_max=1&pool_timeout=1")
    db.acquire()
    real_putconn = db.pool.putconn

    async def slow_putconn(conn: Any) -> None:
        await asyncio.sleep(0.2)  # where the pool waits for its lock when many return at once
        await real_putconn(conn)

    db.pool.putconn = slow_putconn  # type: ignore[method-assign]
    try:
        caller = asyncio.ensure_future(db.fetchone("SELECT 1 AS one", ()))
        await asyncio.sleep(0.1)  # the statement is done; its connection is on its way back
        caller.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await caller
        assert await asyncio.wait_for(db.fetchone("SELECT 2 AS two", ()), 2.0) == {"two": 2}
    finally:
        db.pool.putconn = real_putconn  # type: ignore[method-assign]
        await db.release()


async def test_a_cancelled_caller_leaves_its_connection_usable(pg_url: str) -> None:
    """Cancelling a caller mid-statement raises CancelledError to it promptly; psycopg cancels the statement
    on the server and the one connection of the pool is idle and usable again at once."""
    db = await open_database(f"{pg_url}&pool_min=1&pool_max=1&pool_timeout=3")
    db.acquire()
    finished: list[bool] = []

    async def slow(conn: Any) -> None:
        await conn.execute("SELECT pg_sleep(5)")
        finished.append(True)

    async def one(conn: Any) -> int:
        cur = await conn.execute("SELECT 1")
        row = await cur.fetchone()
        return int(row[0])

    try:
        caller = asyncio.ensure_future(db.run(slow))
        await asyncio.sleep(0.2)
        started = time.monotonic()
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        assert time.monotonic() - started < 3.0  # not the 5 s of the statement
        assert finished == []
        assert await asyncio.wait_for(db.run(one), 2.0) == 1  # the only connection serves the next call
        stats = db.pool.get_stats()
        assert stats["pool_available"] == stats["pool_size"] == 1
    finally:
        await db.release()


async def test_pool_timeout_is_backend_unavailable_without_retry(pg_url: str) -> None:
    """An exhausted pool raises BackendUnavailableError after one pool timeout, not after a retried second."""
    state = PostgresStateStore(await open_database(f"{pg_url}&pool_min=1&pool_max=1&pool_timeout=0.5"))
    try:
        await state.create_run("r1", "wf", "{}")
        async with state._db.pool.connection():
            started = time.monotonic()
            with pytest.raises(BackendUnavailableError):
                await state.get_run("r1")
            assert time.monotonic() - started < 0.9
        assert (await state.get_run("r1")).run_id == "r1"
    finally:
        await state.close()
