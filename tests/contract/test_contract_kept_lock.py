"""Contract: ``lock_run_kept``, the lock read of a kept run's pass (see pikku._engine.kept).

With the run's step count unchanged it returns only the named steps; with any other count every step (the
kept workflow is stale); without the lock, what ``lock_run`` returns. The engine trusts the count to say
that no pass elsewhere recorded anything, so every store must count exactly.
"""

from __future__ import annotations

import pytest

from pikku._errors import RunNotFoundError
from pikku._records import NewStep
from pikku.backends._contract import StateStore


async def _run_with_steps(state: StateStore, run_id: str, names: list[str]) -> None:
    await state.create_run(run_id, "wf", "null")
    for name in names:
        await state.insert_step(NewStep(run_id, name, "rpc", "f.x", "null", status="scheduled"))


async def test_an_unchanged_count_returns_only_the_named_steps(state: StateStore) -> None:
    await _run_with_steps(state, "r1", ["a", "b", "c"])
    await state.complete_step("r1", "c", '"done"')
    run, steps, whole = await state.lock_run_kept("r1", "me", 30, step_count=3, names=["c"])
    assert run.status == "running" and whole is False
    assert steps is not None and list(steps) == ["c"]
    assert steps["c"].status == "done" and steps["c"].result_json == '"done"'
    assert await state.acquire_run_lock("r1", "other", 5) is False, "the lock is taken as lock_run takes it"


async def test_a_changed_count_returns_every_step(state: StateStore) -> None:
    """A pass elsewhere recorded a step the kept workflow does not know of: all steps, for a replay."""
    await _run_with_steps(state, "r1", ["a", "b"])
    _, steps, whole = await state.lock_run_kept("r1", "me", 30, step_count=1, names=["a"])
    assert whole is True and steps is not None and list(steps) == ["a", "b"]
    _, steps, whole = await state.lock_run_kept("r1", "me", 30, step_count=3, names=["a"])
    assert whole is True and steps is not None and sorted(steps) == ["a", "b"]


async def test_a_name_that_is_not_stored_is_left_out(state: StateStore) -> None:
    await _run_with_steps(state, "r1", ["a"])
    _, steps, whole = await state.lock_run_kept("r1", "me", 30, step_count=1, names=["zzz"])
    assert whole is False and steps == {}


async def test_a_waiting_run_is_taken_running(state: StateStore) -> None:
    await _run_with_steps(state, "r1", ["a"])
    assert await state.acquire_run_lock("r1", "me", 30) is True
    await state.release_run_lock("r1", "me", waiting=True)
    assert (await state.get_run("r1")).status == "waiting"
    run, steps, _ = await state.lock_run_kept("r1", "me", 30, step_count=1, names=["a"])
    assert run.status == "running" and steps is not None
    assert (await state.get_run("r1")).status == "running"


@pytest.mark.parametrize("why", ["held", "settled"])
async def test_without_the_lock_nothing_is_read(state: StateStore, why: str) -> None:
    await _run_with_steps(state, "r1", ["a"])
    if why == "held":
        assert await state.acquire_run_lock("r1", "other", 30) is True
    else:
        assert await state.cancel_run("r1") is True
    run, steps, whole = await state.lock_run_kept("r1", "me", 30, step_count=1, names=["a"])
    assert steps is None and whole is True and run.run_id == "r1"
    assert run.status == ("running" if why == "held" else "cancelled")


async def test_a_missing_run_is_run_not_found(state: StateStore) -> None:
    with pytest.raises(RunNotFoundError):
        await state.lock_run_kept("nope", "me", 30, step_count=0, names=[])
