"""Remote rpc steps run inside the pass by a worker that serves their queue (Settings.local_steps), on
every backend: one pass per run, the same records as the queued path, and crash, retry and failure
behaviour unchanged."""

from __future__ import annotations

import asyncio
import collections
from typing import Any

import pytest

from pikku import StepFailedError, pikku_func, wire_workflow
from pikku._engine.engine import Engine
from pikku._records import NewStep
from pikku._registry import get_workflow
from pikku._runtime import Runtime
from pikku.backends._transitions import TakingTransaction
from pikku.testing import settle
from pikku.wiring import WorkflowClient
from pikku.worker import Worker

CALLS: collections.Counter[str] = collections.Counter()


@pytest.fixture(autouse=True)
def _reset() -> None:
    CALLS.clear()


class CountingState:
    """The engine's passes, counted: each pass of a run is one call of ``Engine._pass`` (whether it opened
    with ``lock_run``, ``lock_run_kept``, or the lock a step's settle took for it)."""

    def __init__(self, engine: Engine) -> None:
        self.passes = 0
        one_pass = engine._pass

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.passes += 1
            return await one_pass(*args, **kwargs)

        engine._pass = counted  # type: ignore[method-assign]


@pikku_func(name="ls.add")
async def add(services: Any, data: dict[str, int]) -> dict[str, int]:
    CALLS[f"add:{data['n']}"] += 1
    assert services.step is not None and services.step.attempt >= 1
    return {"n": data["n"] + 1}


async def chain_wf(services: Any, data: int) -> int:
    value = {"n": data}
    for i in range(5):
        value = await services.workflow.do(f"add-{i}", "ls.add", value)
    return value["n"]


wire_workflow(name="ls-chain", func=chain_wf)


async def test_a_worker_serving_every_queue_runs_a_chain_in_one_pass(rt: Runtime) -> None:
    """No step job and no hand-off: the whole run is one pass, and every step is recorded as usual."""
    counting = CountingState(rt.engine)
    handle = await WorkflowClient("ls-chain").start(10)
    await settle(rt, [handle.run_id])
    assert await handle.result(timeout=1) == 15
    assert counting.passes == 1
    assert all(v == 1 for v in CALLS.values()) and len(CALLS) == 5
    steps = await rt.engine.state.get_steps(handle.run_id)
    assert [s.status for s in steps.values()] == ["done"] * 5
    assert all(s.form == "rpc" and s.rpc_name == "ls.add" and s.attempts == 1 for s in steps.values())
    attempts = await rt.engine.state.get_attempts(handle.run_id, "add-0")
    assert len(attempts) == 1 and attempts[0].ended_at is not None and attempts[0].error is None
    assert await rt.engine.queue.count() == 0


async def test_a_worker_not_serving_the_step_queue_hands_steps_off(rt: Runtime) -> None:
    """Orchestrators on one worker, steps on another: every step goes through its queue and a hand-off."""
    wf = get_workflow("ls-chain")
    counting = CountingState(rt.engine)
    steps_worker = Worker(rt.engine, queues=[wf.step_queue(f"add-{i}") for i in range(5)], poll_interval=0.02)
    task = asyncio.ensure_future(steps_worker.run())
    try:
        handle = await WorkflowClient("ls-chain").start(1)
        orchestrators = Worker(rt.engine, queues=[wf.orchestrator_queue], poll_interval=0.02)
        orch_task = asyncio.ensure_future(orchestrators.run())
        try:
            assert await handle.result(timeout=20) == 6
        finally:
            orchestrators.stop()
            await orch_task
    finally:
        steps_worker.stop()
        await task
    assert counting.passes == 6  # one per step's hand-off, plus the first
    assert steps_worker.processed == 5 and all(v == 1 for v in CALLS.values())


async def test_local_steps_off_sends_every_step_through_its_queue(rt: Runtime) -> None:
    rt.engine.settings.local_steps = False
    counting = CountingState(rt.engine)
    handle = await WorkflowClient("ls-chain").start(0)
    await settle(rt, [handle.run_id])
    assert await handle.result(timeout=1) == 5
    assert counting.passes == 6


async def test_local_steps_off_acknowledges_every_job_once(rt: Runtime) -> None:
    """6 orchestrator jobs and 5 step jobs, none left over. Where the store acknowledges jobs inside its
    transitions (supports_ack), or takes its local hand-offs (whose writes acknowledge the job that did the
    work), only the last pass's job (the run completed) is acked by the worker."""
    rt.engine.settings.local_steps = False
    queue = rt.engine.queue
    acks = 0
    ack = queue.ack

    async def counted(job: Any) -> bool:
        nonlocal acks
        acks += 1
        return await ack(job)

    queue.ack = counted  # type: ignore[method-assign]
    handle = await WorkflowClient("ls-chain").start(0)
    await settle(rt, [handle.run_id])
    assert await handle.result(timeout=1) == 5
    assert await queue.count() == 0
    acked_in_transitions = rt.engine.state.supports_ack or isinstance(rt.engine.transitions, TakingTransaction)
    assert acks == (1 if acked_in_transitions else 11)


async def test_a_local_step_of_a_dead_worker_is_run_again_when_its_lease_runs_out(rt: Runtime) -> None:
    """A worker died inside a local step: the step is running under its lease and has no job. The replay
    waits out the lease and runs the step itself (a second attempt)."""
    store = rt.engine.state
    handle = await WorkflowClient("ls-chain").start(0)
    run_id = handle.run_id
    # What the dead worker left: the step inserted and claimed under a short lease, no step job.
    await store.insert_step(NewStep(run_id, "add-0", "rpc", "ls.add", '{"n": 0}', "pending", max_attempts=1))
    assert await store.claim_step(run_id, "add-0", "dead-worker", 0.5) is not None
    await settle(rt, [run_id], timeout=20)
    assert await handle.result(timeout=1) == 5
    step = await store.get_step(run_id, "add-0")
    assert step.status == "done" and step.attempts == 2
    attempts = await store.get_attempts(run_id, "add-0")
    assert len(attempts) == 2 and attempts[1].ended_at is not None and attempts[1].error is None


@pikku_func(name="ls.flaky")
async def flaky(services: Any, data: int) -> int:
    CALLS["flaky"] += 1
    if CALLS["flaky"] <= data:
        raise ConnectionError(f"transient #{CALLS['flaky']}")
    return int(services.step.attempt)


async def flaky_wf(services: Any, data: int) -> int:
    result: int = await services.workflow.do("flaky", "ls.flaky", data, retries=2, retry_delay=0.05)
    return result


wire_workflow(name="ls-flaky", func=flaky_wf)


async def test_a_failed_local_attempt_is_retried_through_the_queue(rt: Runtime) -> None:
    handle = await WorkflowClient("ls-flaky").start(1)
    await settle(rt, [handle.run_id])
    assert await handle.result(timeout=1) == 2
    attempts = await rt.engine.state.get_attempts(handle.run_id, "flaky")
    assert len(attempts) == 2 and attempts[0].error is not None and attempts[0].error.type == "ConnectionError"
    assert attempts[1].error is None


@pikku_func(name="ls.boom")
async def boom(services: Any, data: None) -> None:
    CALLS["boom"] += 1
    raise ValueError("declined")


async def compensating_wf(services: Any, data: None) -> str:
    try:
        await services.workflow.do("charge", "ls.boom", retries=0)
    except StepFailedError as exc:
        return f"compensated: {exc.step}"
    return "charged"


wire_workflow(name="ls-compensate", func=compensating_wf)


async def test_a_local_step_that_fails_for_good_raises_into_the_workflow_once(rt: Runtime) -> None:
    handle = await WorkflowClient("ls-compensate").start(None)
    await settle(rt, [handle.run_id])
    assert await handle.result(timeout=1) == "compensated: charge"
    assert CALLS == {"boom": 1}
    step = await rt.engine.state.get_step(handle.run_id, "charge")
    assert step.status == "failed" and step.error is not None and step.error.type == "ValueError"


GATE: dict[str, asyncio.Event] = {}


async def gated_wf(services: Any, data: None) -> str:
    async def wait() -> str:
        GATE["entered"].set()
        await GATE["open"].wait()
        return "through"

    result: str = await services.workflow.do("gate", wait)
    return result


wire_workflow(name="ls-gated", func=gated_wf)


async def test_one_engine_replays_a_run_once_at_a_time(rt: Runtime) -> None:
    """The run lock is re-entrant for its owner, so the engine itself keeps a second pass of the same run
    (another hand-off claimed by the same worker) out while one is in progress: it is "busy"."""
    GATE["entered"], GATE["open"] = asyncio.Event(), asyncio.Event()
    handle = await WorkflowClient("ls-gated").start(None)
    first = asyncio.ensure_future(rt.engine.orchestrate(handle.run_id))
    await asyncio.wait_for(GATE["entered"].wait(), 5)
    second = await asyncio.wait_for(rt.engine.orchestrate(handle.run_id), 5)
    assert second.kind == "busy"
    GATE["open"].set()
    assert (await first).kind == "completed"
    assert await handle.result(timeout=1) == "through"


async def test_an_abandoned_local_step_is_queued_again_for_a_worker_that_serves_its_queue(rt: Runtime) -> None:
    """A local step whose worker died has no job. A replay on a worker that does not serve the step's queue
    (so cannot run it) queues it once its lease has run out, and a step worker finishes it."""
    wf = get_workflow("ls-chain")
    store = rt.engine.state
    handle = await WorkflowClient("ls-chain").start(0)
    await store.insert_step(NewStep(handle.run_id, "add-0", "rpc", "ls.add", '{"n": 0}', "pending", max_attempts=1))
    assert await store.claim_step(handle.run_id, "add-0", "dead-worker", 0.3) is not None
    steps = Worker(rt.engine, queues=[wf.step_queue(f"add-{i}") for i in range(5)], poll_interval=0.02)
    orchestrators = Worker(rt.engine, queues=[wf.orchestrator_queue], poll_interval=0.02)
    tasks = [asyncio.ensure_future(w.run()) for w in (steps, orchestrators)]
    try:
        assert await handle.result(timeout=20) == 5
    finally:
        for w in (steps, orchestrators):
            w.stop()
        await asyncio.gather(*tasks)
    assert steps.processed == 5 and (await store.get_step(handle.run_id, "add-0")).attempts == 2
