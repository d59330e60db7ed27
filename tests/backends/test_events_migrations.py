"""Events and the statuses ``waiting``/``suspended`` on stores written by the code before them.

``data/sqlite_v4.sql`` and ``data/redis_before_events.json`` were written by the code before events (commit
94ef93b, SQLite schema version 4) through its store contract: a running run ``old-sleeping`` with a done
inline step and a durable sleep due in ten years (and its delayed orchestrator job, keyed by the run), a
failed run ``old-failed`` and a completed run ``old-done``. The PostgreSQL schema before events is version 6:
the first six packaged migrations, unchanged since, as that code ran them, with the same runs written in.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from pikku._records import NewStep
from pikku.backends import Backend, open_backend
from pikku.backends._contract import StateStore
from pikku.backends.sqlite.database import SCHEMA_VERSION as SQLITE_SCHEMA_VERSION

DATA = Path(__file__).parent / "data"
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"
ERROR_JSON = '{"message": "down", "type": "ConnectionError", "stack": "...", "code": null}'


async def _events_and_statuses_work_on_the_old_runs(state: StateStore) -> None:
    """What every upgraded store must do with the runs the old code left."""
    assert [run.run_id for run in await state.list_runs(status="running")] == ["old-sleeping"]
    assert await state.get_events("old-sleeping") == []
    assert await state.send_event("old-sleeping", "approval", '{"ok": true}', event_id="e1") == "stored"
    assert await state.send_event("old-sleeping", "approval", '{"ok": true}', event_id="e1") == "duplicate"
    assert await state.send_event("old-done", "approval", "{}") == "settled"
    await state.insert_step(
        NewStep("old-sleeping", "wait", "event", data_json='{"event": "approval"}', status="scheduled")
    )
    taken = await state.take_event("old-sleeping", "wait", "approval")
    assert taken is not None and taken.result_json == '{"ok": true}'
    steps = await state.get_steps("old-sleeping")
    assert [(name, s.form, s.status) for name, s in steps.items()] == [
        ("a", "inline", "done"),
        ("nap", "sleep", "scheduled"),
        ("wait", "event", "done"),
    ]
    _, locked = await state.lock_run("old-sleeping", "new-worker", 30)
    assert locked is not None
    await state.release_run_lock("old-sleeping", "new-worker", waiting=True)
    assert [run.run_id for run in await state.list_runs(status="waiting")] == ["old-sleeping"]
    assert await state.suspend_run("old-sleeping", "hold", '"why"') is True
    assert [run.run_id for run in await state.list_runs(status="suspended")] == ["old-sleeping"]
    assert await state.resume_run("old-sleeping") is True
    assert await state.resume_run("old-failed") is True
    assert await state.delete_runs(before=time.time() + 10, statuses=("completed", "suspended"), limit=10) == [
        "old-done"
    ]
    assert {run.run_id: run.status for run in await state.list_runs()} == {
        "old-sleeping": "running",
        "old-failed": "running",
    }


# -- SQLite ----------------------------------------------------------------------------------------------
async def test_a_version_4_sqlite_database_gets_events_and_the_new_statuses(tmp_path: Path) -> None:
    """Opening a file written before events migrates it to version 5; its runs take events, wait, suspend
    and resume, its old delayed job is still there, and pruning takes only the settled run."""
    path = tmp_path / "v4.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.executescript((DATA / "sqlite_v4.sql").read_text(encoding="utf-8"))
    backend = await open_backend(f"sqlite:///{path}")
    try:
        await _events_and_statuses_work_on_the_old_runs(backend.state)
        assert await backend.queue.count("orch") == 1
    finally:
        await backend.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SQLITE_SCHEMA_VERSION,)]


# -- PostgreSQL ------------------------------------------------------------------------------------------
@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A schema name of this test; dropped afterwards."""
    pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'pikku[postgres]')")
    from tests.conftest import require_service

    require_service("PostgreSQL", "127.0.0.1", 5432)
    import psycopg
    from psycopg import sql

    name = f"pikku_t_ev_{uuid.uuid4().hex[:10]}"
    yield name
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def _create_pg_v6(schema: str) -> None:
    """The schema as the code before events made it (migrations 1 to 6, recorded), with the old runs."""
    import psycopg
    from psycopg import sql

    from pikku.backends.postgres.database import MIGRATIONS

    now = time.time()
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn, conn.transaction():
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(schema)))
        conn.execute(
            "CREATE TABLE pikku_schema_version "
            "(version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for version, migration in MIGRATIONS[:6]:
            conn.execute(migration)
            conn.execute("INSERT INTO pikku_schema_version (version) VALUES (%s)", (version,))
        conn.execute(
            "INSERT INTO runs (run_id, workflow, status, input_json, output_json, error_json, created_at, updated_at) "
            "VALUES ('old-sleeping', 'wf', 'running', '{\"x\": 1}', NULL, NULL, %(t)s, %(t)s), "
            "('old-failed', 'wf', 'failed', '{}', NULL, %(error)s, %(t)s + 1, %(t)s + 1), "
            "('old-done', 'wf', 'completed', '{}', '\"out\"', NULL, %(t)s + 2, %(t)s + 2)",
            {"t": now - 100, "error": ERROR_JSON},
        )
        conn.execute(
            "INSERT INTO steps (run_id, name, form, status, result_json, attempts, max_attempts, wake_at, "
            "created_at, updated_at) VALUES "
            "('old-sleeping', 'a', 'inline', 'done', '\"a\"', 1, 1, NULL, %(t)s, %(t)s), "
            "('old-sleeping', 'nap', 'sleep', 'scheduled', NULL, 0, 1, %(t)s + 3e8, %(t)s, %(t)s)",
            {"t": now - 100},
        )


@pytest.mark.postgres
async def test_a_version_6_postgres_schema_gets_events_and_the_new_statuses(pg_schema: str) -> None:
    """A schema made before events upgrades on first use to version 7 (the events table) and its runs take
    events, wait, suspend and resume; pruning takes only the settled run."""
    _create_pg_v6(pg_schema)
    backend = await open_backend(f"{ADMIN_DSN}?schema={pg_schema}")
    try:
        await _events_and_statuses_work_on_the_old_runs(backend.state)
    finally:
        await backend.close()
    from pikku.backends.postgres.database import SCHEMA_VERSION

    assert SCHEMA_VERSION >= 7  # the events migration, and any after it


# -- Redis -----------------------------------------------------------------------------------------------
@pytest.fixture
async def redis_keyspace(redis_url: str) -> AsyncIterator[tuple[str, Any]]:
    """The test's Redis URL with the keyspace the code before events wrote restored under its prefix."""
    import redis.asyncio as aioredis

    from pikku.backends.redis.connection import parse_url

    prefix = parse_url(redis_url)[1]
    saved = json.loads((DATA / "redis_before_events.json").read_text(encoding="utf-8"))
    admin = aioredis.Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        for suffix, payload in saved["keys"].items():
            await admin.restore(f"{prefix}:{suffix}", 0, base64.b64decode(payload))
        yield redis_url, admin
    finally:
        await admin.aclose()


@pytest.mark.redis
async def test_a_redis_keyspace_from_before_events_gets_events_and_the_new_statuses(
    redis_keyspace: tuple[str, Any],
) -> None:
    """Runs written before events (no events hash, no waiting index) take events, wait, suspend and resume;
    pruning the old completed run deletes its keys."""
    url, admin = redis_keyspace
    backend: Backend = await open_backend(url)
    try:
        await _events_and_statuses_work_on_the_old_runs(backend.state)
        prefix = url.rsplit("prefix=", 1)[1]
        assert not await admin.exists(f"{prefix}:run:old-done")
        assert await admin.exists(f"{prefix}:ev:old-sleeping")
        assert await backend.queue.count("orch") == 1
    finally:
        await backend.close()
