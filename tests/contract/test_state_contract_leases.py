"""StateStore contract, part two: the run's first job rides along create_run, and step leases renew."""

from __future__ import annotations

import asyncio

import pytest

from pikku._errors import RunNotFoundError, StepNotFoundError
from pikku._records import Enqueue, NewStep
from pikku.backends import Backend, open_backend
from pikku.backends._contract import StateStore


async def test_create_run_with_handoff_enqueues_the_first_job(backend: Backend) -> None:
    """With supports_handoff, create_run(handoff=...) commits the run and its first job together."""
    state, queue = backend.state, backend.queue
    if not state.supports_handoff:
        pytest.skip("this backend has no co-located queue")
    await state.create_run("r1", "wf", "null", handoff=Enqueue("orch", {"run_id": "r1"}))
    [job] = await queue.claim(["orch"], owner="w", lease_s=30)
    assert job.payload == {"run_id": "r1"}
    assert (await state.get_run("r1")).status == "running"


async def test_create_run_duplicate_enqueues_nothing(backend: Backend) -> None:
    """A create_run refused for a duplicate id leaves no job behind."""
    state, queue = backend.state, backend.queue
    if not state.supports_handoff:
        pytest.skip("this backend has no co-located queue")
    await state.create_run("r1", "wf", "null")
    with pytest.raises(ValueError):
        await state.create_run("r1", "wf", "null", handoff=Enqueue("orch", {"run_id": "r1"}))
    assert await queue.count() == 0


async def test_create_run_handoff_delay(backend: Backend) -> None:
    """A delayed first job exists at once but is not claimable before its delay."""
    state, queue = backend.state, backend.queue
    if not state.supports_handoff:
        pytest.skip("this backend has no co-located queue")
    await state.create_run("r1", "wf", "null", handoff=Enqueue("orch", {"run_id": "r1"}, delay=30))
    assert await queue.count("orch") == 1
    assert await queue.claim(["orch"], owner="w", lease_s=30) == []


async def test_store_alone_refuses_create_run_handoff(backend_url: str) -> None:
    """Without a co-located queue, create_run(handoff=...) raises TypeError and creates no run."""
    queue_url = "memory://alone" if backend_url.startswith("memory:") else "memory://"
    mixed = await open_backend(backend_url, queue_url)
    try:
        with pytest.raises(TypeError):
            await mixed.state.create_run("r1", "wf", "null", handoff=Enqueue("q", {}))
        with pytest.raises(RunNotFoundError):
            await mixed.state.get_run("r1")
    finally:
        await mixed.close()


async def test_renew_step_lease_keeps_others_out(state: StateStore) -> None:
    """The owner of a running step extends its lease; while renewed, nobody else can claim it."""
    await state.create_run("r1", "wf", "null")
    await state.insert_step(NewStep("r1", "s", "rpc", "f"))
    assert await state.claim_step("r1", "s", "w1", 0.3) is not None
    for _ in range(3):
        await asyncio.sleep(0.15)
        assert await state.renew_step_lease("r1", "s", "w1", 0.3) is True
    assert await state.claim_step("r1", "s", "w2", 0.3) is None
    step = await state.get_step("r1", "s")
    assert (step.status, step.lease_owner, step.attempts) == ("running", "w1", 1)


async def test_renew_step_lease_refused_for_others_and_settled_steps(state: StateStore) -> None:
    """Renewal fails for a non-owner, for a step not running, and after another owner took it over."""
    await state.create_run("r1", "wf", "null")
    await state.insert_step(NewStep("r1", "s", "rpc", "f"))
    assert await state.renew_step_lease("r1", "s", "w1", 5) is False  # pending: nothing to renew
    assert await state.claim_step("r1", "s", "w1", 0.2) is not None
    assert await state.renew_step_lease("r1", "s", "w2", 5) is False
    await asyncio.sleep(0.35)
    assert await state.claim_step("r1", "s", "w2", 5) is not None  # w1's lease expired; w2 took over
    assert await state.renew_step_lease("r1", "s", "w1", 5) is False
    assert await state.complete_step("r1", "s", "1") is True
    assert await state.renew_step_lease("r1", "s", "w2", 5) is False


async def test_renew_step_lease_of_missing_things_raises(state: StateStore) -> None:
    """Renewing on a missing run or step raises, like every other step method."""
    with pytest.raises(RunNotFoundError):
        await state.renew_step_lease("nope", "s", "w", 1)
    await state.create_run("r1", "wf", "null")
    with pytest.raises(StepNotFoundError):
        await state.renew_step_lease("r1", "nope", "w", 1)
