"""Local hand-offs against the review of their first cut (2026-12-07): each test failed with it and passes
with ``local_handoff`` off; the six findings (F1-F6) are in bench/NOTES.md, "Local hand-offs"."""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Any

import pytest
from lost_replies_support import RepliesLost

from pikku import Settings, pikku_func, wire_workflow
from pikku._registry import get_workflow
from pikku.testing import memory_runtime, settle
from pikku.wiring import WorkflowClient
from pikku.worker import Worker

CALLS: collections.Counter[str] = collections.Counter()


@pytest.fixture(autouse=True)
def _reset() -> None:
    CALLS.clear()


@pytest.fixture(params=["postgres", "redis"])
def url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("pg_url" if request.param == "postgres" else "redis_url"))


def _settings(**changes: Any) -> Settings:
    base: dict[str, Any] = {
        "run_lock_lease": 5, "step_lease": 5, "lock_busy_delay": 0.01, "default_retries": 0, "local_steps": False,
    }  # fmt: skip
    return Settings(**(base | changes))


@pikku_func(name="rv.slow")
async def slow(services: Any, data: dict[str, Any]) -> int:
    CALLS[f"slow-{data['i']}"] += 1
    await asyncio.sleep(data["s"])
    return int(data["i"])


async def slow_chain_wf(services: Any, data: dict[str, Any]) -> int:
    n = 0
    for i in range(data["n"]):
        n += await services.workflow.do(f"s-{i}", "rv.slow", {"i": i, "s": data["s"]})
    return n


wire_workflow(name="rv-slow-chain", func=slow_chain_wf)


@pytest.mark.parametrize("handoff", [True, False], ids=["handoff", "no-handoff"])
async def test_a_job_being_processed_is_never_claimable_by_another_worker(url: str, handoff: bool) -> None:
    """F1: a taken job is leased for ``step_lease`` but its worker renews it (Worker.lease, from lease/3 on):
    with step_lease shorter than a third of the worker's lease, the job being processed falls free and any
    other worker claims it (a second delivery, the first worker's ack then refused)."""
    settings = _settings(step_lease=0.6, local_handoff=handoff)
    async with memory_runtime(settings=settings, url=url) as rt:
        wf = get_workflow("rv-slow-chain")
        step_queue = wf.step_queue("s-1")
        worker = Worker(rt.engine, concurrency=1, poll_interval=0.02, lease=6.0)  # renews from 2 s on
        in_flight: set[str] = set()
        handle_job = rt.engine.handle_job

        async def tracked(job: Any, *args: Any, **kwargs: Any) -> Any:
            in_flight.add(job.id)
            try:
                return await handle_job(job, *args, **kwargs)
            finally:
                in_flight.discard(job.id)

        rt.engine.handle_job = tracked  # type: ignore[method-assign]
        task = asyncio.ensure_future(worker.run())
        stolen: list[Any] = []
        try:
            handle = await WorkflowClient("rv-slow-chain").start({"n": 2, "s": 1.5})
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and (await handle.get_run()).status not in ("completed", "failed"):
                jobs = await rt.engine.queue.claim(None, owner="thief", lease_s=30)
                mine = [j for j in jobs if j.id in in_flight]
                stolen += [(j.payload.get("kind"), j.payload.get("step"), j.attempts) for j in mine]
                for j in jobs:  # put it back: only whether it was claimable matters
                    await rt.engine.queue.release(j)
                await asyncio.sleep(0.1)
        finally:
            worker.stop()
            await task
        assert stolen == [], f"jobs the worker was processing were claimed by another: {stolen}"
        del step_queue


@pikku_func(name="rv.add")
async def add(services: Any, data: int) -> int:
    CALLS["add"] += 1
    return data + 1


async def two_wf(services: Any, data: int) -> int:
    first = await services.workflow.do("first", "rv.add", data)
    second: int = await services.workflow.do("second", "rv.add", first)
    return second


wire_workflow(name="rv-two", func=two_wf)


@pytest.mark.parametrize("handoff", [True, False], ids=["handoff", "no-handoff"])
async def test_a_settle_whose_reply_was_lost_does_not_stall_the_run(url: str, handoff: bool) -> None:
    """F2: the taking settle commits (hand-off written leased to this worker, run locked for it), its reply is
    lost, the retry finds the step done: the worker never learns of the job it holds, so the run waits for
    the job's lease and the lock's lease (step_lease, run_lock_lease) before anyone moves it on. Without
    the take the hand-off waits on its queue and the next pass starts at once."""
    settings = _settings(step_lease=20, run_lock_lease=20, local_handoff=handoff)
    async with memory_runtime(settings=settings, url=url) as rt:
        rt.engine.steps.transitions = RepliesLost(rt.engine.steps.transitions, "settle_step", "settle_step_taking")
        handle = await WorkflowClient("rv-two").start(1)
        [run] = await settle(rt, [handle.run_id], timeout=8)
    assert run.status == "completed" and run.output_json == "3"
    assert CALLS["add"] == 2


@pytest.mark.parametrize("handoff", [True, False], ids=["handoff", "no-handoff"])
async def test_a_stopping_worker_gives_back_a_taken_step_job_usable_at_once(url: str, handoff: bool) -> None:
    """F3: the worker is asked to stop during a pass whose deferred step job it took with the lock's release.
    Engine.give_back releases the job "at once", but the step stays claimed by the stopped worker (running,
    leased step_lease): the next worker's claim_step is refused and the job is put back until that lease runs
    out, so the run waits step_lease instead of going on at once."""
    settings = _settings(step_lease=20, run_lock_lease=20, local_handoff=handoff)
    async with memory_runtime(settings=settings, url=url) as rt:
        worker = Worker(rt.engine, concurrency=1, poll_interval=0.02, lease=20.0)
        one_pass = rt.engine._pass

        async def stop_during_the_pass(*args: Any, **kwargs: Any) -> Any:
            worker.stop()
            return await one_pass(*args, **kwargs)

        rt.engine._pass = stop_during_the_pass  # type: ignore[method-assign]
        handle = await WorkflowClient("rv-two").start(1)
        await asyncio.wait_for(worker.run(), timeout=20)
        rt.engine._pass = one_pass  # type: ignore[method-assign]
        started = time.monotonic()
        [run] = await settle(rt, [handle.run_id], timeout=8)
        assert run.status == "completed" and CALLS["add"] == 2
        assert time.monotonic() - started < 5


@pikku_func(name="rv.count")
async def count(services: Any, data: str) -> str:
    CALLS[data] += 1
    await asyncio.sleep(0.2)
    return data


async def timed_two_wf(services: Any, data: None) -> str:
    first: str = await services.workflow.do("first", "rv.count", "first")
    second: str = await services.workflow.do("second", "rv.count", "second")
    return first + second


wire_workflow(name="rv-timed-two", func=timed_two_wf, timeout=120)


@pytest.mark.parametrize("handoff", [True, False], ids=["handoff", "no-handoff"])
async def test_a_step_taken_with_the_release_runs_once_when_the_pass_ends_slowly(url: str, handoff: bool) -> None:
    """F4: the pass's release inserts its deferred step running and its job, both leased step_lease, for this
    worker; the pass then still puts its deadline's wake-up (a workflow with a timeout). When that put is
    slower than step_lease (a slow database, a full pool), both leases have run out when the worker gets to
    the step: another worker has claimed the job and the step and runs the body, and this worker runs it
    again from the stale ``claimed`` record (run_step_job trusts it and skips claim_queued, which would
    refuse a step held elsewhere). Without the take, the one claim of the step decides: the body runs once."""
    from pikku._runtime import open_runtime

    settings = _settings(step_lease=0.5, run_lock_lease=5, local_handoff=handoff)
    async with memory_runtime(settings=settings, url=url) as rt:
        other = await open_runtime(state_url=url, settings=_settings(step_lease=0.5, run_lock_lease=5))
        put = rt.engine.put

        async def slow_put(job: Any) -> None:
            await asyncio.sleep(1.0)
            await put(job)

        rt.engine.put = slow_put  # type: ignore[method-assign]
        first = Worker(rt.engine, concurrency=1, poll_interval=0.02, lease=5.0)
        second = Worker(other.engine, concurrency=2, poll_interval=0.02, lease=5.0)
        handle = await WorkflowClient("rv-timed-two").start(None)
        tasks = [asyncio.ensure_future(first.run())]
        try:
            await asyncio.sleep(0.3)  # the first worker has the run's first pass
            tasks.append(asyncio.ensure_future(second.run()))
            assert await handle.result(timeout=20) == "firstsecond"
            await asyncio.sleep(0.5)
        finally:
            first.stop()
            second.stop()
            await asyncio.gather(*tasks)
            await other.close()
        assert CALLS["first"] == 1, f"the step body ran {CALLS['first']} times"


FLAGS: set[str] = set()


@pikku_func(name="rv.make")
async def make(services: Any, data: str) -> str:
    FLAGS.add(data)
    return data


async def gather_wf(services: Any, data: str) -> list[str]:
    wf = services.workflow

    async def seen() -> str:  # an inline step that needs what the rpc step does (polls up to 3 s)
        for _ in range(60):
            if data in FLAGS:
                return "seen"
            await asyncio.sleep(0.05)
        raise RuntimeError("the rpc step never ran")

    made, looked = await asyncio.gather(wf.do("make", "rv.make", data), wf.do("look", seen))
    return [made, looked]


wire_workflow(name="rv-gather", func=gather_wf)


@pytest.mark.parametrize("handoff", [True, False], ids=["handoff", "no-handoff"])
async def test_a_deferred_step_runs_while_its_pass_goes_on(url: str, handoff: bool) -> None:
    """F6: PassTakes.defer holds the pass's first served step job back until the lock's release at the end of
    the pass ("the worker runs that step only after the pass anyway"), but another slot or worker would have
    run it meanwhile: a pass that goes on with work of its own (an inline step of an asyncio.gather) now waits
    for that step without it ever starting, and fails here (before, another slot ran it at once)."""
    FLAGS.clear()
    async with memory_runtime(settings=_settings(local_handoff=handoff), url=url) as rt:
        handle = await WorkflowClient("rv-gather").start("k1")
        [run] = await settle(rt, [handle.run_id], timeout=20, concurrency=2)
    assert run.status == "completed", run.error


@pytest.mark.parametrize("handoff", [True, False], ids=["handoff", "no-handoff"])
async def test_a_deferred_step_runs_while_its_pass_goes_on_declining_backends(
    backend_url: str, handoff: bool
) -> None:
    """F6 on every backend: the deferral is the engine's (PassTakes), so the backends that decline the take
    (memory, file, SQLite) dispatch the step only at the release too."""
    FLAGS.clear()
    async with memory_runtime(settings=_settings(local_handoff=handoff), url=backend_url) as rt:
        handle = await WorkflowClient("rv-gather").start("k2")
        [run] = await settle(rt, [handle.run_id], timeout=20, concurrency=2)
    assert run.status == "completed", run.error


async def test_a_dispatch_whose_reply_was_lost_does_not_stall_the_run(url: str) -> None:
    """The retry finds the step, claimed by this worker, and no job comes back: the claim is ended and the
    step queued again at once instead of waiting out the step's and the job's leases."""
    async with memory_runtime(settings=_settings(step_lease=20, run_lock_lease=20), url=url) as rt:
        rt.engine.transitions = RepliesLost(rt.engine.transitions, "release_run_lock_dispatching")
        handle = await WorkflowClient("rv-two").start(1)
        [run] = await settle(rt, [handle.run_id], timeout=8)
    assert run.status == "completed" and run.output_json == "3"
    assert CALLS["add"] == 2
