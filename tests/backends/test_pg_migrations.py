"""PostgreSQL schema upgrades: a database made by an older pikku migrates in place and keeps its data."""

from __future__ import annotations

import importlib.resources
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'pikku[postgres]')")

from psycopg import sql  # noqa: E402

from pikku._records import ErrorInfo, StepAttempt  # noqa: E402
from pikku.backends.postgres import open_pair  # noqa: E402
from pikku.backends.postgres.database import MIGRATION_VERSIONS, MIGRATIONS, SCHEMA_VERSION, migrate  # noqa: E402

pytestmark = pytest.mark.postgres

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"
ERROR = ErrorInfo(message="down", type="ConnectionError", stack="...", code=None)
ERROR_JSON = '{"message": "down", "type": "ConnectionError", "stack": "...", "code": null}'
SCHEMA_V2 = Path(__file__).parent / "data" / "postgres_schema_v2.sql"
SCHEMA_V4 = Path(__file__).parent / "data" / "postgres_schema_v4.sql"
#: Migrations 1 to 6: the schema of the code before child runs (commit 94ef93b).
BEFORE_CHILD_RUNS = [script for _, script in MIGRATIONS[:6]]


def _admin() -> Any:
    return psycopg.connect(ADMIN_DSN, autocommit=True)


@pytest.fixture
def schemas() -> Iterator[list[str]]:
    """Names for schemas of this test; every one is dropped afterwards."""
    names = [f"pikku_t_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    yield names
    with _admin() as conn:
        for name in names:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def _create_v2(schema: str) -> None:
    """The schema as the code before keyed jobs made it, with a run, a waiting job and a claimed job."""
    with _admin() as conn:
        conn.execute(sql.SQL(SCHEMA_V2.read_text()).format(s=sql.Identifier(schema)))
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        conn.execute(
            "INSERT INTO runs (run_id, workflow, status, input_json, created_at, updated_at) "
            "VALUES ('r1', 'wf', 'running', '{}', 1, 1)"
        )
        conn.execute(
            "INSERT INTO jobs (queue, payload, run_at, priority) VALUES ('q', '{\"n\": 1}', 1, 1), ('q', '{}', 1, 1)"
        )
        conn.execute("UPDATE jobs SET owner = 'old', attempts = 1, locked_until = 1e12 WHERE payload = '{}'")


def _create_v4(schema: str) -> None:
    """The schema as the code before dead jobs made it, holding runs of each kind with their steps and
    attempts (times in 1970: long settled), a waiting keyed job and a job another worker holds."""
    with _admin() as conn, conn.transaction():
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(schema)))
        conn.execute(SCHEMA_V4.read_text())
        conn.execute(
            "INSERT INTO runs (run_id, workflow, status, input_json, output_json, error_json, created_at, updated_at) "
            "VALUES ('done', 'wf', 'completed', '{}', '1', NULL, 1, 2), "
            "('failed', 'wf', 'failed', '{}', NULL, %(error)s, 3, 4), "
            "('live', 'wf', 'running', '{}', NULL, NULL, 5, 5)",
            {"error": ERROR_JSON},
        )
        conn.execute(
            "INSERT INTO steps (run_id, name, form, status, result_json, error_json, attempts, max_attempts, "
            "created_at, updated_at) VALUES ('done', 'a', 'rpc', 'done', '1', NULL, 1, 1, 1, 2), "
            "('failed', 'ok', 'inline', 'done', '2', NULL, 1, 1, 3, 3), "
            "('failed', 'pay', 'rpc', 'failed', NULL, %(error)s, 2, 2, 3, 4)",
            {"error": ERROR_JSON},
        )
        conn.execute(
            "INSERT INTO step_attempts (run_id, name, attempt, started_at, ended_at, error_json) "
            "VALUES ('done', 'a', 1, 1, 2, NULL), ('failed', 'pay', 1, 3, 3.5, %(error)s), "
            "('failed', 'pay', 2, 3.5, 4, %(error)s)",
            {"error": ERROR_JSON},
        )
        conn.execute(
            "INSERT INTO jobs (queue, payload, run_at, priority, dedupe_key) "
            "VALUES ('orch', '{\"run_id\": \"live\"}', 5, 5, 'live'), ('steps', '{\"n\": 1}', 5, 5, NULL)"
        )
        conn.execute("UPDATE jobs SET owner = 'old', attempts = 1, locked_until = 1e12 WHERE queue = 'steps'")


def _shape(schema: str) -> dict[str, Any]:
    """Columns (name, type, nullability, default) and index definitions of ``schema``, schema name removed."""
    with _admin() as conn:
        columns = conn.execute(
            "SELECT table_name, column_name, data_type, is_nullable, column_default, is_identity "
            "FROM information_schema.columns WHERE table_schema = %s ORDER BY 1, 2",
            (schema,),
        ).fetchall()
        indexes = conn.execute(
            "SELECT indexname, replace(indexdef, quote_ident(schemaname) || '.', '') "
            "FROM pg_indexes WHERE schemaname = %s ORDER BY 1",
            (schema,),
        ).fetchall()
        options = conn.execute(
            "SELECT relname, reloptions FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE nspname = %s AND relkind = 'r' ORDER BY 1",
            (schema,),
        ).fetchall()
    return {"columns": columns, "indexes": indexes, "options": options}


async def test_a_schema_made_before_keyed_jobs_upgrades_in_place(schemas: list[str]) -> None:
    """A version-2 schema, as the previous code created it, is upgraded on first use: every later
    migration is applied once, its jobs survive (the waiting one is claimed, the claimed one stays
    leased to its owner), and keyed enqueues work on it."""
    old = schemas[0]
    _create_v2(old)
    state, queue, _ = await open_pair(f"{ADMIN_DSN}?schema={old}")
    try:
        with _admin() as conn:
            versions = conn.execute(
                sql.SQL("SELECT version FROM {} ORDER BY 1").format(sql.Identifier(old, "pikku_schema_version"))
            ).fetchall()
        assert [v for (v,) in versions] == MIGRATION_VERSIONS
        assert (await state.get_run("r1")).status == "running"
        assert await queue.count("q") == 2
        first = await queue.enqueue("q", {"n": 2}, key="k")
        assert await queue.enqueue("q", {"n": 3}, key="k") == first
        jobs = await queue.claim(["q"], owner="w", lease_s=30, limit=5)
        assert [job.payload for job in jobs] == [{"n": 1}, {"n": 2}]  # not the one "old" holds
    finally:
        await queue.close()
        await state.close()


async def test_an_upgraded_schema_is_the_schema_a_fresh_install_makes(schemas: list[str]) -> None:
    """Upgrading the previous code's schema and migrating an empty one end with the same tables, columns,
    indexes and storage options: there is one schema, whichever way a database got there."""
    old, fresh = schemas
    _create_v2(old)
    assert await migrate(f"{ADMIN_DSN}?schema={old}") == SCHEMA_VERSION
    assert await migrate(f"{ADMIN_DSN}?schema={fresh}") == SCHEMA_VERSION
    assert _shape(old) == _shape(fresh)


async def test_a_schema_made_before_dead_jobs_upgrades_in_place_and_keeps_its_data(schemas: list[str]) -> None:
    """A version-4 schema with runs, steps, attempts and jobs is upgraded on first use (dead jobs, the
    prune index): its runs, steps, attempts and jobs are all there, and the operations the upgrade serves
    work on them (run attempts, resume, prune, dead-lettering and retrying a job)."""
    old = schemas[0]
    _create_v4(old)
    state, queue, _ = await open_pair(f"{ADMIN_DSN}?schema={old}")
    try:
        with _admin() as conn:
            versions = conn.execute(
                sql.SQL("SELECT version FROM {} ORDER BY 1").format(sql.Identifier(old, "pikku_schema_version"))
            ).fetchall()
        assert [v for (v,) in versions] == MIGRATION_VERSIONS
        assert (await state.get_run("failed")).error == ERROR
        assert await state.get_run_attempts("failed") == {
            "ok": [StepAttempt(1, 3.0, 3.0)],
            "pay": [StepAttempt(1, 3.0, 3.5, ERROR), StepAttempt(2, 3.5, 4.0, ERROR)],
        }
        assert await state.resume_run("failed") is True
        pay = await state.get_step("failed", "pay")
        assert (pay.status, pay.attempts, pay.max_attempts) == ("pending", 2, 4)
        assert await state.delete_runs(before=10.0, statuses=("completed", "failed"), limit=10) == ["done"]
        assert {r.run_id for r in await state.list_runs()} == {"failed", "live"}

        assert await queue.count() == 2
        waiting = await queue.enqueue("orch", {"run_id": "again"}, key="live")  # merges into the old job
        [job] = await queue.claim(None, owner="w", lease_s=30)  # not the one "old" holds
        assert (job.id, job.payload) == (waiting, {"run_id": "live"})
        assert await queue.dead_letter(job, "bad") is True
        assert [(d.id, d.reason) for d in await queue.list_dead()] == [(waiting, "bad")]
        assert await queue.count() == 1
        assert await queue.retry_dead(waiting) is True
        assert await queue.count() == 2 and await queue.list_dead() == []
    finally:
        await queue.close()
        await state.close()


async def test_a_schema_upgraded_from_version_4_is_the_schema_a_fresh_install_makes(schemas: list[str]) -> None:
    """From the previous code's schema (version 4) the upgrade ends with the tables, columns, indexes and
    storage options of a fresh install."""
    old, fresh = schemas
    _create_v4(old)
    assert await migrate(f"{ADMIN_DSN}?schema={old}") == SCHEMA_VERSION
    assert await migrate(f"{ADMIN_DSN}?schema={fresh}") == SCHEMA_VERSION
    assert _shape(old) == _shape(fresh)


def test_migrations_ship_as_package_data() -> None:
    """The migrations are .sql files inside the package (so in the wheel), numbered from 1 to SCHEMA_VERSION
    without a repeated number (numbers may skip: they are handed out to parallel work)."""
    folder = importlib.resources.files("pikku.backends.postgres").joinpath("migrations")
    names = sorted(f.name for f in folder.iterdir() if f.name.endswith(".sql"))
    numbers = [int(name.split("_", 1)[0]) for name in names]
    assert numbers == MIGRATION_VERSIONS == sorted(set(numbers)) and numbers[0] == 1 and numbers[-1] == SCHEMA_VERSION


def _create_v6(schema: str) -> None:
    """The schema as the code before child runs made it (version 6, commit 94ef93b: migrations 1 to 6 are
    append-only, so they are that code's own), holding a running run with a done step, a failed run whose
    rpc step failed, a cancelled and a completed run, written with that code's columns."""
    with _admin() as conn, conn.transaction():
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(schema)))
        conn.execute(
            "CREATE TABLE pikku_schema_version ("
            " version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for version, script in enumerate(BEFORE_CHILD_RUNS, start=1):
            conn.execute(script)
            conn.execute("INSERT INTO pikku_schema_version (version) VALUES (%s)", (version,))
        conn.execute(
            "INSERT INTO runs (run_id, workflow, status, input_json, output_json, error_json, created_at, updated_at) "
            "VALUES ('old-live', 'wf', 'running', '{}', NULL, NULL, 1, 1), "
            "('old-failed', 'wf', 'failed', '{}', NULL, %(error)s, 2, 3), "
            "('old-cancelled', 'wf', 'cancelled', '{}', NULL, NULL, 4, 5), "
            "('old-done', 'wf', 'completed', '{}', '\"ok\"', NULL, 6, 7)",
            {"error": ERROR_JSON},
        )
        conn.execute(
            "INSERT INTO steps (run_id, name, form, status, result_json, error_json, attempts, max_attempts, "
            "created_at, updated_at) VALUES ('old-live', 'a', 'inline', 'done', '\"a\"', NULL, 1, 1, 1, 1), "
            "('old-failed', 'pay', 'rpc', 'failed', NULL, %(error)s, 1, 1, 2, 3)",
            {"error": ERROR_JSON},
        )


async def test_a_schema_made_before_child_runs_upgrades_in_place(schemas: list[str]) -> None:
    """A version-6 schema is upgraded on first use (migrations 7 and 8 applied once): its runs read as
    having no parent, fork, cancel reason or resume; a child of an old run is listed through the new
    index; cancel keeps its reason; resume counts; pruning still works."""
    old = schemas[0]
    _create_v6(old)
    state, queue, _ = await open_pair(f"{ADMIN_DSN}?schema={old}")
    try:
        live = await state.get_run("old-live")
        assert (live.parent_run_id, live.forked_from, live.cancel_reason, live.resumes) == (None, None, None, 0)
        assert await state.list_children("old-live") == []
        await state.create_run("old-live/kid", "wf", "{}", parent_run_id="old-live")
        assert [r.run_id for r in await state.list_children("old-live")] == ["old-live/kid"]
        assert await state.resume_run("old-failed") is True
        resumed = await state.get_run("old-failed")
        assert (resumed.status, resumed.resumes, (await state.get_step("old-failed", "pay")).status) == (
            "running",
            1,
            "pending",
        )
        assert await state.cancel_run("old-live", "after the upgrade") is True
        assert (await state.get_run("old-live")).cancel_reason == "after the upgrade"
        assert (await state.get_run("old-cancelled")).cancel_reason is None
        assert await state.delete_runs(before=1e12, statuses=("completed",), limit=10) == ["old-done"]
        with _admin() as conn:
            versions = conn.execute(
                sql.SQL("SELECT version FROM {} ORDER BY 1").format(sql.Identifier(old, "pikku_schema_version"))
            ).fetchall()
        assert [v for (v,) in versions] == list(range(1, SCHEMA_VERSION + 1))
    finally:
        await queue.close()
        await state.close()
