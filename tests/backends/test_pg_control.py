"""PostgreSQL: operating runs and dead jobs against writers in other transactions (a resume and a prune
meeting on one run, racing retries of a dead job), and keyed jobs brought back from the dead."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pikku._errors import RunNotFoundError
from pikku._records import ErrorInfo, NewStep
from pikku.backends.postgres import open_pair, statements
from pikku.backends.postgres.queue import PostgresQueue
from pikku.backends.postgres.store import PostgresStateStore

pytestmark = pytest.mark.postgres

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"
ERR = ErrorInfo(message="down", type="ConnectionError", stack="...", code=None)
SLACK = 1.0

Pair = tuple[PostgresStateStore, PostgresQueue, str]


@pytest.fixture
async def pair(pg_url: str) -> AsyncIterator[Pair]:
    """A store and its queue on a fresh schema, their connections named so a test can see them wait."""
    app = f"pikku_t_{uuid.uuid4().hex[:8]}"
    state, queue, _ = await open_pair(f"{pg_url}&application_name={app}&pool_max=8")
    try:
        yield state, queue, app
    finally:
        await queue.close()
        await state.close()


def _writer(state: PostgresStateStore) -> psycopg.Connection[Any]:
    """A connection of "another process" on the store's schema, in a transaction until it commits."""
    conn = psycopg.connect(ADMIN_DSN)
    conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(state._db.cfg.schema)))
    conn.commit()
    return conn


def _count(state: PostgresStateStore, table: str, run_ids: list[str]) -> int:
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        query = sql.SQL("SELECT count(*) FROM {} WHERE run_id = ANY(%s)")
        row = conn.execute(query.format(sql.Identifier(state._db.cfg.schema, table)), (run_ids,)).fetchone()
    return int(row[0]) if row else 0


async def _until_blocked(app: str) -> None:
    """Until one of the pool's connections waits for a row lock another transaction holds."""
    deadline = time.monotonic() + 10
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND wait_event_type = 'Lock'",
                (app,),
            ).fetchone()
            if row and row[0]:
                return
            await asyncio.sleep(0.02)
    raise AssertionError("the statement never waited for the other transaction's lock")


async def _failed_run(state: PostgresStateStore, run_id: str) -> None:
    """A failed run with a done step and a failed rpc step of two attempts."""
    await state.create_run(run_id, "wf", "{}")
    await state.insert_step(NewStep(run_id, "ok", "inline", None, None, "done", 1, result_json="1"))
    await state.insert_step(NewStep(run_id, "pay", "rpc", "pay.charge", "{}", "pending", 2))
    for retry_at in (time.time(), None):
        assert await state.claim_step(run_id, "pay", "w", 30) is not None
        assert await state.fail_step(run_id, "pay", ERR, owner="w", retry_at=retry_at)
    assert await state.fail_run(run_id, ERR)


# -- resume and prune on one run ---------------------------------------------------------------------


async def test_a_prune_waiting_on_a_resume_keeps_the_resumed_run(pair: Pair) -> None:
    """A prune that picked a failed run which another transaction is resuming waits for it, then tests the
    run again: now running, it is kept with all its steps and attempts; the others of its page go, with
    theirs."""
    state, _, app = pair
    for run_id in ("r1", "r2", "r3"):
        await _failed_run(state, run_id)
    with _writer(state) as writer:
        assert writer.execute(statements.RESUME_RUN, {"run_id": "r2"}).fetchone() == (1,)
        prune = asyncio.ensure_future(state.delete_runs(before=time.time() + SLACK, statuses=("failed",), limit=10))
        await _until_blocked(app)
        writer.commit()
    assert await prune == ["r1", "r3"]
    assert (await state.get_run("r2")).status == "running"
    assert (await state.get_step("r2", "pay")).status == "pending"
    assert [a.attempt for a in (await state.get_run_attempts("r2"))["pay"]] == [1, 2]
    assert _count(state, "steps", ["r1", "r3"]) == _count(state, "step_attempts", ["r1", "r3"]) == 0


async def test_a_resume_waiting_on_a_prune_finds_the_run_gone(pair: Pair) -> None:
    """A resume of a run another transaction is deleting waits for it and then reports the run missing:
    it never brings back part of a deleted run."""
    state, _, app = pair
    await _failed_run(state, "r1")
    params = {"statuses": ["failed"], "before": time.time() + SLACK, "limit": 10}
    with _writer(state) as writer:
        assert writer.execute(statements.DELETE_RUNS, params).fetchall() == [("r1",)]
        resume = asyncio.ensure_future(state.resume_run("r1"))
        await _until_blocked(app)
        writer.commit()
    with pytest.raises(RunNotFoundError):
        await resume
    assert _count(state, "steps", ["r1"]) == 0


async def test_racing_resumes_and_prunes_never_delete_a_running_run(pair: Pair) -> None:
    """Resumes of 30 failed runs racing prunes of failed runs: each run ends either resumed (running, all
    its steps and attempts kept) or deleted (nothing of it left), never both; each resume applies once."""
    state, _, _ = pair
    run_ids = [f"r{n:02}" for n in range(30)]
    for run_id in run_ids:
        await _failed_run(state, run_id)

    async def resume(run_id: str) -> bool | None:
        try:
            return await state.resume_run(run_id)
        except RunNotFoundError:
            return None

    async def prune() -> list[str]:
        deleted: list[str] = []
        while page := await state.delete_runs(before=time.time() + SLACK, statuses=("failed",), limit=3):
            deleted += page
        return deleted

    # Prunes start with the oldest runs, resumes with the newest: they meet somewhere in between.
    newest_first = run_ids[::-1]
    pages, outcomes = await asyncio.gather(
        asyncio.gather(*(prune() for _ in range(3))), asyncio.gather(*(resume(run_id) for run_id in newest_first))
    )
    resumed = {run_id for run_id, ok in zip(newest_first, outcomes, strict=True) if ok}
    deleted = [run_id for page in pages for run_id in page]
    assert len(deleted) == len(set(deleted)) and resumed.isdisjoint(deleted)
    assert resumed | set(deleted) == set(run_ids)
    for run_id in resumed:
        assert (await state.get_run(run_id)).status == "running"
        assert [a.attempt for a in (await state.get_run_attempts(run_id))["pay"]] == [1, 2]
    assert _count(state, "steps", deleted) == _count(state, "step_attempts", deleted) == 0


# -- dead jobs -----------------------------------------------------------------------------------------


async def test_racing_retries_put_a_dead_job_back_once(pair: Pair) -> None:
    """Five retries of one dead job at once: exactly one applies, and one job is back on its queue."""
    _, queue, _ = pair
    await queue.enqueue("q", {"n": 1})
    [job] = await queue.claim(["q"], owner="w", lease_s=30)
    assert await queue.dead_letter(job, "bad")
    results = await asyncio.gather(*(queue.retry_dead(job.id) for _ in range(5)))
    assert sorted(results) == [False, False, False, False, True]
    assert await queue.count("q") == 1 and await queue.list_dead() == []


async def test_a_retried_keyed_job_merges_into_the_job_waiting_with_its_key(pair: Pair) -> None:
    """A dead orchestrator job retried while a job with its key waits (a later replay of its run) does not
    add a second one: the waiting job keeps its payload and id, becomes due now and takes the lower
    priority of the two."""
    _, queue, _ = pair
    await queue.enqueue("orch", {"run_id": "r1", "n": 1}, priority=5.0, key="r1")
    [dead] = await queue.claim(["orch"], owner="w", lease_s=30)
    assert await queue.dead_letter(dead, "delivered too often")
    waiting = await queue.enqueue("orch", {"run_id": "r1", "n": 2}, delay=3600, priority=9.0, key="r1")
    await queue.enqueue("orch", {"run_id": "r2"}, priority=7.0)
    assert await queue.retry_dead(dead.id) is True
    assert await queue.count("orch") == 2
    [first] = await queue.claim(["orch"], owner="w", lease_s=30)  # due now, priority 5: ahead of r2's 7
    assert (first.id, first.payload, first.attempts) == (waiting, {"run_id": "r1", "n": 2}, 1)


async def test_a_retried_keyed_job_waits_with_its_key(pair: Pair) -> None:
    """Retried with no job of its key waiting, a dead keyed job is back due now with its payload, no
    deliveries and its key: the next enqueue with that key merges into it."""
    _, queue, _ = pair
    await queue.enqueue("orch", {"run_id": "r1"}, key="r1")
    [dead] = await queue.claim(["orch"], owner="w", lease_s=30)
    assert await queue.dead_letter(dead, "bad")
    assert await queue.retry_dead(dead.id) is True
    back = await queue.enqueue("orch", {"run_id": "r1", "n": 2}, delay=60, key="r1")
    assert await queue.count("orch") == 1
    [again] = await queue.claim(["orch"], owner="w", lease_s=30)
    assert (again.id, again.payload, again.attempts) == (back, {"run_id": "r1"}, 1)


async def test_a_claim_of_the_dead_job_cannot_touch_its_retried_job(pair: Pair) -> None:
    """The retried job is a new job: the claim that dead-lettered the old one (same owner, same delivery
    count as the retried job's first claim) can neither ack nor release it."""
    _, queue, _ = pair
    await queue.enqueue("q", {"n": 1})
    [old] = await queue.claim(["q"], owner="w", lease_s=30)
    assert await queue.dead_letter(old, "bad")
    assert await queue.retry_dead(old.id)
    [new] = await queue.claim(["q"], owner="w", lease_s=30)
    assert new.id != old.id and new.attempts == old.attempts == 1
    assert await queue.ack(old) is False and await queue.release(old) is False
    assert await queue.ack(new) is True


async def test_a_dead_job_is_named_by_its_id_exactly(pair: Pair) -> None:
    """retry_dead and drop_dead take the id list_dead shows, digits only: " 7" or "0_7" name no dead job."""
    _, queue, _ = pair
    await queue.enqueue("q", {})
    [job] = await queue.claim(["q"], owner="w", lease_s=30)
    assert await queue.dead_letter(job, "bad")
    for other in (f" {job.id}", f"0_{job.id}", f"{job.id}.0", "-1", "99999999999999999999999"):
        assert await queue.retry_dead(other) is False and await queue.drop_dead(other) is False
    assert [dead.id for dead in await queue.list_dead()] == [job.id]
    assert await queue.drop_dead(job.id) is True
