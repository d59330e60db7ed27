"""PostgreSQL: a statement that takes the run lock reads the run's steps (or their count) in its snapshot,
while its UPDATE of the run re-checks a row that a later-committed transaction changed at its latest
version. Could a pass elsewhere that records a step and releases the lock while the statement runs leave
the lock taken with that step unseen (a replay without it, or a kept workflow going on as if it were not
there)? No: the UPDATE only waits on and re-checks a row whose snapshot version already matched, and in
the snapshot the lock is the other pass's, so the statement does not take it; the run is busy and looked
at again. These tests hold the other pass's transaction open on its own connection across the statement.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import psycopg
import pytest

from pikku._records import Enqueue, NewStep, Take
from pikku.backends.postgres import open_pair
from pikku.backends.postgres.store import PostgresStateStore
from pikku.backends.postgres.transitions import PostgresTransitions

pytestmark = pytest.mark.postgres


@pytest.fixture
async def pair(pg_url: str) -> AsyncIterator[tuple[PostgresStateStore, Any, PostgresTransitions]]:
    store, queue, transitions = await open_pair(pg_url)
    try:
        await store.create_run("r1", "wf", "{}")
        await store.insert_step(NewStep("r1", "a", "rpc", "f.x", "null", status="scheduled"))
        yield store, queue, transitions
    finally:
        await queue.close()
        await store.close()


async def _other_pass_commits_while(pg_url: str, statement: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``statement`` while pass B (holding the lock) records step ``b`` and releases the lock in a
    transaction that commits while ``statement`` runs."""
    dsn, _, query = pg_url.partition("?")
    schema = urllib.parse.parse_qs(query)["schema"][0]
    async with await psycopg.AsyncConnection.connect(dsn) as other:
        await other.execute(f'SET search_path TO "{schema}"')
        await other.execute(
            "INSERT INTO steps (run_id, name, form, status, result_json, attempts, max_attempts, created_at,"
            " updated_at) VALUES ('r1', 'b', 'inline', 'done', '1', 1, 1, pikku_now(), pikku_now())"
        )
        await other.execute("UPDATE runs SET lock_owner = NULL, lock_until = NULL WHERE run_id = 'r1'")
        task = asyncio.ensure_future(statement())
        await asyncio.sleep(0.3)  # the statement runs against the open transaction
        await other.commit()
        return await task


async def test_lock_run_does_not_take_a_lock_released_after_its_snapshot(pair: Any, pg_url: str) -> None:
    store, _, _ = pair
    assert await store.acquire_run_lock("r1", "B", 30)
    _, steps = await _other_pass_commits_while(pg_url, lambda: store.lock_run("r1", "A", 30))
    assert steps is None, f"locked with a stale step read: {sorted(steps or {})}"
    _, steps = await store.lock_run("r1", "A", 30)  # looked at again (a busy run's job is released)
    assert steps is not None and sorted(steps) == ["a", "b"]


async def test_lock_run_kept_does_not_take_a_lock_released_after_its_snapshot(pair: Any, pg_url: str) -> None:
    store, _, _ = pair
    assert await store.acquire_run_lock("r1", "B", 30)
    _, steps, _ = await _other_pass_commits_while(
        pg_url, lambda: store.lock_run_kept("r1", "A", 30, step_count=1, names=["a"])
    )
    assert steps is None, "locked with a count from before the other pass's step"
    _, steps, whole = await store.lock_run_kept("r1", "A", 30, step_count=1, names=["a"])
    assert whole is True and steps is not None and sorted(steps) == ["a", "b"]


async def test_a_settle_does_not_take_a_lock_released_after_its_snapshot(pair: Any, pg_url: str) -> None:
    store, _, transitions = pair
    assert await store.claim_step("r1", "a", "A", 30) is not None
    assert await store.acquire_run_lock("r1", "B", 30)
    handoff = Enqueue("orch", {"kind": "orchestrate", "run_id": "r1"}, key="r1")

    async def settle() -> Any:
        return await transitions.settle_step_taking(
            "r1", "a", "1", owner="A", handoff=handoff, take=Take("A", 30), lock_lease=30
        )

    settled = await _other_pass_commits_while(pg_url, settle)
    assert settled.stored is True and settled.run is None, "locked with a count from before the other pass's step"
