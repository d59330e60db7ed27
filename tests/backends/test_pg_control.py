"""PostgreSQL dead jobs: racing retries, and keyed jobs brought back from the dead."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from pikku.backends.postgres import open_pair
from pikku.backends.postgres.queue import PostgresQueue
from pikku.backends.postgres.store import PostgresStateStore

pytestmark = pytest.mark.postgres

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
