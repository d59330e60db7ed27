"""The JobQueue contract (``pikku.backends._contract``): every backend must pass every test here."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from pikku.backends import open_backend
from pikku.backends._contract import JobQueue

SLACK = 1.0  # seconds of clock disagreement tolerated between the test and a database server
LEASE = 0.2  # a short lease for expiry tests
EXPIRED = 0.3  # sleeping this long lets a LEASE (or a delay of LEASE) run out


async def claim_one(queue: JobQueue, name: str = "q", owner: str = "w1", lease_s: float = 30) -> Any:
    jobs = await queue.claim([name], owner=owner, lease_s=lease_s)
    assert len(jobs) <= 1
    return jobs[0] if jobs else None


async def test_enqueue_claim_ack(queue: JobQueue) -> None:
    """A job is claimed with its queue, payload, first attempt, owner and lease; ack removes it for good."""
    before = time.time()
    job_id = await queue.enqueue("q", {"k": "v"})
    assert isinstance(job_id, str) and job_id
    [job] = await queue.claim(["q"], owner="w1", lease_s=30)
    after = time.time()
    assert (job.id, job.queue, job.payload, job.attempts, job.owner) == (job_id, "q", {"k": "v"}, 1, "w1")
    assert before - SLACK <= job.run_at <= after + SLACK
    assert job.lease_until is not None and before + 30 - SLACK <= job.lease_until <= after + 30 + SLACK
    assert await queue.ack(job) is True
    assert await queue.count() == 0
    assert await queue.ack(job) is False
    assert await queue.claim(None, owner="w1", lease_s=30) == []


async def test_job_ids_are_distinct(queue: JobQueue) -> None:
    """Every enqueue returns a new id."""
    ids = [await queue.enqueue("q", {"i": i}) for i in range(10)]
    assert len(set(ids)) == 10


async def test_claim_by_queue_name(queue: JobQueue) -> None:
    """claim takes only from the named queues; None takes from every queue; an empty list takes nothing."""
    await queue.enqueue("a", {"n": "a"})
    await queue.enqueue("b", {"n": "b"})
    await queue.enqueue("c", {"n": "c"})
    assert await queue.claim([], owner="w", lease_s=30) == []
    [job] = await queue.claim(["b"], owner="w", lease_s=30, limit=5)
    assert (job.queue, job.payload) == ("b", {"n": "b"})
    assert await queue.claim(["b", "missing"], owner="w", lease_s=30) == []
    jobs = await queue.claim(["a", "c"], owner="w", lease_s=30, limit=5)
    assert sorted(j.queue for j in jobs) == ["a", "c"]


async def test_claim_none_takes_every_queue(queue: JobQueue) -> None:
    """claim(None) leases due jobs from all queues."""
    await queue.enqueue("a", {})
    await queue.enqueue("b", {})
    jobs = await queue.claim(None, owner="w", lease_s=30, limit=5)
    assert sorted(j.queue for j in jobs) == ["a", "b"]


async def test_claim_limit(queue: JobQueue) -> None:
    """claim returns at most ``limit`` jobs; the rest stay for the next claim."""
    for i in range(5):
        await queue.enqueue("q", {"i": i})
    first = await queue.claim(["q"], owner="w", lease_s=30, limit=3)
    second = await queue.claim(["q"], owner="w", lease_s=30, limit=3)
    assert (len(first), len(second)) == (3, 2)
    assert {j.id for j in first}.isdisjoint(j.id for j in second)
    assert await queue.claim(["q"], owner="w", lease_s=30, limit=3) == []


async def test_claim_is_fifo(queue: JobQueue) -> None:
    """Due jobs come out oldest first, within one claim and across claims."""
    for i in range(6):
        await queue.enqueue("q", {"i": i})
    batch = await queue.claim(["q"], owner="w", lease_s=30, limit=3)
    assert [j.payload["i"] for j in batch] == [0, 1, 2]
    singles = [await claim_one(queue) for _ in range(3)]
    assert [j.payload["i"] for j in singles] == [3, 4, 5]


async def test_claim_orders_by_due_time(queue: JobQueue) -> None:
    """Order is by due time, not enqueue time: a delayed job comes after one enqueued later without delay."""
    await queue.enqueue("q", {"n": "delayed"}, delay=LEASE)
    await queue.enqueue("q", {"n": "now"})
    await asyncio.sleep(EXPIRED)
    jobs = await queue.claim(["q"], owner="w", lease_s=30, limit=2)
    assert [j.payload["n"] for j in jobs] == ["now", "delayed"]


async def test_delayed_job(queue: JobQueue) -> None:
    """A delayed job is counted at once but not claimable before its delay, and claimable after it."""
    job_id = await queue.enqueue("q", {}, delay=LEASE)
    assert await queue.count("q") == 1
    assert await queue.claim(["q"], owner="w", lease_s=30) == []
    await asyncio.sleep(EXPIRED)
    job = await claim_one(queue)
    assert job is not None and job.id == job_id


async def test_live_lease_blocks_other_claims(queue: JobQueue) -> None:
    """A leased job is not handed out again while its lease lives."""
    await queue.enqueue("q", {})
    assert await claim_one(queue, owner="w1") is not None
    assert await claim_one(queue, owner="w2") is None
    assert await queue.claim(None, owner="w2", lease_s=30) == []


async def test_lease_expiry_redelivers(queue: JobQueue) -> None:
    """A job whose lease ran out is delivered again, to the next claimer, with attempts 2 and its payload."""
    job_id = await queue.enqueue("q", {"x": 1})
    first = await claim_one(queue, owner="w1", lease_s=LEASE)
    await asyncio.sleep(EXPIRED)
    second = await claim_one(queue, owner="w2")
    assert second is not None
    assert (second.id, second.attempts, second.owner, second.payload) == (job_id, 2, "w2", {"x": 1})
    assert first.attempts == 1


async def test_stale_owner_is_refused(queue: JobQueue) -> None:
    """After a lease expired and another owner claimed the job, the old owner's ack/release/extend are False."""
    await queue.enqueue("q", {})
    stale = await claim_one(queue, owner="w1", lease_s=LEASE)
    await asyncio.sleep(EXPIRED)
    fresh = await claim_one(queue, owner="w2")
    assert fresh is not None
    assert await queue.extend(stale, 30) is False
    assert await queue.release(stale) is False
    assert await queue.ack(stale) is False
    assert await queue.count("q") == 1
    assert await claim_one(queue, owner="w3") is None
    assert await queue.ack(fresh) is True
    assert await queue.count("q") == 0


async def test_stale_claim_of_same_owner_is_refused(queue: JobQueue) -> None:
    """A lease is one claim, not one owner: the same owner's earlier, expired claim can no longer act."""
    await queue.enqueue("q", {})
    stale = await claim_one(queue, owner="w1", lease_s=LEASE)
    await asyncio.sleep(EXPIRED)
    fresh = await claim_one(queue, owner="w1")
    assert fresh is not None and fresh.attempts == 2
    assert await queue.extend(stale, 30) is False
    assert await queue.release(stale) is False
    assert await queue.ack(stale) is False
    assert await claim_one(queue, owner="w2") is None
    assert await queue.ack(fresh) is True


async def test_release(queue: JobQueue) -> None:
    """release gives the job back at once: claimable again (attempts 2); the released claim is then stale."""
    job_id = await queue.enqueue("q", {"x": 1})
    job = await claim_one(queue)
    assert await queue.release(job) is True
    assert await queue.count("q") == 1
    again = await claim_one(queue, owner="w2")
    assert again is not None and (again.id, again.attempts, again.payload) == (job_id, 2, {"x": 1})
    assert await queue.release(job) is False
    assert await queue.ack(job) is False


async def test_release_with_delay(queue: JobQueue) -> None:
    """release with a delay keeps the job back until the delay has passed."""
    await queue.enqueue("q", {})
    job = await claim_one(queue)
    assert await queue.release(job, delay=LEASE) is True
    assert await claim_one(queue, owner="w2") is None
    await asyncio.sleep(EXPIRED)
    again = await claim_one(queue, owner="w2")
    assert again is not None and again.attempts == 2


async def test_extend(queue: JobQueue) -> None:
    """extend by the holder keeps the job leased past its first lease; ack still works afterwards."""
    await queue.enqueue("q", {})
    job = await claim_one(queue, lease_s=LEASE)
    assert await queue.extend(job, 30) is True
    await asyncio.sleep(EXPIRED)
    assert await claim_one(queue, owner="w2") is None
    assert await queue.ack(job) is True


async def test_count(queue: JobQueue) -> None:
    """count covers every job not yet acked (due, delayed, leased), per queue or in total."""
    await queue.enqueue("a", {})
    await queue.enqueue("a", {}, delay=30)
    await queue.enqueue("b", {})
    assert (await queue.count(), await queue.count("a"), await queue.count("b")) == (3, 2, 1)
    assert await queue.count("missing") == 0
    [job] = await queue.claim(["a"], owner="w", lease_s=30)
    assert await queue.count("a") == 2
    await queue.ack(job)
    assert (await queue.count(), await queue.count("a")) == (2, 1)


async def test_wait_times_out(queue: JobQueue) -> None:
    """wait returns after its timeout when nothing is due (and with an empty queue list)."""
    await asyncio.wait_for(queue.wait(["q"], 0.1), 10)
    await asyncio.wait_for(queue.wait([], 0.1), 10)


async def test_wait_wakes_on_enqueue(queue: JobQueue) -> None:
    """wait returns soon after a job is enqueued through the same backend, long before its timeout."""

    async def later() -> None:
        await asyncio.sleep(0.05)
        await queue.enqueue("q", {})

    task = asyncio.ensure_future(later())
    await asyncio.wait_for(queue.wait(["q"], 60), 10)
    await task
    assert await claim_one(queue) is not None


async def test_wait_wakes_on_enqueue_elsewhere(queue: JobQueue, shared_url: str) -> None:
    """wait also returns for a job enqueued through another connection to the same backend."""
    other = await open_backend(shared_url)
    try:

        async def later() -> None:
            await asyncio.sleep(0.05)
            await other.queue.enqueue("q", {})

        task = asyncio.ensure_future(later())
        await asyncio.wait_for(queue.wait(["q"], 60), 10)
        await task
    finally:
        await other.close()
    assert await claim_one(queue) is not None


async def test_claim_race_between_coroutines(queue: JobQueue) -> None:
    """Concurrent claims never hand one job to two claimers: every job goes out exactly once."""
    for i in range(10):
        await queue.enqueue("q", {"i": i})
    batches = await asyncio.gather(*(queue.claim(["q"], owner=f"w{i}", lease_s=30) for i in range(30)))
    ids = [job.id for batch in batches for job in batch]
    assert len(ids) == len(set(ids)) == 10


JOBS = 24


def _claim_in_child(url: str, barrier: Any, out: Any) -> None:
    """Child process: open the backend, wait for everyone, then claim one job at a time until none is left."""

    async def main() -> list[str]:
        opened = await open_backend(url)
        try:
            barrier.wait(timeout=60)
            won: list[str] = []
            while jobs := await opened.queue.claim(["race"], owner="child", lease_s=60):
                won.extend(job.id for job in jobs)
            return won
        finally:
            await opened.close()

    out.put(asyncio.run(main()))


async def test_claim_race_between_processes(queue: JobQueue, shared_url: str, race_processes: Any) -> None:
    """4 processes draining one queue at once: every job is claimed by exactly one of them."""
    ids = [await queue.enqueue("race", {"i": i}) for i in range(JOBS)]
    won = [job_id for claimed in race_processes(_claim_in_child, shared_url) for job_id in claimed]
    assert sorted(won) == sorted(ids)


PAYLOADS = {
    "emoji": {"mood": "😀🎉", "flag": "🇫🇮"},
    "cjk": {"漢字": ["かな", "한국어"]},
    "big_int": {"n": 2**80, "odd": 2**80 + 1, "neg": -(2**80) - 1, "small": 7},
    "nested_model": {"order": {"id": "o-1", "lines": [{"sku": "ä", "qty": 2, "price": 0.1}], "meta": None}},
    "escapes": {"text": 'line\n\t"quoted" \\ \u00e9', "empty": "", "flags": [True, False]},
}


@pytest.mark.parametrize("payload", list(PAYLOADS.values()), ids=list(PAYLOADS))
async def test_payload_round_trips(queue: JobQueue, payload: dict[str, Any]) -> None:
    """Job payloads come back equal, value for value and type for type: big ints stay ints, not floats."""
    await queue.enqueue("q", payload)
    job = await claim_one(queue)
    assert job.payload == payload
    assert json.dumps(job.payload, sort_keys=True) == json.dumps(payload, sort_keys=True)
