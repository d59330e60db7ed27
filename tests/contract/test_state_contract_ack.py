"""StateStore contract: acknowledging the processed job inside the transition that ends its work
(``supports_ack``), and refusing it everywhere else."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from pikku._records import Enqueue, ErrorInfo, Job, NewStep
from pikku.backends import Backend
from pikku.backends._contract import JobQueue, StateStore

ERROR = ErrorInfo("boom", "RuntimeError")


async def _claimed_step(state: StateStore, queue: JobQueue) -> Job:
    """Run r1 with step s claimed by worker w, and the step's job claimed by w: what a step worker holds."""
    await state.create_run("r1", "wf", "null")
    await state.insert_step(NewStep("r1", "s", "rpc", "f", status="scheduled"))
    await state.claim_step("r1", "s", "w", 30)
    await queue.enqueue("steps", {"run_id": "r1", "step": "s"})
    [job] = await queue.claim(["steps"], owner="w", lease_s=30)
    return job


def _settles(state: StateStore) -> dict[str, Callable[[Job], Awaitable[object]]]:
    orch = Enqueue("orch", {"run_id": "r1"})
    return {
        "complete": lambda job: state.complete_step("r1", "s", "1", handoff=orch, owner="w", ack=job),
        "fail": lambda job: state.fail_step("r1", "s", ERROR, handoff=orch, owner="w", ack=job),
        "retry": lambda job: state.fail_step("r1", "s", ERROR, retry_at=1e10, handoff=orch, owner="w", ack=job),
    }


@pytest.mark.parametrize("settle", ["complete", "fail", "retry"])
async def test_a_settle_acknowledges_the_job_with_it(backend: Backend, settle: str) -> None:
    state, queue = backend.state, backend.queue
    if not state.supports_ack:
        pytest.skip("this store does not acknowledge jobs in transitions")
    job = await _claimed_step(state, queue)
    assert await _settles(state)[settle](job) is True
    assert await queue.count("steps") == 0  # acknowledged
    assert await queue.count("orch") == 1  # and the hand-off is there
    assert not await queue.ack(job)  # nothing left for the worker to ack


async def test_the_job_is_acknowledged_even_when_the_settle_is_refused(backend: Backend) -> None:
    """As a worker acks after a step another worker took over: the job's work is over either way."""
    state, queue = backend.state, backend.queue
    if not state.supports_ack:
        pytest.skip("this store does not acknowledge jobs in transitions")
    job = await _claimed_step(state, queue)
    assert await state.complete_step("r1", "s", "1", owner="intruder", ack=job) is False
    assert (await state.get_step("r1", "s")).status == "running"
    assert await queue.count("steps") == 0


async def test_a_job_claimed_again_since_is_not_acknowledged(backend: Backend) -> None:
    """Only the claim the job came with is acknowledged, as with the queue's own ack."""
    state, queue = backend.state, backend.queue
    if not state.supports_ack:
        pytest.skip("this store does not acknowledge jobs in transitions")
    job = await _claimed_step(state, queue)
    assert await queue.release(job)
    [again] = await queue.claim(["steps"], owner="w2", lease_s=30)
    assert await state.complete_step("r1", "s", "1", owner="w", ack=job) is True
    assert await queue.count("steps") == 1
    assert await queue.ack(again)


async def test_releasing_the_run_lock_acknowledges_the_job_with_it(backend: Backend) -> None:
    state, queue = backend.state, backend.queue
    if not state.supports_ack:
        pytest.skip("this store does not acknowledge jobs in transitions")
    await state.create_run("r1", "wf", "null")
    assert await state.acquire_run_lock("r1", "w", 30)
    await queue.enqueue("orch", {"run_id": "r1"})
    [job] = await queue.claim(["orch"], owner="w", lease_s=30)
    await state.release_run_lock("r1", "w", ack=job)
    assert await queue.count("orch") == 0
    assert await state.acquire_run_lock("r1", "w2", 30)  # and the lock is free


async def test_stores_without_it_refuse_an_ack_and_change_nothing(backend: Backend) -> None:
    state = backend.state
    if state.supports_ack:
        pytest.skip("this store acknowledges jobs in transitions")
    await state.create_run("r1", "wf", "null")
    await state.insert_step(NewStep("r1", "s", "rpc", "f", status="scheduled"))
    await state.claim_step("r1", "s", "w", 30)
    assert await state.acquire_run_lock("r1", "w", 30)
    job = Job(id="1", queue="steps", payload={}, attempts=1, run_at=0.0, lease_until=1e10, owner="w")
    with pytest.raises(TypeError):
        await state.complete_step("r1", "s", "1", owner="w", ack=job)
    with pytest.raises(TypeError):
        await state.fail_step("r1", "s", ERROR, owner="w", ack=job)
    with pytest.raises(TypeError):
        await state.release_run_lock("r1", "w", ack=job)
    assert (await state.get_step("r1", "s")).status == "running"
    assert not await state.acquire_run_lock("r1", "w2", 30)  # still held by w
