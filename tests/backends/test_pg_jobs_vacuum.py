"""PostgreSQL: a queue that claims vacuums the jobs table's dead rows itself when they pile up, in the
background and at most every EVERY_S seconds (autovacuum may not come for a minute; see vacuum.py)."""

from __future__ import annotations

import asyncio
import contextlib
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

from pikku.backends.postgres import open_pair, vacuum

pytestmark = pytest.mark.postgres


@pytest.fixture(autouse=True)
def low_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vacuum, "MIN_DEAD_ROWS", 500)


@contextlib.asynccontextmanager
async def _queue(pg_url: str) -> AsyncIterator[Any]:
    store, queue, _ = await open_pair(pg_url)
    try:
        yield queue
    finally:
        await queue.close()
        await store.close()


async def _jobs_stats(pg_url: str) -> tuple[int, int]:
    """(dead rows, vacuums) of this schema's jobs table, as the statistics collector has them."""
    dsn, _, query = pg_url.partition("?")
    schema = urllib.parse.parse_qs(query)["schema"][0]
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT n_dead_tup, vacuum_count FROM pg_stat_user_tables WHERE schemaname = %s AND relname = 'jobs'",
            (schema,),
        )
        row = await cur.fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


async def _churn(pg_url: str, jobs: int) -> None:
    """Enqueue, claim and ack ``jobs`` jobs (two dead rows each: the claim is an update) through a queue of
    its own, closed after: its connections end, which reports their counts to the statistics at once (an
    idle one may wait 10 s)."""
    async with _queue(pg_url) as queue:
        for _ in range(jobs):
            await queue.enqueue("q", {})
        done = 0
        while done < jobs:
            for job in await queue.claim(["q"], owner="w", lease_s=30, limit=50):
                assert await queue.ack(job)
                done += 1


async def _stats_show_dead(pg_url: str, at_least: int) -> int:
    for _ in range(50):  # backends report their counts up to a second or so late
        dead, vacuums = await _jobs_stats(pg_url)
        if dead >= at_least:
            return vacuums
        await asyncio.sleep(0.1)
    raise AssertionError(f"the statistics never showed {at_least} dead jobs")


async def test_dead_jobs_past_the_threshold_are_vacuumed_by_the_next_claim(pg_url: str) -> None:
    await _churn(pg_url, 300)
    vacuums_before = await _stats_show_dead(pg_url, 600)
    async with _queue(pg_url) as queue:
        await queue.claim(["q"], owner="w", lease_s=30)
        assert queue.vacuum._task is not None
        await queue.vacuum._task
        assert queue.vacuum.vacuums == 1
    dead, vacuums = await _jobs_stats(pg_url)
    assert vacuums == vacuums_before + 1 and dead < 500, (dead, vacuums)


async def test_below_the_threshold_and_between_looks_nothing_is_vacuumed(pg_url: str) -> None:
    await _churn(pg_url, 100)
    await _stats_show_dead(pg_url, 200)
    async with _queue(pg_url) as queue:
        await queue.claim(["q"], owner="w", lease_s=30)
        await queue.vacuum._task
        assert queue.vacuum.vacuums == 0  # 200 dead rows: under MIN_DEAD_ROWS
        await _churn(pg_url, 200)
        await _stats_show_dead(pg_url, 600)
        await queue.claim(["q"], owner="w", lease_s=30)  # within EVERY_S of the last look: no new look
        assert queue.vacuum._task.done() and queue.vacuum.vacuums == 0
        queue.vacuum._next_at = 0.0  # EVERY_S later: the next claim looks, and vacuums
        await queue.claim(["q"], owner="w", lease_s=30)
        await queue.vacuum._task
        assert queue.vacuum.vacuums == 1
