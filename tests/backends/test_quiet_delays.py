"""Jobs delayed past QUIET_DELAY_S wake no waiting worker (PostgreSQL NOTIFY, Redis PUBLISH), and waits
look at the next due time at least that often, so such jobs are still claimed on time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from pikku._records import Enqueue, ErrorInfo, NewStep
from pikku.backends._wakeup import QUIET_DELAY_S

LATER = QUIET_DELAY_S + 60.0  # quiet
SOON = 0.5  # notified


@pytest.fixture(params=["postgres", "redis"])
async def pair(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Any, Any]]:
    """A co-located state store and queue on PostgreSQL or Redis."""
    if request.param == "postgres":
        pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'pikku[postgres]')")
        from pikku.backends.postgres import open_pair

        url = request.getfixturevalue("pg_url")
    else:
        pytest.importorskip("redis", reason="redis is not installed (pip install 'pikku[redis]')")
        from pikku.backends.redis import open_pair  # type: ignore[assignment]

        url = request.getfixturevalue("redis_url")
    state, queue, _ = await open_pair(url)
    try:
        yield state, queue
    finally:
        await queue.close()
        await state.close()


async def _woken_by(queue: Any, act: Callable[[], Awaitable[object]]) -> bool:
    """Whether ``act`` ends a 3 s wait on queue "q" early (within a second)."""
    waiter = asyncio.ensure_future(queue.wait(["q"], 3.0))
    await asyncio.sleep(0.3)  # the waiter listens and has looked at the next due time
    await act()
    await asyncio.wait({waiter}, timeout=1.0)
    woken = waiter.done()
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    return woken


async def test_enqueue_and_release_wake_waiters_only_when_due_soon(pair: tuple[Any, Any]) -> None:
    _, queue = pair
    assert not await _woken_by(queue, lambda: queue.enqueue("q", {"n": 1}, delay=LATER))
    assert await _woken_by(queue, lambda: queue.enqueue("q", {"n": 2}, delay=SOON))
    await asyncio.sleep(SOON + 0.1)
    [job] = await queue.claim(["q"], owner="w", lease_s=30)
    assert not await _woken_by(queue, lambda: queue.release(job, delay=LATER))
    assert await queue.count("q") == 2  # both jobs are kept, only the notice is left out


async def test_hand_offs_wake_waiters_only_when_due_soon(pair: tuple[Any, Any]) -> None:
    """The quiet variants of every transition with a hand-off job: written, just not announced."""
    state, queue = pair
    later, soon = Enqueue("q", {"k": "later"}, LATER), Enqueue("q", {"k": "soon"}, SOON)
    assert not await _woken_by(queue, lambda: state.create_run("r1", "wf", "{}", handoff=later))
    assert await _woken_by(queue, lambda: state.create_run("r2", "wf", "{}", handoff=soon))
    await asyncio.sleep(SOON + 0.1)
    [job] = await queue.claim(["q"], owner="w", lease_s=30)  # out of the way: due, it would end waits
    assert job.payload == {"k": "soon"} and await queue.ack(job)
    step = NewStep("r1", "s", "rpc", "f", status="scheduled")
    assert not await _woken_by(queue, lambda: state.insert_step(step, handoff=later))
    await state.claim_step("r1", "s", "w", 30)
    error = ErrorInfo("boom", "RuntimeError")
    retry = lambda: state.fail_step("r1", "s", error, retry_at=time.time() + LATER, handoff=later, owner="w")  # noqa: E731
    assert not await _woken_by(queue, retry)
    assert (await state.get_step("r1", "s")).status == "scheduled"
    assert await queue.count("q") == 3


async def test_a_wait_looks_again_within_the_quiet_horizon(
    pair: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job enqueued quietly while a worker waits is found at the next look, not at the wait's timeout."""
    _, queue = pair
    monkeypatch.setattr(type(queue).__module__ + ".QUIET_DELAY_S", 0.5)
    started = time.monotonic()
    await queue.wait(["q"], 30.0)
    assert time.monotonic() - started < 2.0
