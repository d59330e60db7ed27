"""StateStore contract, part three: one-write dispatch (insert_step with its job) and no claims on
settled runs."""

from __future__ import annotations

import pytest

from pikku._records import Enqueue, ErrorInfo, NewStep
from pikku.backends import Backend, open_backend
from pikku.backends._contract import StateStore


async def test_insert_step_with_handoff_enqueues_once(backend: Backend) -> None:
    """insert_step(handoff=...) commits the step and its job together; a second insert enqueues nothing."""
    state, queue = backend.state, backend.queue
    if not state.supports_handoff:
        pytest.skip("this backend has no co-located queue")
    await state.create_run("r1", "wf", "null")
    job = Enqueue("steps", {"run_id": "r1", "step": "s"})
    rec = await state.insert_step(NewStep("r1", "s", "rpc", "f", "1", status="scheduled"), handoff=job)
    assert rec.status == "scheduled"
    again = await state.insert_step(NewStep("r1", "s", "rpc", "f", "1", status="scheduled"), handoff=job)
    assert again.status == "scheduled"
    assert await queue.count("steps") == 1
    [claimed] = await queue.claim(["steps"], owner="w", lease_s=30)
    assert claimed.payload == {"run_id": "r1", "step": "s"}


async def test_store_alone_refuses_insert_step_handoff(backend_url: str) -> None:
    """Without a co-located queue, insert_step(handoff=...) raises TypeError and inserts nothing."""
    queue_url = "memory://alone" if backend_url.startswith("memory:") else "memory://"
    mixed = await open_backend(backend_url, queue_url)
    try:
        await mixed.state.create_run("r1", "wf", "null")
        with pytest.raises(TypeError):
            await mixed.state.insert_step(NewStep("r1", "s", "rpc", "f"), handoff=Enqueue("q", {}))
        assert await mixed.state.get_steps("r1") == {}
    finally:
        await mixed.close()


@pytest.mark.parametrize("settle", ["complete", "fail", "cancel"])
async def test_steps_of_settled_runs_are_never_claimed(state: StateStore, settle: str) -> None:
    """Once the run is completed, failed or cancelled, claim_step returns None for its open steps."""
    await state.create_run("r1", "wf", "null")
    await state.insert_step(NewStep("r1", "s", "rpc", "f", status="scheduled"))
    if settle == "complete":
        await state.complete_run("r1", "1")
    elif settle == "fail":
        await state.fail_run("r1", ErrorInfo("x", "E"))
    else:
        await state.cancel_run("r1")
    assert await state.claim_step("r1", "s", "w", 5) is None
    step = await state.get_step("r1", "s")
    assert (step.status, step.attempts) == ("scheduled", 0)
