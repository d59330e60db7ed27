"""Durability under faults the engine must absorb: queue outages, dead workers, dead drivers, lost jobs."""

from __future__ import annotations

import asyncio
import collections
from typing import Any

import pytest

import pikku
from pikku import Settings, pikku_func, wire_workflow
from pikku._engine.recovery import SweepCursor, recover
from pikku._runtime import Runtime
from pikku.testing import memory_runtime, settle
from pikku.wiring import WorkflowClient

CALLS: collections.Counter[str] = collections.Counter()
INVOCATIONS: list[tuple[str, int]] = []
GATE: dict[str, asyncio.Event] = {}


@pytest.fixture(autouse=True)
def _reset() -> None:
    CALLS.clear()
    INVOCATIONS.clear()
    GATE.clear()


SETTINGS = Settings(run_lock_lease=2, step_lease=0.3, lock_busy_delay=0.01, default_retries=0, inline_watchdog=0.2)


@pytest.fixture
async def rt(backend_url: str) -> Any:
    async with memory_runtime(settings=SETTINGS, url=backend_url) as runtime:
        yield runtime


@pikku_func(name="r.record")
async def record(services: Any, data: str) -> str:
    CALLS[data] += 1
    INVOCATIONS.append((services.step.invocation_id, services.step.attempt))
    if data in GATE:
        await GATE[data].wait()
    return data.upper()


async def two_steps(services: Any, data: None) -> list[str]:
    a = await services.workflow.do("a", "r.record", "a")
    b = await services.workflow.do("b", "r.record", "b")
    return [a, b]


wire_workflow(name="r-two", func=two_steps)
wire_workflow(name="r-two-inline", func=two_steps, execution_mode="inline")


class Outage:
    """Delegates to a real store or queue; the first ``failures`` calls of ``methods`` raise as an outage."""

    def __init__(self, inner: Any, failures: int, methods: tuple[str, ...]) -> None:
        self._inner = inner
        self.failures = failures
        self._methods = methods

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name not in self._methods:
            return attr

        async def flaky(*args: Any, **kwargs: Any) -> Any:
            if self.failures > 0:
                self.failures -= 1
                raise pikku.BackendUnavailableError(f"{name}: backend is down")
            return await attr(*args, **kwargs)

        return flaky


async def test_outage_during_dispatch_does_not_fail_the_run(rt: Runtime) -> None:
    """A store or queue failure while dispatching a step leaves the run running; the retried job finishes it."""
    handle = await WorkflowClient("r-two").start(None)
    state, queue = rt.engine.state, rt.engine.queue
    rt.engine.state = Outage(state, 1, ("insert_step",))  # type: ignore[assignment]
    with pytest.raises(pikku.BackendUnavailableError):
        await rt.engine.orchestrate(handle.run_id)
    assert (await handle.get_run()).status == "running"
    rt.engine.state = state
    if not state.supports_handoff:  # separate writes: the queue can fail after the step was inserted
        rt.engine.queue = Outage(queue, 1, ("enqueue",))  # type: ignore[assignment]
        with pytest.raises(pikku.BackendUnavailableError):
            await rt.engine.orchestrate(handle.run_id)
        assert (await rt.engine.state.get_step(handle.run_id, "a")).status == "pending"
        rt.engine.queue = queue
    await settle(rt, [handle.run_id])
    assert await handle.result(timeout=1) == ["A", "B"]
    assert CALLS == {"a": 1, "b": 1}


async def test_a_dead_workers_step_runs_again_under_the_same_invocation_id(rt: Runtime) -> None:
    """A step claimed by a worker that died is run again once its lease expires; same invocation id."""
    handle = await WorkflowClient("r-two").start(None)
    await rt.engine.orchestrate(handle.run_id)  # dispatches "a"
    dead = await rt.engine.state.claim_step(handle.run_id, "a", "dead-worker", 0.3)
    assert dead is not None and dead.attempts == 1
    await settle(rt, [handle.run_id], timeout=10)
    assert await handle.result(timeout=1) == ["A", "B"]
    a = await rt.engine.state.get_step(handle.run_id, "a")
    assert a.attempts == 2
    assert INVOCATIONS[0] == (pikku.invocation_id(handle.run_id, "a"), 2)


async def test_a_running_step_keeps_its_lease(rt: Runtime) -> None:
    """While a step runs longer than its lease, the lease is renewed, so nobody else can claim it."""
    GATE["a"] = asyncio.Event()
    handle = await WorkflowClient("r-two").start(None)
    waiter = asyncio.ensure_future(settle(rt, [handle.run_id], timeout=10))
    while CALLS["a"] == 0:  # noqa: ASYNC110 - CALLS is a plain counter the step bumps: polled, no event to wait on
        await asyncio.sleep(0.01)
    await asyncio.sleep(SETTINGS.step_lease * 3)
    assert await rt.engine.state.claim_step(handle.run_id, "a", "intruder", 5) is None
    GATE["a"].set()
    await waiter
    assert CALLS["a"] == 1


async def test_an_inline_run_whose_driver_died_is_finished_by_a_worker(rt: Runtime) -> None:
    """Killing the process that drives an inline run mid-step: the watchdog job lets a worker finish it."""
    GATE["a"] = asyncio.Event()
    driver = asyncio.ensure_future(WorkflowClient("r-two-inline").start(None))
    while CALLS["a"] == 0:  # noqa: ASYNC110 - CALLS is a plain counter the step bumps: polled, no event to wait on
        await asyncio.sleep(0.01)
    driver.cancel()  # the driving process "dies" in the middle of step a
    with pytest.raises(asyncio.CancelledError):
        await driver
    GATE.pop("a").set()
    (run,) = await rt.engine.state.list_runs(workflow="r-two-inline")
    await rt.engine.state.release_run_lock(run.run_id, rt.engine.owner)  # a dead process holds nothing
    runs = await settle(rt, [run.run_id], timeout=10)
    assert runs[0].status == "completed"
    assert CALLS["b"] == 1


async def test_recovery_gives_a_run_without_a_job_its_orchestrator(rt: Runtime) -> None:
    """A run whose first job was lost is found by the recovery sweep and completes."""
    input_json = "null"
    await rt.engine.state.create_run("lost-run", "r-two", input_json)  # no job enqueued
    assert await rt.engine.queue.count() == 0
    assert await recover(rt.engine, stale_after=0.0) == 1
    runs = await settle(rt, ["lost-run"], timeout=10)
    assert runs[0].status == "completed"
    assert await recover(rt.engine, stale_after=0.0) == 0  # settled runs are left alone


async def test_recovery_sweeps_reach_every_running_run_page_by_page(rt: Runtime) -> None:
    """Sweeps look at one bounded page each, resuming where the last stopped: lost runs older than the
    newest page are found too (a sweep of only the newest ``limit`` runs never reached them)."""
    lost = [f"lost-{i}" for i in range(7)]
    for run_id in lost:
        await rt.engine.state.create_run(run_id, "r-two", "null")  # no job enqueued
    cursor = SweepCursor()
    found = [await recover(rt.engine, stale_after=0.0, limit=3, cursor=cursor) for _ in range(3)]
    assert found == [3, 3, 1]
    assert cursor.after is None  # a short page: the next sweep starts over
    assert await rt.engine.queue.count() == 7
    runs = await settle(rt, lost, timeout=20)
    assert {run.status for run in runs} == {"completed"}


async def test_a_sweep_that_fails_half_way_looks_at_the_same_page_again(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cursor moves on only once its page is done: an outage in the middle of a sweep skips nothing."""
    lost = [f"lost-{i}" for i in range(4)]
    for run_id in lost:
        await rt.engine.state.create_run(run_id, "r-two", "null")  # no job enqueued
    real_get_steps = rt.engine.state.get_steps
    calls = collections.Counter[str]()

    async def flaky(run_id: str) -> Any:
        calls[run_id] += 1
        if run_id == "lost-2" and calls[run_id] == 1:
            raise pikku.BackendUnavailableError("outage")
        return await real_get_steps(run_id)

    monkeypatch.setattr(rt.engine.state, "get_steps", flaky)
    cursor = SweepCursor()
    with pytest.raises(pikku.BackendUnavailableError):
        await recover(rt.engine, stale_after=0.0, limit=2, cursor=cursor)  # page lost-3, lost-2
    assert cursor.after is None
    assert await recover(rt.engine, stale_after=0.0, limit=2, cursor=cursor) == 2  # the same page again
    assert await recover(rt.engine, stale_after=0.0, limit=2, cursor=cursor) == 2  # lost-1, lost-0
