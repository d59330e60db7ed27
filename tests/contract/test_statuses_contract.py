"""The contract for the run statuses ``waiting`` and ``suspended``, on every backend: how a run gets there and
back, what each allows (locks, claims, settling, resuming, listing) and that pruning never deletes them."""

from __future__ import annotations

import time

import pytest

from pikku._errors import RunNotFoundError
from pikku._records import ErrorInfo, NewStep
from pikku.backends._contract import StateStore

ERR = ErrorInfo(message="boom", type="RuntimeError")


async def _waiting_run(state: StateStore, run_id: str = "r1") -> None:
    await state.create_run(run_id, "wf", "{}")
    _, steps = await state.lock_run(run_id, "owner", 30)
    assert steps is not None
    await state.release_run_lock(run_id, "owner", waiting=True)


# -- waiting ---------------------------------------------------------------------------------------------
async def test_a_pass_that_only_waits_leaves_its_run_waiting(state: StateStore) -> None:
    """release_run_lock(waiting=True) frees the lock and makes the run waiting; its updated_at (the start of
    its time limit) does not move."""
    await state.create_run("r1", "wf", "{}")
    before = await state.get_run("r1")
    await state.lock_run("r1", "owner", 30)
    await state.release_run_lock("r1", "owner", waiting=True)
    run = await state.get_run("r1")
    assert (run.status, run.updated_at) == ("waiting", before.updated_at)
    assert await state.acquire_run_lock("r1", "other", 30)  # type: ignore[attr-defined]


async def test_only_the_lock_holder_leaves_a_run_waiting(state: StateStore) -> None:
    """A release by someone who does not hold the lock changes nothing (the holder's pass decides); a plain
    release leaves the run running."""
    await state.create_run("r1", "wf", "{}")
    await state.lock_run("r1", "owner", 30)
    await state.release_run_lock("r1", "stranger", waiting=True)
    assert (await state.get_run("r1")).status == "running"
    await state.release_run_lock("r1", "owner")
    assert (await state.get_run("r1")).status == "running"
    await state.release_run_lock("r1", "owner", waiting=True)  # not held any more: nothing
    assert (await state.get_run("r1")).status == "running"


async def test_the_next_pass_takes_a_waiting_run_back_to_running(state: StateStore) -> None:
    """lock_run on a waiting run takes the lock, returns the run as running with its steps, and stores it
    running; updated_at does not move."""
    await _waiting_run(state)
    before = await state.get_run("r1")
    run, steps = await state.lock_run("r1", "next", 30)
    assert steps == {} and run.status == "running"
    after = await state.get_run("r1")
    assert (after.status, after.updated_at) == ("running", before.updated_at)


async def test_a_waiting_run_is_active(state: StateStore) -> None:
    """A waiting run's steps are claimed and inserted claimed, and it settles (completed, failed or cancelled)."""
    await _waiting_run(state)
    await state.insert_step(NewStep("r1", "s", "rpc", "f", "null", "scheduled"))
    assert await state.claim_step("r1", "s", "w", 30) is not None
    claimed = await state.insert_step(NewStep("r1", "t", "inline", status="running", lease_owner="w", lease_s=30))
    assert (claimed.status, claimed.lease_owner) == ("running", "w")
    assert await state.cancel_run("r1") is True
    assert (await state.get_run("r1")).status == "cancelled"
    for settle, args in (("complete_run", ('"out"',)), ("fail_run", (ERR,))):
        await _waiting_run(state, settle)
        assert await getattr(state, settle)(settle, *args) is True


async def test_runs_are_listed_by_the_new_statuses(state: StateStore) -> None:
    """list_runs filters on waiting and suspended exactly, and lists them with the rest without a filter."""
    await _waiting_run(state, "w")
    await state.create_run("s", "wf", "{}")
    await state.suspend_run("s", "hold", '"why"')
    await state.create_run("r", "wf", "{}")
    assert [r.run_id for r in await state.list_runs(status="waiting")] == ["w"]
    assert [r.run_id for r in await state.list_runs(status="suspended")] == ["s"]
    assert [r.run_id for r in await state.list_runs(status="running")] == ["r"]
    assert [r.run_id for r in await state.list_runs(workflow="wf", status="waiting")] == ["w"]
    assert [r.run_id for r in await state.list_runs()] == ["r", "s", "w"]
    assert [r.run_id for r in await state.list_runs(workflow="wf", limit=2)] == ["r", "s"]


async def test_pruning_never_deletes_a_waiting_or_suspended_run(state: StateStore) -> None:
    """delete_runs asked for every status deletes only the settled runs."""
    await _waiting_run(state, "w")
    await state.create_run("s", "wf", "{}")
    await state.suspend_run("s", "hold", '"why"')
    await state.create_run("c", "wf", "{}")
    await state.complete_run("c", "null")
    statuses = ("running", "waiting", "suspended", "completed", "failed", "cancelled")
    assert await state.delete_runs(before=time.time() + 10, statuses=statuses, limit=10) == ["c"]
    assert {r.run_id: r.status for r in await state.list_runs()} == {"w": "waiting", "s": "suspended"}


# -- suspended -------------------------------------------------------------------------------------------
async def test_suspend_stops_the_run_and_records_its_step(state: StateStore) -> None:
    """suspend_run: the run suspended (updated_at set) and the suspend step done with the reason as its input,
    result null and one finished attempt, in one write."""
    await state.create_run("r1", "wf", "{}")
    before = await state.get_run("r1")
    assert await state.suspend_run("r1", "suspend", '"Hold onboarding"') is True
    run = await state.get_run("r1")
    assert run.status == "suspended" and run.updated_at >= before.updated_at
    step = await state.get_step("r1", "suspend")
    assert (step.form, step.status, step.data_json, step.result_json, step.attempts) == (
        "suspend",
        "done",
        '"Hold onboarding"',
        "null",
        1,
    )
    [attempt] = await state.get_attempts("r1", "suspend")
    assert attempt.ended_at is not None and attempt.error is None


async def test_suspend_needs_an_active_run_and_a_new_step(state: StateStore) -> None:
    """A waiting run suspends; a suspended or settled run, or a step name the run has, change nothing; a
    missing run raises."""
    await _waiting_run(state)
    assert await state.suspend_run("r1", "a", "null") is True
    assert await state.suspend_run("r1", "b", "null") is False
    await state.create_run("r2", "wf", "{}")
    await state.insert_step(NewStep("r2", "a", "inline", status="done", result_json="1"))
    assert await state.suspend_run("r2", "a", "null") is False
    assert (await state.get_run("r2")).status == "running"
    assert (await state.get_step("r2", "a")).form == "inline"
    await state.complete_run("r2", "null")
    assert await state.suspend_run("r2", "c", "null") is False
    with pytest.raises(RunNotFoundError):
        await state.suspend_run("nope", "a", "null")


async def test_a_suspended_run_is_not_passed_until_resumed(state: StateStore) -> None:
    """lock_run refuses a suspended run (no lock, no steps); resume_run makes it running again, its suspend step
    kept done, and the next pass takes it."""
    await state.create_run("r1", "wf", "{}")
    await state.suspend_run("r1", "hold", '"why"')
    run, steps = await state.lock_run("r1", "owner", 30)
    assert run.status == "suspended" and steps is None
    assert await state.resume_run("r1") is True
    assert (await state.get_run("r1")).status == "running"
    _, steps = await state.lock_run("r1", "owner", 30)
    assert steps is not None and steps["hold"].status == "done"
    assert await state.resume_run("r1") is False


async def test_a_suspended_run_can_be_cancelled_and_its_dispatched_step_still_runs(state: StateStore) -> None:
    """A step dispatched before the suspend is still claimed (its body finishes); cancelling a suspended run
    settles it."""
    await state.create_run("r1", "wf", "{}")
    await state.insert_step(NewStep("r1", "s", "rpc", "f", "null", "scheduled"))
    await state.suspend_run("r1", "hold", '"why"')
    assert await state.claim_step("r1", "s", "w", 30) is not None
    assert await state.cancel_run("r1") is True
    assert (await state.get_run("r1")).status == "cancelled"
    assert await state.resume_run("r1") is True
