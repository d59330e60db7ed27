"""Contract, part six: a worker that lost its step to another cannot settle it."""

from __future__ import annotations

import asyncio

from pikku._records import ErrorInfo, NewStep
from pikku.backends._contract import StateStore

ERR = ErrorInfo("boom", "ValueError")


async def _taken_over(state: StateStore) -> None:
    await state.create_run("r1", "wf", "null")
    await state.insert_step(NewStep("r1", "s", "rpc", "f"))
    assert await state.claim_step("r1", "s", "stale", 0.2) is not None
    await asyncio.sleep(0.35)
    assert await state.claim_step("r1", "s", "live", 30) is not None


async def test_stale_owner_cannot_complete(state: StateStore) -> None:
    """complete_step(owner=stale) after another owner claimed the step is refused; the live owner wins."""
    await _taken_over(state)
    assert await state.complete_step("r1", "s", '"stale"', owner="stale") is False
    assert await state.fail_step("r1", "s", ERR, owner="stale") is False
    assert (await state.get_step("r1", "s")).status == "running"
    assert await state.complete_step("r1", "s", '"live"', owner="live") is True
    step = await state.get_step("r1", "s")
    assert (step.status, step.result_json) == ("done", '"live"')


async def test_owner_may_finish_after_expiry_if_nobody_took_over(state: StateStore) -> None:
    """An owner whose lease ran out but whose step nobody claimed since can still settle it."""
    await state.create_run("r1", "wf", "null")
    await state.insert_step(NewStep("r1", "s", "rpc", "f"))
    assert await state.claim_step("r1", "s", "w", 0.2) is not None
    await asyncio.sleep(0.35)
    assert await state.fail_step("r1", "s", ERR, retry_at=0.0, owner="w") is True
    assert await state.claim_step("r1", "s", "w", 30) is not None
    assert await state.complete_step("r1", "s", "1", owner="w") is True


async def test_owner_guard_refuses_unclaimed_steps(state: StateStore) -> None:
    """With an owner, a step that is not running (pending or scheduled) is not settled."""
    await state.create_run("r1", "wf", "null")
    await state.insert_step(NewStep("r1", "s", "rpc", "f", status="scheduled"))
    assert await state.complete_step("r1", "s", "1", owner="w") is False
    assert await state.complete_step("r1", "s", "1") is True  # without an owner: as before
