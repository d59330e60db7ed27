"""Timers follow the store's clock, not the worker's: a worker whose clock is an hour off neither wakes a
durable sleep (or an inline step's retry) early nor leaves it waiting an hour, on every backend.

The skew is injected the way a wrong host clock would show itself to pikku: through ``pikku._clock`` in
one worker's tasks only. The backend was opened outside that worker (as a server, or a local store opened
by the process), so the store keeps the true time; only what the worker itself reads is off.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from pikku import wire_workflow
from pikku._clock import reset_clock, use_clock
from pikku._records import SETTLED_RUN_STATUSES
from pikku._runtime import Runtime
from pikku.wiring import WorkflowClient
from pikku.worker import Worker

NAP_S = 1.0
HOUR = 3600.0
ATTEMPTS: dict[str, int] = {}


class SkewedClock:
    """The wall clock, ``skew`` seconds off: a host whose clock is wrong."""

    def __init__(self, skew: float) -> None:
        self.skew = skew

    def now(self) -> float:
        return time.time() + self.skew

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def nap_wf(services: Any, data: None) -> str:
    await services.workflow.sleep(NAP_S, name="nap")
    return await services.workflow.do("after", lambda: "awake")


def _flaky(run_id: str) -> str:
    ATTEMPTS[run_id] = ATTEMPTS.get(run_id, 0) + 1
    if ATTEMPTS[run_id] == 1:
        raise RuntimeError("first attempt fails")
    return "ok"


async def retry_wf(services: Any, data: None) -> str:
    run_id = services.workflow.run_id
    value: str = await services.workflow.do("flaky", lambda: _flaky(run_id), retries=1, retry_delay=NAP_S)
    return value


wire_workflow(name="skew-nap", func=nap_wf)
wire_workflow(name="skew-retry", func=retry_wf)


async def _work(rt: Runtime, skew: float, until: Callable[[], Awaitable[bool]], timeout: float) -> bool:
    """Run a worker whose clock is ``skew`` seconds off until ``until()`` holds; whether it did in time."""

    async def body() -> bool:
        token = use_clock(SkewedClock(skew) if skew else None)  # this task's context only
        worker = Worker(rt.engine, concurrency=4, poll_interval=0.02, lease=5.0, recovery_interval=None)
        task = asyncio.ensure_future(worker.run())  # inherits the skewed context
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if await until():
                    return True
                await asyncio.sleep(0.02)
            return False
        finally:
            worker.stop()
            await task
            reset_clock(token)

    return await asyncio.create_task(body())


async def _settled(rt: Runtime, run_id: str) -> bool:
    return (await rt.engine.state.get_run(run_id)).status in SETTLED_RUN_STATUSES  # a sleeping run is waiting


async def _has_step(rt: Runtime, run_id: str, name: str) -> bool:
    return name in await rt.engine.state.get_steps(run_id)


# (skew of the worker that begins the timer, skew of the worker that must fire it)
SKEWS = [
    pytest.param(HOUR, 0.0, id="ahead-begins"),
    pytest.param(-HOUR, 0.0, id="behind-begins"),
    pytest.param(0.0, HOUR, id="ahead-fires"),
    pytest.param(0.0, -HOUR, id="behind-fires"),
]


@pytest.mark.parametrize(("first", "second"), SKEWS)
async def test_a_sleep_wakes_on_the_stores_clock(rt: Runtime, first: float, second: float) -> None:
    """One worker begins a 1 s sleep, another (one of them an hour off) wakes it: the wake-up is stored
    1 s after the sleep began by the store's clock, the run does not finish before 1 s has passed, and it
    finishes well within the hour (a skewed ``wake_at`` would hang it or fire it at once)."""
    began = time.monotonic()
    handle = await WorkflowClient("skew-nap").start(None)
    assert await _work(rt, first, lambda: _has_step(rt, handle.run_id, "nap"), timeout=20)
    assert await _work(rt, second, lambda: _settled(rt, handle.run_id), timeout=30), "the sleep hung"
    elapsed = time.monotonic() - began
    run = await handle.get_run()
    assert run.status == "completed"
    steps = await rt.engine.state.get_steps(handle.run_id)
    nap, after = steps["nap"], steps["after"]
    assert nap.wake_at is not None
    assert nap.wake_at - nap.created_at == pytest.approx(NAP_S, abs=0.5)  # not an hour off
    assert after.created_at >= nap.wake_at  # never before its time, by the store's clock
    assert elapsed >= NAP_S - 0.05  # nor by this process's monotonic clock


@pytest.mark.parametrize("skew", [HOUR, -HOUR], ids=["ahead", "behind"])
async def test_an_inline_retry_waits_on_the_stores_clock(rt: Runtime, skew: float) -> None:
    """A worker an hour off fails an inline step's first attempt (retry in 1 s); a worker with the true
    clock runs the retry: it is due 1 s after the failure by the store's clock, neither at once nor in an
    hour."""
    began = time.monotonic()
    handle = await WorkflowClient("skew-retry").start(None)
    assert await _work(rt, skew, lambda: _attempted(rt, handle.run_id), timeout=20)
    assert await _work(rt, 0.0, lambda: _settled(rt, handle.run_id), timeout=30), "the retry hung"
    elapsed = time.monotonic() - began
    assert (await handle.get_run()).status == "completed"
    attempts = await rt.engine.state.get_attempts(handle.run_id, "flaky")
    assert len(attempts) == 2
    assert attempts[0].ended_at is not None
    assert attempts[1].started_at >= attempts[0].ended_at + NAP_S - 0.5  # not at once (store clock)
    assert elapsed >= NAP_S - 0.05


async def _attempted(rt: Runtime, run_id: str) -> bool:
    steps = await rt.engine.state.get_steps(run_id)
    return "flaky" in steps and steps["flaky"].status == "scheduled"
