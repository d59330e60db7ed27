"""The SQL backends store no attempt row for a step inserted already done (an inline step): one row and one
foreign-key check fewer per step. Its one finished attempt is read back from the step itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pikku._records import NewStep, StepAttempt
from pikku.backends import postgres, sqlite


async def _exercise(state: Any) -> None:
    await state.create_run("r1", "wf", "{}")
    done = await state.insert_step(NewStep("r1", "inline", "inline", status="done", result_json="1"))
    await state.insert_step(NewStep("r1", "local", "rpc", "f", "{}", "running", lease_owner="w", lease_s=30))
    assert await state.get_attempts("r1", "inline") == [StepAttempt(1, done.created_at, done.created_at)]
    [local] = await state.get_attempts("r1", "local")
    assert (local.attempt, local.ended_at) == (1, None)


async def test_sqlite_writes_no_attempt_row_for_a_done_insert(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    state = await sqlite.open_state(f"sqlite:///{path}")
    try:
        await _exercise(state)
        rows = state._db.fetchall("SELECT name FROM attempts WHERE run_id = 'r1' ORDER BY name")
        assert [row["name"] for row in rows] == ["local"]
    finally:
        await state.close()


async def test_postgres_writes_no_attempt_row_for_a_done_insert(pg_url: str) -> None:
    """On PostgreSQL only the step inserted claimed has an attempt row; the one inserted done has none."""
    state = await postgres.open_state(pg_url)
    try:
        await _exercise(state)
        query = "SELECT name FROM step_attempts WHERE run_id = %(run_id)s ORDER BY name"
        assert await state._db.fetchall(query, {"run_id": "r1"}) == [{"name": "local"}]
    finally:
        await state.close()
