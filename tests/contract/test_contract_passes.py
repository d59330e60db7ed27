"""Contract, part four: a replay pass's opening read (lock_run) and job priorities."""

from __future__ import annotations

import asyncio

import pytest

from pikku._errors import RunNotFoundError
from pikku._records import Enqueue, ErrorInfo, NewStep
from pikku.backends import Backend
from pikku.backends._contract import JobQueue, StateStore


async def test_lock_run_returns_run_and_steps_and_takes_the_lock(state: StateStore) -> None:
    """lock_run takes the lock and returns the run with every step; another owner is then refused."""
    await state.create_run("r1", "wf", '{"a":1}')
    await state.insert_step(NewStep("r1", "s1", "rpc", "f", "1"))
    await state.insert_step(NewStep("r1", "s2", "inline", status="done", result_json="2"))
    run, steps = await state.lock_run("r1", "w1", 5)
    assert (run.run_id, run.status, run.input_json) == ("r1", "running", '{"a":1}')
    assert steps is not None and set(steps) == {"s1", "s2"}
    assert steps["s2"].result_json == "2"
    assert steps == await state.get_steps("r1")
    assert await state.acquire_run_lock("r1", "w2", 5) is False
    run2, steps2 = await state.lock_run("r1", "w2", 5)
    assert (run2.run_id, steps2) == ("r1", None)
    _again, steps3 = await state.lock_run("r1", "w1", 5)  # the owner may take it again
    assert steps3 is not None


async def test_lock_run_after_expiry_and_on_settled_runs(state: StateStore) -> None:
    """An expired lock can be taken over; a settled run is returned without its steps or the lock."""
    await state.create_run("r1", "wf", "null")
    assert (await state.lock_run("r1", "w1", 0.2))[1] is not None
    await asyncio.sleep(0.35)
    assert (await state.lock_run("r1", "w2", 5))[1] is not None
    await state.release_run_lock("r1", "w2")
    await state.fail_run("r1", ErrorInfo("x", "E"))
    run, steps = await state.lock_run("r1", "w3", 5)
    assert (run.status, steps) == ("failed", None)
    assert await state.acquire_run_lock("r1", "w3", 5) is True  # lock_run did not take it


async def test_lock_run_of_a_missing_run_raises(state: StateStore) -> None:
    """lock_run on an unknown run raises RunNotFoundError."""
    with pytest.raises(RunNotFoundError):
        await state.lock_run("nope", "w", 1)


async def test_lower_priority_is_claimed_first(queue: JobQueue) -> None:
    """Due jobs are claimed by priority (lower first), then by due time; no priority means the due time."""
    await queue.enqueue("q", {"n": "new-run"}, priority=2000.0)
    await queue.enqueue("q", {"n": "plain"})  # priority = now (far above 2000)
    await queue.enqueue("q", {"n": "old-run"}, priority=1000.0)
    await queue.enqueue("q", {"n": "old-run-2"}, priority=1000.0)
    jobs = await queue.claim(["q"], owner="w", lease_s=30, limit=4)
    assert [j.payload["n"] for j in jobs] == ["old-run", "old-run-2", "new-run", "plain"]


async def test_priority_never_makes_a_job_due_early(queue: JobQueue) -> None:
    """A delayed job with the lowest priority is still not claimable before its delay."""
    await queue.enqueue("q", {"n": "later"}, delay=30, priority=1.0)
    await queue.enqueue("q", {"n": "now"}, priority=5.0)
    [job] = await queue.claim(["q"], owner="w", lease_s=30, limit=5)
    assert job.payload == {"n": "now"}


async def test_handoff_keeps_its_priority(backend: Backend) -> None:
    """A hand-off enqueued with a step transition carries its priority into the queue."""
    state, queue = backend.state, backend.queue
    if not state.supports_handoff:
        pytest.skip("this backend has no co-located queue")
    await queue.enqueue("orch", {"n": "young"}, priority=5000.0)
    await state.create_run("r1", "wf", "null")
    await state.insert_step(NewStep("r1", "s", "rpc", "f"))
    await state.complete_step("r1", "s", "1", handoff=Enqueue("orch", {"n": "old"}, priority=10.0))
    jobs = await queue.claim(["orch"], owner="w", lease_s=30, limit=2)
    assert [j.payload["n"] for j in jobs] == ["old", "young"]
