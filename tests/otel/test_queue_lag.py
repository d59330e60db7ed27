"""``pikku.queue.lag`` is measured on the store's clock (the one a job's due time was set by), read once and
carried forward, never on the worker's clock and never with a round trip per job."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

from pikku._clock import reset_clock, use_clock
from pikku._otel import Instruments
from pikku._records import Job
from pikku.backends.memory import open_pair

HOUR = 3600.0


class _Skewed:
    """A clock ``skew`` seconds off the host's."""

    def __init__(self, skew: float) -> None:
        self.skew = skew

    def now(self) -> float:
        return time.time() + self.skew

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class _Frozen:
    """A clock that stands still at ``t`` (the monotonic time the lag is carried forward on)."""

    def __init__(self, t: float) -> None:
        self.t = t

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)


class _StoreAt:
    """A store whose clock reads ``t``, counting the round trips."""

    def __init__(self, t: float) -> None:
        self.t = t
        self.reads = 0

    async def now(self) -> float:
        self.reads += 1
        return self.t


class _Lags:
    """Stands in for the histogram: the values recorded."""

    def __init__(self) -> None:
        self.values: list[float] = []

    def record(self, value: float, attributes: Any = None) -> None:
        self.values.append(value)


def _instruments(state: Any) -> tuple[Instruments, _Lags]:
    instruments = Instruments(SimpleNamespace(state=state, samplers=[]))
    lags = _Lags()
    instruments.queue_lag = lags  # type: ignore[assignment]
    return instruments, lags


async def _handled(job: Any, serves: Any = None) -> None:
    return None


async def test_lag_is_the_store_clock_minus_the_due_time_with_one_read() -> None:
    """Against a store a day behind the worker, three jobs due 2.5, 1 and 0 s ago (store time) lag by exactly
    that, after one read of the store's clock; a sample reads it afresh."""
    store = _StoreAt(1_000_000.0)
    instruments, lags = _instruments(store)
    handle = instruments._wrap_job(_handled)
    token = use_clock(_Frozen(5.0))  # the worker's clocks: far from the store's, and standing still
    try:
        for due in (store.t - 2.5, store.t - 1.0, store.t + 3.0):
            await handle(Job("j", "q", {}, run_at=due))
        assert store.reads == 1
        store.t += 10.0
        await instruments.sample_store_clock()
        await handle(Job("j", "q", {}, run_at=store.t - 4.0))
    finally:
        reset_clock(token)
    assert lags.values == [2.5, 1.0, 0.0, 4.0]
    assert store.reads == 2


async def test_lag_of_a_store_an_hour_behind_the_worker() -> None:
    """A local store opened under a clock an hour behind (as a database server whose clock is off): a job
    due now by that clock lags by moments, not by the hour between the two clocks."""
    token = use_clock(_Skewed(-HOUR))
    try:
        state, queue, _ = await open_pair("memory://")
    finally:
        reset_clock(token)
    instruments, lags = _instruments(state)
    await queue.enqueue("q", {})
    [job] = await queue.claim(["q"], owner="w", lease_s=30.0)
    await instruments._wrap_job(_handled)(job)
    [lag] = lags.values
    assert 0.0 <= lag < 60.0
