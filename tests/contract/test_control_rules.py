"""More of the contract for operating runs and dead jobs, on every backend: races between processes,
what a deleted run leaves behind, keyed jobs coming back from the dead, and the order dead jobs are listed
in. (``test_control_contract.py`` has the basic cases.)"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from pikku._errors import RunNotFoundError
from pikku._records import ErrorInfo, NewStep
from pikku.backends import open_backend
from pikku.backends._contract import JobQueue, StateStore

ERR = ErrorInfo(message="down", type="ConnectionError", stack="...", code=None)
RUNS = [f"r{i}" for i in range(12)]


async def _failed_run(state: StateStore, run_id: str) -> None:
    await state.create_run(run_id, "wf", "{}")
    await state.insert_step(NewStep(run_id, "s", "rpc", "f", "null", "pending", 1))
    assert await state.claim_step(run_id, "s", "w", 30) is not None
    assert await state.fail_step(run_id, "s", ERR, owner="w")
    assert await state.fail_run(run_id, ERR)


# -- races between processes -------------------------------------------------------------------------


def _resume_in_child(url: str, barrier: Any, out: Any) -> None:
    """Child process: open the backend, wait for everyone, then resume every run once."""

    async def main() -> list[str]:
        opened = await open_backend(url)
        try:
            barrier.wait(timeout=60)
            order = RUNS if os.getpid() % 2 else RUNS[::-1]
            return [run_id for run_id in order if await opened.state.resume_run(run_id)]
        finally:
            await opened.close()

    out.put(asyncio.run(main()))


async def test_resume_race_between_processes(state: StateStore, shared_url: str, race_processes: Any) -> None:
    """4 processes resuming the same failed runs: each run is resumed by exactly one of them, and its failed
    step gets one fresh budget (not one per caller)."""
    for run_id in RUNS:
        await _failed_run(state, run_id)
    won = [run_id for resumed in race_processes(_resume_in_child, shared_url) for run_id in resumed]
    assert sorted(won) == sorted(RUNS)
    for run_id in RUNS:
        step = await state.get_step(run_id, "s")
        assert (step.status, step.max_attempts) == ("pending", 2)


def _resume_or_delete_in_child(url: str, barrier: Any, out: Any) -> None:
    """Child process: wait for everyone, then for each run try to resume it and delete a page of failed
    runs, in turn. Reports what it resumed and what it deleted."""

    async def main() -> tuple[list[str], list[str]]:
        opened = await open_backend(url)
        resumed: list[str] = []
        deleted: list[str] = []
        try:
            barrier.wait(timeout=60)
            order = RUNS if os.getpid() % 2 else RUNS[::-1]
            for run_id in order:
                try:
                    if await opened.state.resume_run(run_id):
                        resumed.append(run_id)
                except RunNotFoundError:
                    pass
                later = time.time() + 3600
                deleted += await opened.state.delete_runs(before=later, statuses=("failed", "running"), limit=2)
            return resumed, deleted
        finally:
            await opened.close()

    out.put(asyncio.run(main()))


async def test_delete_runs_racing_resume_never_deletes_a_running_run(
    state: StateStore, shared_url: str, race_processes: Any
) -> None:
    """Processes resuming and pruning the same failed runs at once: every run is either resumed (once, and
    then kept, running, with its steps) or deleted (once), never both."""
    for run_id in RUNS:
        await _failed_run(state, run_id)
    reports = race_processes(_resume_or_delete_in_child, shared_url)
    resumed = [run_id for won, _ in reports for run_id in won]
    deleted = [run_id for _, gone in reports for run_id in gone]
    assert len(resumed) == len(set(resumed)) and len(deleted) == len(set(deleted))
    assert set(resumed).isdisjoint(deleted) and set(resumed) | set(deleted) == set(RUNS)
    for run_id in resumed:
        assert (await state.get_run(run_id)).status == "running"
        assert (await state.get_step(run_id, "s")).status == "pending"
    assert sorted(r.run_id for r in await state.list_runs()) == sorted(resumed)


# -- what deleting a run leaves --------------------------------------------------------------------------


async def test_a_deleted_run_leaves_no_steps_or_attempts_behind(state: StateStore) -> None:
    """A run created again under the id of a deleted one starts empty: no steps, and its step's attempts
    are only its own (the deleted run's attempt log went with it)."""
    await _failed_run(state, "again")
    assert await state.delete_runs(before=time.time() + 1, statuses=("failed",), limit=10) == ["again"]
    await state.create_run("again", "wf", "{}")
    assert await state.get_steps("again") == {}
    assert await state.get_run_attempts("again") == {}
    await state.insert_step(NewStep("again", "s", "rpc", "f", "null", "pending", 1))
    assert await state.claim_step("again", "s", "w", 30) is not None
    assert [a.attempt for a in await state.get_attempts("again", "s")] == [1]


async def test_delete_runs_takes_every_status_asked_for_oldest_first(state: StateStore) -> None:
    """Runs of several statuses are deleted together in one oldest-change-first order, a page at a time."""
    for n, settle in enumerate(("complete", "fail", "cancel", "complete", "fail")):
        run_id = f"{settle}-{n}"
        await state.create_run(run_id, "wf", "{}")
        if settle == "complete":
            await state.complete_run(run_id, "null")
        elif settle == "fail":
            await state.fail_run(run_id, ERR)
        else:
            await state.cancel_run(run_id)
        await asyncio.sleep(0.01)
    statuses = ("completed", "failed", "cancelled")
    cutoff = time.time() + 1
    assert await state.delete_runs(before=cutoff, statuses=statuses, limit=2) == ["complete-0", "fail-1"]
    assert await state.delete_runs(before=cutoff, statuses=statuses, limit=2) == ["cancel-2", "complete-3"]
    assert await state.delete_runs(before=cutoff, statuses=statuses, limit=2) == ["fail-4"]


async def test_a_resumed_run_leaves_pruning_until_it_settles_again(state: StateStore) -> None:
    """A resumed run is running: not deleted as failed any more; once it fails again, it is, by its new
    last change."""
    await _failed_run(state, "r")
    assert await state.resume_run("r")
    assert await state.delete_runs(before=time.time() + 1, statuses=("failed",), limit=10) == []
    mark = time.time()
    await asyncio.sleep(0.01)
    assert await state.fail_run("r", ERR)
    assert await state.delete_runs(before=mark, statuses=("failed",), limit=10) == []
    assert await state.delete_runs(before=time.time() + 1, statuses=("failed",), limit=10) == ["r"]


# -- reading and claiming ----------------------------------------------------------------------------------


async def test_get_run_attempts_of_a_run_without_steps_is_empty(state: StateStore) -> None:
    """A run with no steps yet has no attempts (and is not an error)."""
    await state.create_run("r", "wf", "{}")
    assert await state.get_run_attempts("r") == {}


async def test_a_form_guarded_claim_leaves_an_expired_step_of_another_form_alone(state: StateStore) -> None:
    """A running inline step whose lease expired is claimable, but not by a claim for rpc steps."""
    await state.create_run("r", "wf", "{}")
    await state.insert_step(NewStep("r", "inline", "inline", None, None, "running", 3, lease_owner="a", lease_s=0.01))
    await asyncio.sleep(0.05)
    assert await state.claim_step("r", "inline", "b", 30, form="rpc") is None
    held = await state.get_step("r", "inline")
    assert (held.lease_owner, held.attempts) == ("a", 1)
    claimed = await state.claim_step("r", "inline", "b", 30, form="inline")
    assert claimed is not None and (claimed.lease_owner, claimed.attempts) == ("b", 2)


# -- dead jobs ----------------------------------------------------------------------------------------------


async def _dead(queue: JobQueue, name: str, reason: str, *, key: str | None = None) -> str:
    await queue.enqueue(name, {"reason": reason}, key=key)
    [job] = await queue.claim([name], owner="w", lease_s=30)
    assert await queue.dead_letter(job, reason)
    return job.id


async def test_dead_jobs_are_listed_newest_first_up_to_the_limit(queue: JobQueue) -> None:
    """list_dead gives the most recently dead jobs first, at most ``limit``."""
    for reason in ("first", "second", "third"):
        await _dead(queue, "q", reason)
        await asyncio.sleep(0.01)
    assert [d.reason for d in await queue.list_dead(2)] == ["third", "second"]
    assert [d.reason for d in await queue.list_dead()] == ["third", "second", "first"]


async def test_a_retried_keyed_job_merges_into_the_job_waiting_with_its_key(queue: JobQueue) -> None:
    """A dead keyed job put back while a job with its queue and key waits adds nothing: the waiting job
    stays, with its payload, and is due no later than now."""
    dead_id = await _dead(queue, "q", "forged", key="run-1")
    waiting = await queue.enqueue("q", {"n": 2}, delay=60, key="run-1")
    assert await queue.retry_dead(dead_id) is True
    assert await queue.count("q") == 1 and await queue.list_dead() == []
    [job] = await queue.claim(["q"], owner="w", lease_s=30)
    assert (job.id, job.payload) == (waiting, {"n": 2})


async def test_a_retried_keyed_job_keeps_its_key(queue: JobQueue) -> None:
    """A dead keyed job put back with no job waiting with its key waits under that key again: the next
    enqueue with the key merges into it."""
    dead_id = await _dead(queue, "q", "poison", key="run-1")
    assert await queue.retry_dead(dead_id) is True
    await queue.enqueue("q", {"n": 2}, key="run-1")
    assert await queue.count("q") == 1
    [job] = await queue.claim(["q"], owner="w", lease_s=30)
    assert (job.payload, job.attempts) == ({"reason": "poison"}, 1)


async def test_a_dead_job_is_not_acked_released_or_extended_by_its_old_claim(queue: JobQueue) -> None:
    """Once dead, the claim that dead-lettered it can no longer touch it; a second dead_letter is False."""
    await queue.enqueue("q", {})
    [job] = await queue.claim(["q"], owner="w", lease_s=30)
    assert await queue.dead_letter(job, "x") is True
    assert await queue.ack(job) is False
    assert await queue.release(job) is False
    assert await queue.extend(job, 30) is False
    assert await queue.dead_letter(job, "again") is False
    assert [d.reason for d in await queue.list_dead()] == ["x"]
