"""Redis-specific behaviour: lease redelivery on streams, delayed-job promotion, key hygiene, reconnects."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from pikku._errors import BackendUnavailableError
from pikku._records import Enqueue, NewStep
from pikku.backends.redis import open_pair, open_queue
from pikku.backends.redis.connection import parse_url
from pikku.backends.redis.queue import RedisQueue
from pikku.backends.redis.store import RedisStateStore

pytestmark = pytest.mark.redis

ADMIN_URL = "redis://127.0.0.1:6379/0"
LEASE = 0.3
EXPIRED = 0.45


@pytest.fixture
async def admin() -> AsyncIterator[aioredis.Redis]:
    """A plain client for looking at (and killing) what the backend left in Redis."""
    client = aioredis.Redis.from_url(ADMIN_URL, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def pair(redis_url: str) -> AsyncIterator[tuple[RedisStateStore, RedisQueue]]:
    """A state store and its co-located queue under a fresh key prefix."""
    state, queue, _ = await open_pair(redis_url)
    try:
        yield state, queue
    finally:
        await queue.close()
        await state.close()


# -- leases and redelivery ----------------------------------------------------------------------------


async def test_expired_lease_is_redelivered_to_new_consumer(
    pair: tuple[RedisStateStore, RedisQueue], redis_url: str, admin: aioredis.Redis
) -> None:
    """An unacked job whose lease ran out is claimed again (attempts 2) and its stream entry moves owner."""
    _, queue = pair
    prefix = parse_url(redis_url)[1]
    job_id = await queue.enqueue("q", {"x": 1})
    [first] = await queue.claim(["q"], owner="dead-worker", lease_s=LEASE)
    pending = await admin.xpending_range(f"{prefix}:q:q", "pikku", "-", "+", 10)
    assert [p["consumer"] for p in pending] == ["dead-worker"]
    assert await queue.claim(["q"], owner="w2", lease_s=30) == []
    await asyncio.sleep(EXPIRED)
    [again] = await queue.claim(["q"], owner="w2", lease_s=30)
    assert (again.id, again.attempts, again.payload, first.attempts) == (job_id, 2, {"x": 1}, 1)
    pending = await admin.xpending_range(f"{prefix}:q:q", "pikku", "-", "+", 10)
    assert [(p["consumer"], p["times_delivered"]) for p in pending] == [("w2", 2)]
    assert await queue.ack(again) and not await queue.ack(first)


async def test_lease_is_per_claim(pair: tuple[RedisStateStore, RedisQueue]) -> None:
    """Reclaiming follows each job's own deadline: a short lease expires, a long one and an extended one don't."""
    _, queue = pair
    for name in ("short", "long", "extended"):
        await queue.enqueue("q", {"n": name})
    [_short] = await queue.claim(["q"], owner="w1", lease_s=LEASE)
    [long] = await queue.claim(["q"], owner="w1", lease_s=30)
    [extended] = await queue.claim(["q"], owner="w1", lease_s=LEASE)
    assert await queue.extend(extended, 30)
    await asyncio.sleep(EXPIRED)
    again = await queue.claim(["q"], owner="w2", lease_s=30, limit=5)
    assert [j.payload["n"] for j in again] == ["short"]
    assert await queue.ack(long) and await queue.ack(extended)


async def test_delayed_promotion_is_atomic_under_concurrent_claimers(redis_url: str) -> None:
    """Two clients claiming as delayed jobs fall due get every job exactly once between them."""
    a, b = await open_queue(redis_url), await open_queue(redis_url)
    try:
        ids = {await a.enqueue("q", {"i": i}, delay=0.2) for i in range(40)}
        claimed: list[str] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while len(claimed) < len(ids) and loop.time() < deadline:
            batches = await asyncio.gather(
                *(q.claim(["q"], owner=f"w{n}", lease_s=30, limit=7) for n, q in enumerate((a, b, a, b)))
            )
            claimed += [job.id for batch in batches for job in batch]
            await asyncio.sleep(0.01)
        assert sorted(claimed) == sorted(ids)
    finally:
        await b.close()
        await a.close()


async def test_delayed_job_keeps_due_order_after_promotion(pair: tuple[RedisStateStore, RedisQueue]) -> None:
    """A delayed job promoted late still comes out before immediate jobs that fell due after it."""
    _, queue = pair
    await queue.enqueue("q", {"n": "delayed"}, delay=0.1)
    await asyncio.sleep(0.2)
    await queue.enqueue("q", {"n": "later"})  # its append promotes the due delayed job first
    jobs = await queue.claim(["q"], owner="w", lease_s=30, limit=5)
    assert [j.payload["n"] for j in jobs] == ["delayed", "later"]


# -- keys ---------------------------------------------------------------------------------------------


async def test_every_key_is_under_the_prefix_and_acked_jobs_leave_nothing(
    pair: tuple[RedisStateStore, RedisQueue], redis_url: str, admin: aioredis.Redis
) -> None:
    """All keys carry the URL's prefix; an acked job leaves no job hash, stream entry or lease behind."""
    state, queue = pair
    prefix = parse_url(redis_url)[1]
    await state.create_run("r1", "wf", "{}")
    await state.insert_step(NewStep("r1", "s", "rpc"))
    await state.claim_step("r1", "s", "w", 30)
    await state.complete_step("r1", "s", "1", handoff=Enqueue("orch", {"run_id": "r1"}))
    for job in await queue.claim(None, owner="w", lease_s=30, limit=10):
        assert await queue.ack(job)
    keys = {k async for k in admin.scan_iter(match="*") if k.startswith(prefix)}
    assert not {k for k in keys if k.startswith(f"{prefix}:j:")}
    assert await admin.xlen(f"{prefix}:q:orch") == 0
    assert await admin.zcard(f"{prefix}:l:orch") == 0
    assert f"{prefix}:run:r1" in keys and f"{prefix}:steps:r1" in keys


async def test_prefixes_are_isolated(redis_url: str) -> None:
    """Two prefixes on one Redis see neither each other's runs nor each other's jobs."""
    other_url = f"{ADMIN_URL}?prefix=pikku_t_{uuid.uuid4().hex[:12]}"
    s1, q1, _ = await open_pair(redis_url)
    s2, q2, _ = await open_pair(other_url)
    try:
        await s1.create_run("r1", "wf", "{}")
        await q1.enqueue("q", {})
        assert await s2.list_runs() == [] and await q2.count() == 0
        assert await q2.claim(None, owner="w", lease_s=30) == []
    finally:
        for closable in (q2, s2, q1, s1):
            await closable.close()
        cleanup = aioredis.Redis.from_url(ADMIN_URL)
        try:
            keys = [k async for k in cleanup.scan_iter(match=f"{parse_url(other_url)[1]}*")]
            if keys:
                await cleanup.delete(*keys)
        finally:
            await cleanup.aclose()


# -- wake-ups -----------------------------------------------------------------------------------------


async def test_enqueue_elsewhere_ends_wait_early(redis_url: str) -> None:
    """A job enqueued through another client ends a 5 s wait well before its timeout."""
    waiting, other = await open_queue(redis_url), await open_queue(redis_url)
    try:
        task = asyncio.ensure_future(waiting.wait(["q"], 5.0))
        await asyncio.sleep(0.3)
        assert not task.done()
        await other.enqueue("q", {})
        await asyncio.wait_for(task, 4.0)
    finally:
        await other.close()
        await waiting.close()


async def test_wait_wakes_when_lease_runs_out(pair: tuple[RedisStateStore, RedisQueue]) -> None:
    """No message marks a lease running out, so wait sleeps no longer than until the earliest deadline."""
    _, queue = pair
    await queue.enqueue("q", {})
    await queue.claim(["q"], owner="dead-worker", lease_s=0.5)
    await asyncio.wait_for(queue.wait(["q"], 30.0), 10.0)
    assert len(await queue.claim(["q"], owner="w", lease_s=30)) == 1


# -- connection loss ----------------------------------------------------------------------------------


async def _kill(admin: aioredis.Redis, name: str) -> int:
    killed = 0
    for client in await admin.client_list():
        if client.get("name") == name:
            killed += int(await admin.client_kill_filter(_id=client["id"]))
    return killed


async def test_operations_survive_killed_connections(redis_url: str, admin: aioredis.Redis) -> None:
    """After CLIENT KILL of every backend connection (commands and pub/sub), the next operations just work."""
    name = f"pikku_t_{uuid.uuid4().hex[:8]}"
    state, queue, _ = await open_pair(f"{redis_url}&client_name={name}")
    try:
        await state.create_run("r1", "wf", "{}")
        await queue.wait(["q"], 0.1)  # starts the pub/sub listener
        assert await _kill(admin, name) >= 2
        await state.create_run("r2", "wf", "{}")
        assert (await state.get_run("r1")).status == "running"
        await queue.enqueue("q", {"n": 1})
        [job] = await queue.claim(["q"], owner="w", lease_s=30)
        assert await queue.ack(job)
        task = asyncio.ensure_future(queue.wait(["q"], 5.0))
        await asyncio.sleep(0.5)
        other = await open_queue(redis_url)
        try:
            await other.enqueue("q", {"n": 2})
        finally:
            await other.close()
        await asyncio.wait_for(task, 4.0)
    finally:
        await queue.close()
        await state.close()


@pytest.mark.slow  # the client first retries with back-off for about five seconds
async def test_unreachable_server_is_backend_unavailable() -> None:
    """A Redis that cannot be reached raises BackendUnavailableError (coded, retryable), not a driver error."""
    with pytest.raises(BackendUnavailableError):
        await open_pair("redis://127.0.0.1:1/0?prefix=nowhere")


# -- consumer hygiene -----------------------------------------------------------------------------------


async def _consumers(admin: aioredis.Redis, stream: str) -> dict[str, int]:
    return {c["name"]: c["pending"] for c in await admin.xinfo_consumers(stream, "pikku")}


async def test_a_closing_queue_removes_its_idle_consumers_but_not_one_holding_a_job(
    redis_url: str, admin: aioredis.Redis
) -> None:
    """Every process adds a consumer per queue it claims from; closing removes those holding nothing."""
    prefix = parse_url(redis_url)[1]
    stream = f"{prefix}:q:q"
    first, second = await open_queue(redis_url), await open_queue(redis_url)
    try:
        await first.enqueue("q", {"n": 1})
        await first.enqueue("q", {"n": 2})
        [done] = await first.claim(["q"], owner="finisher", lease_s=30)
        assert await first.ack(done)
        [held] = await second.claim(["q"], owner="holder", lease_s=30)
        assert await _consumers(admin, stream) == {"finisher": 0, "holder": 1}
        await first.close()
        assert await _consumers(admin, stream) == {"holder": 1}
        await second.close()  # still holds its job: the consumer stays so the lease can hand it on
        assert await _consumers(admin, stream) == {"holder": 1}
        del held
    finally:
        await first.close()
        await second.close()


async def test_dead_workers_idle_consumers_are_pruned(
    pair: tuple[RedisStateStore, RedisQueue], redis_url: str, admin: aioredis.Redis
) -> None:
    """A worker that was killed never closes: its empty consumer goes once idle long enough."""
    _, queue = pair
    stream = f"{parse_url(redis_url)[1]}:q:q"
    await queue.enqueue("q", {"n": 1})
    [job] = await queue.claim(["q"], owner="killed", lease_s=30)
    assert await queue.ack(job)
    await asyncio.sleep(0.05)
    assert await queue.prune_consumers(10.0) == 0  # not idle long enough
    assert await queue.prune_consumers(0.01) == 1
    assert await _consumers(admin, stream) == {}
