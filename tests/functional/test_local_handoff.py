"""Local hand-offs (pikku._engine.handoff): a worker that serves both the workflow's queue and its steps'
queues, with every step through its queue (``local_steps = false``), writes each next job claimed by
itself and goes on with it in the same slot: a run needs one claim, not one per job. Workers that do not
serve the queue, ``local_handoff = false`` and backends that decline all leave the job on its queue."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pikku import Settings, pikku_func, wire_workflow
from pikku._engine.engine import Engine
from pikku._registry import get_workflow
from pikku._runtime import Runtime
from pikku.backends import JobQueue
from pikku.testing import memory_runtime, settle
from pikku.wiring import WorkflowClient
from pikku.worker import Worker

#: The backends that take their local hand-offs (the others decline, which the contract allows).
TAKING = ("postgresql", "redis", "sqlite")
CALLS: collections.Counter[str] = collections.Counter()
STEPS = 6


@pytest.fixture(autouse=True)
def _reset() -> None:
    CALLS.clear()


def _settings(**changes: Any) -> Settings:
    base: dict[str, Any] = {
        "run_lock_lease": 5, "step_lease": 5, "lock_busy_delay": 0.01, "default_retries": 0, "local_steps": False,
    }  # fmt: skip
    return Settings(**(base | changes))


@pytest.fixture
async def rt(backend_url: str) -> AsyncIterator[Runtime]:
    async with memory_runtime(settings=_settings(), url=backend_url) as runtime:
        yield runtime


@pikku_func(name="handoff.add")
async def add(services: Any, data: dict[str, int]) -> int:
    CALLS[f"add-{data['i']}"] += 1
    return data["n"] + data["i"]


async def chain_wf(services: Any, data: int) -> int:
    n = 0
    for i in range(data):
        n = await services.workflow.do(f"add-{i}", "handoff.add", {"i": i, "n": n})
    return n


wire_workflow(name="handoff-chain", func=chain_wf)


class _CountedClaims:
    """Wraps a queue's claim: how many jobs claims returned."""

    def __init__(self, queue: JobQueue) -> None:
        self.jobs = 0
        self._claim = queue.claim

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        jobs = await self._claim(*args, **kwargs)
        self.jobs += len(jobs)
        return jobs


def _count_claims(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> _CountedClaims:
    counted = _CountedClaims(engine.queue)
    monkeypatch.setattr(engine.queue, "claim", counted)
    return counted


def _count_locks(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> collections.Counter[str]:
    """How often each lock read of the store was called."""
    calls: collections.Counter[str] = collections.Counter()
    for method in ("lock_run", "lock_run_kept"):
        original = getattr(engine.state, method)

        async def counted(*args: Any, _original: Any = original, _name: str = method, **kwargs: Any) -> Any:
            calls[_name] += 1
            return await _original(*args, **kwargs)

        monkeypatch.setattr(engine.state, method, counted)
    return calls


async def test_a_run_hands_off_to_its_worker_with_one_claim(
    rt: Runtime, backend_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """And, where the backend locks with the settle, one lock read: every later pass starts from the run as
    the settle that handed off to it locked it."""
    claims = _count_claims(rt.engine, monkeypatch)
    locks = _count_locks(rt.engine, monkeypatch)
    handle = await WorkflowClient("handoff-chain").start(STEPS)
    await settle(rt, [handle.run_id], concurrency=1)
    assert await handle.result(timeout=1) == sum(range(STEPS))
    assert {f"add-{i}": 1 for i in range(STEPS)} == CALLS, "every step body once"
    steps = await rt.engine.state.get_steps(handle.run_id)
    assert [(s.status, s.attempts) for s in steps.values()] == [("done", 1)] * STEPS
    if backend_url.startswith(TAKING):
        assert claims.jobs == 1, "the first pass is claimed; every later job was taken by the worker that wrote it"
        assert locks == {"lock_run": 1}, "the first pass locks; the settles lock the others"
    else:
        assert claims.jobs == 2 * STEPS + 1, "declined: every step job and every hand-off claimed"
    assert await rt.engine.queue.count() == 0


async def test_local_handoff_off_claims_every_job(backend_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async with memory_runtime(settings=_settings(local_handoff=False), url=backend_url) as runtime:
        claims = _count_claims(runtime.engine, monkeypatch)
        handle = await WorkflowClient("handoff-chain").start(STEPS)
        await settle(runtime, [handle.run_id], concurrency=1)
        assert await handle.result(timeout=1) == sum(range(STEPS))
        assert claims.jobs == 2 * STEPS + 1


async def test_workers_serving_one_side_each_leave_every_job_on_its_queue(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A step worker that does not serve the workflow's queue hands off through the queue, and a pass on a
    worker that does not serve the step queue dispatches to it: a fleet with separate step workers."""
    claims = _count_claims(rt.engine, monkeypatch)
    wf = get_workflow("handoff-chain")
    step_queues = sorted({wf.step_queue(f"add-{i}") for i in range(STEPS)})
    workers = [
        Worker(rt.engine, queues=[wf.orchestrator_queue], poll_interval=0.02, lease=5.0),
        Worker(rt.engine, queues=step_queues, poll_interval=0.02, lease=5.0),
    ]
    tasks = [asyncio.ensure_future(w.run()) for w in workers]
    try:
        handle = await WorkflowClient("handoff-chain").start(STEPS)
        assert await handle.result(timeout=20) == sum(range(STEPS))
    finally:
        for w in workers:
            w.stop()
        await asyncio.gather(*tasks)
    assert claims.jobs == 2 * STEPS + 1
    assert {f"add-{i}": 1 for i in range(STEPS)} == CALLS


async def test_a_stopping_worker_gives_a_taken_job_back(
    rt: Runtime, backend_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker is asked to stop while a step runs: the hand-off that step's settle took is released at
    once (not left leased to a worker that will not process it), and another worker finishes the run."""
    worker = Worker(rt.engine, concurrency=1, poll_interval=0.02, lease=30.0)
    original = rt.engine.steps.run

    async def stop_during_a_step(*args: Any, **kwargs: Any) -> Any:
        if args[2] == "queue":
            worker.stop()
        return await original(*args, **kwargs)

    monkeypatch.setattr(rt.engine.steps, "run", stop_during_a_step)
    handle = await WorkflowClient("handoff-chain").start(2)
    await asyncio.wait_for(worker.run(), timeout=20)
    monkeypatch.setattr(rt.engine.steps, "run", original)
    orchestrator_queue = get_workflow("handoff-chain").orchestrator_queue
    jobs = await rt.engine.queue.claim([orchestrator_queue], owner="next", lease_s=5)
    assert len(jobs) == 1, "the hand-off is claimable now, not after the stopped worker's 30 s lease"
    await rt.engine.queue.release(jobs[0])
    await settle(rt, [handle.run_id])
    assert await handle.result(timeout=1) == 1
    assert CALLS == {"add-0": 1, "add-1": 1}


async def timed_wf(services: Any, data: int) -> int:
    return int(await services.workflow.do("add-0", "handoff.add", {"i": 0, "n": data}))


wire_workflow(name="handoff-timed", func=timed_wf, timeout=60)


async def test_a_pass_that_fails_after_taking_gives_the_job_back(
    backend_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pass took its step job with the lock's release, then failed to put its deadline's wake-up: the
    job is released at once, so the step does not wait for a lease nobody renews."""
    async with memory_runtime(settings=_settings(step_lease=0.3), url=backend_url) as runtime:
        handle = await WorkflowClient("handoff-timed").start(5)
        [first] = await runtime.engine.queue.claim(None, owner=runtime.engine.owner, lease_s=5)

        async def broken_enqueue(*args: Any, **kwargs: Any) -> None:
            raise ConnectionError("queue gone")

        monkeypatch.setattr(runtime.engine, "put", broken_enqueue)
        with pytest.raises(ConnectionError):
            await runtime.engine.handle_job(first, lambda queue: True)
        monkeypatch.undo()
        step_queue = get_workflow("handoff-timed").step_queue("add-0")
        jobs = await runtime.engine.queue.claim([step_queue], owner="next", lease_s=5)
        assert len(jobs) == 1, "the step job is claimable now"
        await runtime.engine.queue.release(jobs[0])
        await runtime.engine.queue.release(first)
        await asyncio.sleep(0.4)  # the step the failed pass claimed with its job: its lease runs out
        await settle(runtime, [handle.run_id])
        assert await handle.result(timeout=1) == 5 and CALLS == {"add-0": 1}
