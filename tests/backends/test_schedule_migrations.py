"""Schedules on stores made by the code before them (commit 94ef93b): SQLite migration 0007, PostgreSQL
migration 0009, and Redis's additive ``P:sched:<name>`` hashes.

``data/sqlite_v4_before_schedules.sql`` is the SQL dump of a database that code wrote (schema version 4) and
``data/redis_before_schedules.json`` the DUMP payloads of every key it wrote under one prefix: each holds a
completed tick run (``report@2026-01-01T03:00:00Z``), a running run and a waiting keyed job. The PostgreSQL
schema is made by that code's migrations, the files numbered up to 6 (released files are never edited).
"""

from __future__ import annotations

import base64
import json
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pikku._records import ScheduleState
from pikku.backends import Backend, open_backend

DATA = Path(__file__).parent / "data"
PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_DSN = "redis://127.0.0.1:6379/0"
OLD_TICK_RUN = "report@2026-01-01T03:00:00Z"
TICK = 1_767_236_400.0  # 2026-01-01 03:00 UTC


async def _schedules_work_beside_the_old_data(backend: Backend) -> None:
    state, queue = backend.state, backend.queue
    assert await state.get_schedule("report") == ScheduleState("report")
    assert await state.advance_schedule("report", expected=None, tick=TICK, run_id=OLD_TICK_RUN) is True
    assert await state.set_schedule_paused("report", True) is True
    assert await state.get_schedule("report") == ScheduleState("report", TICK, OLD_TICK_RUN, True)
    assert (await state.get_run(OLD_TICK_RUN)).output_json == '"ok"'
    assert [run.run_id for run in await state.list_runs(status="running")] == ["live"]
    [job] = await queue.claim(["orch"], owner="new-worker", lease_s=30)
    assert job.payload == {"run_id": "live"}


async def test_a_version_4_sqlite_database_gets_schedules(tmp_path: Path) -> None:
    """Opening the file the previous code wrote adds the schedules table (migration 0007): schedules are
    stored and read beside the old runs and jobs, which read as before."""
    path = tmp_path / "v4.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.executescript((DATA / "sqlite_v4_before_schedules.sql").read_text(encoding="utf-8"))
    backend = await open_backend(f"sqlite:///{path}")
    try:
        await _schedules_work_beside_the_old_data(backend)
    finally:
        await backend.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT name, paused FROM schedules").fetchall() == [("report", 1)]


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A schema name of this test, dropped afterwards."""
    psycopg = pytest.importorskip("psycopg")
    from tests.conftest import require_service

    require_service("PostgreSQL", "127.0.0.1", 5432)
    name = f"pikku_t_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def _pg_schema_before_schedules(schema: str) -> None:
    """The schema as the previous code made it (its migrations 1..6), holding its runs and a keyed job."""
    import psycopg

    from pikku.backends.postgres.database import MIGRATIONS

    with psycopg.connect(PG_DSN, autocommit=True) as conn, conn.transaction():
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute(f'SET LOCAL search_path TO "{schema}"')
        conn.execute("CREATE TABLE pikku_schema_version (version integer PRIMARY KEY, applied_at timestamptz)")
        for version, script in MIGRATIONS:
            if version <= 6:
                conn.execute(script)
                conn.execute("INSERT INTO pikku_schema_version (version) VALUES (%s)", (version,))
        conn.execute(
            "INSERT INTO runs (run_id, workflow, status, input_json, output_json, created_at, updated_at) "
            "VALUES (%s, 'report', 'completed', '{}', '\"ok\"', 1, 2), ('live', 'report', 'running', '{}', NULL, 3, 3)",
            (OLD_TICK_RUN,),
        )
        conn.execute(
            "INSERT INTO jobs (queue, payload, run_at, priority, dedupe_key) "
            "VALUES ('orch', '{\"run_id\": \"live\"}', 1, 1, 'live')"
        )


@pytest.mark.postgres
async def test_a_postgres_schema_from_before_schedules_gets_them(pg_schema: str) -> None:
    """A schema at version 6 is upgraded on first use (migration 0009, recorded as applied): schedules are
    stored and read beside the old runs and jobs."""
    import psycopg

    _pg_schema_before_schedules(pg_schema)
    backend = await open_backend(f"{PG_DSN}?schema={pg_schema}")
    try:
        await _schedules_work_beside_the_old_data(backend)
    finally:
        await backend.close()
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        versions = conn.execute(f'SELECT version FROM "{pg_schema}".pikku_schema_version ORDER BY 1').fetchall()
    assert [v for (v,) in versions][-1] == 9


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test; its keys are deleted afterwards."""
    redis = pytest.importorskip("redis")
    from tests.conftest import require_service

    require_service("Redis", "127.0.0.1", 6379)
    prefix = f"pikku_t_{uuid.uuid4().hex[:12]}"
    yield prefix
    client = redis.Redis.from_url(REDIS_DSN)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.mark.redis
async def test_a_redis_keyspace_from_before_schedules_gets_them(redis_prefix: str) -> None:
    """The keys the previous code wrote, restored under this test's prefix: the schedule hashes are added
    beside them (no other key changes shape), and the old runs and job read as before."""
    import redis

    saved = json.loads((DATA / "redis_before_schedules.json").read_text(encoding="utf-8"))
    client = redis.Redis.from_url(REDIS_DSN)
    try:
        for suffix, payload in saved["keys"].items():
            client.restore(f"{redis_prefix}:{suffix}", 0, base64.b64decode(payload))
        backend = await open_backend(f"{REDIS_DSN}?prefix={redis_prefix}")
        try:
            await _schedules_work_beside_the_old_data(backend)
        finally:
            await backend.close()
        assert client.hgetall(f"{redis_prefix}:sched:report") == {
            b"last": repr(TICK).encode(),
            b"run": OLD_TICK_RUN.encode(),
            b"paused": b"1",
        }
    finally:
        client.close()
