"""Kept runs (pikku._engine.kept): a paused workflow waits in place for its run's next pass on the same
engine, which then reads one step instead of replaying them all. Always a shortcut, never the only copy:
a pass elsewhere, a resume, a deploy or a bound drops it and the run replays as before."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
from typing import Any

import pytest

import pikku
from pikku import Settings, pikku_func, wire_workflow
from pikku._engine.engine import Engine
from pikku._registry import get_workflow
from pikku._runtime import Runtime
from pikku.testing import memory_runtime, redeploy, settle
from pikku.wiring import WorkflowClient

CALLS: collections.Counter[str] = collections.Counter()
SEEN: list[str] = []


@pytest.fixture(autouse=True)
def _reset() -> None:
    CALLS.clear()
    SEEN.clear()


@pytest.fixture
async def rt(backend_url: str) -> Any:
    """Every step through its queue (one pass per step: the case kept runs are for)."""
    settings = Settings(run_lock_lease=5, step_lease=5, lock_busy_delay=0.01, default_retries=0, local_steps=False)
    async with memory_runtime(settings=settings, url=backend_url) as runtime:
        yield runtime


@pikku_func(name="kept.add")
async def add(services: Any, data: dict[str, int]) -> int:
    CALLS[f"add-{data['i']}"] += 1
    return data["n"] + data["i"]


async def chain_wf(services: Any, data: int) -> int:
    n = 0
    for i in range(data):
        n = await services.workflow.do(f"add-{i}", "kept.add", {"i": i, "n": n})
    return n


wire_workflow(name="kept-chain", func=chain_wf)


async def cleanup_wf(services: Any, data: None) -> None:
    try:
        await services.workflow.do("work", "kept.add", {"i": 0, "n": 0})
    finally:
        SEEN.append("finally")
        await services.workflow.do("cleanup", "kept.add", {"i": 1, "n": 0})  # what a dropped workflow must not write


wire_workflow(name="kept-cleanup", func=cleanup_wf)


async def impatient_wf(services: Any, data: None) -> int:
    try:
        async with asyncio.timeout(0.05):  # real time: with a kept run it runs out while the workflow waits
            return int(await services.workflow.do("work", "kept.add", {"i": 0, "n": 7}))
    except TimeoutError:
        return int(await services.workflow.do("fallback", "kept.add", {"i": 1, "n": 0}))


wire_workflow(name="kept-impatient", func=impatient_wf)


async def _step_jobs(engine: Engine, run_id: str) -> int:
    """Run every queued step job of ``kept-chain`` (no orchestrator job): how many ran."""
    wf = get_workflow("kept-chain")
    queues = [wf.step_queue(f"add-{i}") for i in range(20)]
    done = 0
    while jobs := await engine.queue.claim(queues, owner=engine.owner, lease_s=5, limit=10):
        for job in jobs:
            if await engine.handle_job(job) is None:
                await engine.queue.ack(job)
            done += 1
    return done


def _records(steps: dict[str, Any]) -> list[tuple[str, str, str | None, int]]:
    return [(s.name, s.status, s.result_json, s.attempts) for s in steps.values()]


async def test_a_kept_run_ends_as_a_replayed_run_does(backend_url: str) -> None:
    """Same output, same stored steps (names, statuses, results, attempts), each body once, with and without."""
    found = []
    for kept_runs in (1000, 0):
        settings = Settings(run_lock_lease=5, step_lease=5, default_retries=0, local_steps=False, kept_runs=kept_runs)
        async with memory_runtime(settings=settings, url=backend_url) as runtime:
            handle = await WorkflowClient("kept-chain").start(12)
            await settle(runtime, [handle.run_id])
            found.append(
                (await handle.result(timeout=1), _records(await runtime.engine.state.get_steps(handle.run_id)))
            )
    assert found[0] == found[1] and found[0][0] == sum(range(12))
    assert {f"add-{i}": 2 for i in range(12)} == CALLS  # once per run


async def test_a_pass_elsewhere_makes_the_kept_workflow_stale(rt: Runtime) -> None:
    """Engine A keeps the run; engine B passes it (recording a step A does not know of); A's next pass
    sees the count change, drops what it kept and replays: nothing runs twice, the output is right."""
    a = rt.engine
    b = Engine(a.backend, None, a.settings)
    handle = await WorkflowClient("kept-chain").start(4)
    await a.orchestrate(handle.run_id, keep=True)  # add-0 dispatched; A keeps the workflow waiting on it
    kept = a.kept.take(handle.run_id)
    assert kept is not None and kept.ctx.waiting_on == "add-0"
    a.kept.keep(handle.run_id, kept)
    await _step_jobs(a, handle.run_id)
    await b.orchestrate(handle.run_id, keep=True)  # B replays: add-0 done, add-1 dispatched (one step A does not know)
    await _step_jobs(a, handle.run_id)
    await a.orchestrate(handle.run_id, keep=True)  # A: count 2 against its 1 -> dropped, replayed, add-2 dispatched
    await a.kept.unwound()
    assert kept.driver.ended and kept.ctx.unwinding
    again = a.kept.take(handle.run_id)
    assert again is not None and again is not kept and again.ctx.waiting_on == "add-2"
    a.kept.keep(handle.run_id, again)
    await settle(rt, [handle.run_id])
    assert await handle.result(timeout=1) == 0 + 1 + 2 + 3
    assert {f"add-{i}": 1 for i in range(4)} == CALLS
    await b.close()


async def test_a_resumed_run_is_replayed_not_continued(rt: Runtime) -> None:
    """Cancelled and resumed between two passes: same step count, but a new episode: the kept workflow goes."""
    handle = await WorkflowClient("kept-chain").start(3)
    await rt.engine.orchestrate(handle.run_id, keep=True)
    kept = rt.engine.kept.take(handle.run_id)
    assert kept is not None
    rt.engine.kept.keep(handle.run_id, kept)
    await pikku.cancel_run(handle.run_id)
    assert await pikku.resume_run(handle.run_id)
    await settle(rt, [handle.run_id])
    assert kept.ctx.unwinding and kept.driver.ended
    assert await handle.result(timeout=1) == 0 + 1 + 2


async def test_kept_runs_are_bounded(backend_url: str) -> None:
    """At most ``kept_runs`` are kept: the oldest is dropped (its task ends), and its run still finishes."""
    settings = Settings(run_lock_lease=5, step_lease=5, default_retries=0, local_steps=False, kept_runs=2)
    async with memory_runtime(settings=settings, url=backend_url) as runtime:
        handles = [await WorkflowClient("kept-chain").start(3) for _ in range(3)]
        for handle in handles:
            await runtime.engine.orchestrate(handle.run_id, keep=True)
        assert len(runtime.engine.kept) == 2
        first = runtime.engine.kept.take(handles[0].run_id)
        assert first is None, "the oldest was dropped"
        await settle(runtime, [h.run_id for h in handles])
        assert [await h.result(timeout=1) for h in handles] == [3, 3, 3]


async def test_a_dropped_workflow_unwinds_without_writing(rt: Runtime) -> None:
    """Its ``finally`` runs, but a workflow call there raises at once: the run holds no lock, so nothing is
    written (the step it would start is not recorded) until a real pass replays the run."""
    handle = await WorkflowClient("kept-cleanup").start(None)
    await rt.engine.orchestrate(handle.run_id, keep=True)
    before = _records(await rt.engine.state.get_steps(handle.run_id))
    await redeploy(rt)
    assert SEEN == ["finally"]
    assert _records(await rt.engine.state.get_steps(handle.run_id)) == before
    assert "cleanup" not in await rt.engine.state.get_steps(handle.run_id)


async def deadline_wf(services: Any, data: int) -> int:
    return int(await services.workflow.do("add-0", "kept.add", {"i": 0, "n": data}))


wire_workflow(name="kept-deadline", func=deadline_wf, timeout=0.2)


async def test_a_kept_workflow_past_its_deadline_fails_with_the_timeout(backend_url: str) -> None:
    """A kept run whose next pass comes after the workflow's deadline fails as a replayed run does."""
    settings = Settings(run_lock_lease=5, step_lease=5, default_retries=0, local_steps=False)
    async with memory_runtime(settings=settings, url=backend_url) as runtime:
        handle = await WorkflowClient("kept-deadline").start(1)
        await runtime.engine.orchestrate(handle.run_id, keep=True)  # add-0 dispatched, not run: nobody serves its queue
        assert len(runtime.engine.kept) == 1
        await asyncio.sleep(0.3)
        outcome = await runtime.engine.orchestrate(handle.run_id, keep=True)
        run = await handle.get_run()
        assert outcome.kind == "failed" and run.status == "failed" and run.error is not None
        assert run.error.code == "PIKKU_RUN_TIMEOUT" and len(runtime.engine.kept) == 0


async def test_a_timeout_of_the_workflow_running_out_while_it_waits_writes_nothing(rt: Runtime) -> None:
    """A user's asyncio.timeout around a step that runs out while the workflow waits in place acts on the
    task of the pass that entered it, which has ended (a worker's job): it cancels nothing, writes nothing
    (no fallback step), and the workflow goes on at its next pass as a replay would."""
    handle = await WorkflowClient("kept-impatient").start(None)
    # "work" dispatched; the workflow waits in place. A task of its own, as a worker's job is.
    await asyncio.ensure_future(rt.engine.orchestrate(handle.run_id, keep=True))
    assert len(rt.engine.kept) == 1
    await asyncio.sleep(0.2)  # the timeout runs out inside the waiting workflow
    assert "fallback" not in await rt.engine.state.get_steps(handle.run_id)
    await settle(rt, [handle.run_id])
    assert await handle.result(timeout=1) == 7
    assert CALLS == {"add-0": 1}


TENANT: contextvars.ContextVar[str] = contextvars.ContextVar("tenant", default="none")


def tenant_now() -> str:
    return TENANT.get()


async def tenant_wf(services: Any, data: str) -> list[str]:
    token = TENANT.set(data)
    try:
        await services.workflow.do("a", "kept.add", {"i": 0, "n": 0})  # through its queue: the workflow waits
        await services.workflow.do("b", "kept.add", {"i": 1, "n": 0})
        return [TENANT.get(), str(await services.workflow.do("seen", tenant_now))]
    finally:
        TENANT.reset(token)  # a token of the workflow's own context: fails if a pass switched contexts


wire_workflow(name="kept-tenant", func=tenant_wf)


async def test_context_variables_of_the_workflow_live_across_its_passes(rt: Runtime) -> None:
    """What the workflow set in a context variable is still there after it waited in place (in its own
    code and in an inline step), and a token it took resets in the end, as on a replay."""
    handle = await WorkflowClient("kept-tenant").start("acme")
    await settle(rt, [handle.run_id])
    assert await handle.result(timeout=1) == ["acme", "acme"]
    assert TENANT.get() == "none"


async def test_a_kept_workflow_closed_by_the_collector_writes_nothing(rt: Runtime) -> None:
    """Closing a waiting workflow's coroutine (what the collector does to one nobody dropped) runs its
    ``finally``, but its workflow call there raises at once: the step it would start is not written."""
    handle = await WorkflowClient("kept-cleanup").start(None)
    await asyncio.ensure_future(rt.engine.orchestrate(handle.run_id, keep=True))
    kept = rt.engine.kept.take(handle.run_id)
    assert kept is not None
    with contextlib.suppress(BaseException):
        kept.driver.coro.close()
    assert SEEN == ["finally"] and kept.driver.ended
    assert "cleanup" not in await rt.engine.state.get_steps(handle.run_id)


async def sibling_wf(services: Any, data: None) -> list[int]:
    first = asyncio.ensure_future(services.workflow.do("a", "kept.add", {"i": 0, "n": 5}))
    await asyncio.sleep(0.05)  # the sibling dispatches "a" and ends in its pause before the workflow's own
    await services.workflow.sleep(0.01, name="nap")
    return [int(await first)]


wire_workflow(name="kept-sibling", func=sibling_wf)


async def test_a_sibling_that_paused_keeps_the_workflow_from_waiting_in_place(rt: Runtime) -> None:
    """A spawned task that paused leaves a step whose settle no count shows: the workflow is not kept,
    the next pass replays, and the run finishes with the step's real value."""
    handle = await WorkflowClient("kept-sibling").start(None)
    await asyncio.ensure_future(rt.engine.orchestrate(handle.run_id, keep=True))
    assert len(rt.engine.kept) == 0
    await settle(rt, [handle.run_id])
    assert await handle.result(timeout=1) == [5]


async def test_a_kept_run_past_its_idle_time_is_dropped(backend_url: str) -> None:
    settings = Settings(run_lock_lease=5, step_lease=5, default_retries=0, local_steps=False, kept_idle=0.05)
    async with memory_runtime(settings=settings, url=backend_url) as runtime:
        handle = await WorkflowClient("kept-chain").start(2)
        await asyncio.ensure_future(runtime.engine.orchestrate(handle.run_id, keep=True))
        assert len(runtime.engine.kept) == 1
        await asyncio.sleep(0.1)
        runtime.engine.kept.expire()
        await runtime.engine.kept.unwound()
        assert len(runtime.engine.kept) == 0
        await settle(runtime, [handle.run_id])
        assert await handle.result(timeout=1) == 1
