"""The contract for operating runs and poison jobs, on every backend: resuming, deleting, reading every
attempt at once, claiming only rpc steps for a queue job, and dead-lettering jobs."""

from __future__ import annotations

import asyncio
import time

from pikku._records import ErrorInfo, NewStep
from pikku.backends._contract import JobQueue, StateStore

ERR = ErrorInfo(message="down", type="ConnectionError", stack="...", code=None)
SLACK = 1.0


async def _run_with_steps(state: StateStore, run_id: str = "r1") -> None:
    await state.create_run(run_id, "wf", "{}")
    await state.insert_step(NewStep(run_id, "ok", "inline", None, None, "done", 1, result_json="1"))
    await state.insert_step(NewStep(run_id, "pay", "rpc", "pay.charge", '{"n": 1}', "pending", 2))
    for _ in range(2):
        assert await state.claim_step(run_id, "pay", "w", 30) is not None
        assert await state.fail_step(run_id, "pay", ERR, owner="w", retry_at=None if _ else time.time())


# -- claim_step(form=) ------------------------------------------------------------------------------
async def test_a_form_guarded_claim_takes_only_steps_of_that_form(state: StateStore) -> None:
    """A queue job claims with form='rpc': an inline step (or a sleep) is not claimed and not changed."""
    await state.create_run("r1", "wf", "{}")
    await state.insert_step(NewStep("r1", "inline", "inline", None, None, "scheduled", 3, wake_at=time.time()))
    await state.insert_step(NewStep("r1", "rpc", "rpc", "f", "null", "pending", 3))
    assert await state.claim_step("r1", "inline", "w", 30, form="rpc") is None
    untouched = await state.get_step("r1", "inline")
    assert (untouched.status, untouched.attempts, untouched.lease_owner) == ("scheduled", 0, None)
    claimed = await state.claim_step("r1", "rpc", "w", 30, form="rpc")
    assert claimed is not None and claimed.status == "running" and claimed.attempts == 1


# -- resume_run --------------------------------------------------------------------------------------
async def test_resume_gives_a_failed_run_and_its_failed_step_a_fresh_start(state: StateStore) -> None:
    """failed -> running, error cleared; the failed step pending with a fresh budget; done steps kept."""
    await _run_with_steps(state)
    await state.fail_run("r1", ERR)
    assert await state.resume_run("r1") is True
    run = await state.get_run("r1")
    assert run.status == "running" and run.error is None
    pay, ok = await state.get_step("r1", "pay"), await state.get_step("r1", "ok")
    assert (pay.status, pay.error, pay.attempts, pay.max_attempts) == ("pending", None, 2, 4)
    assert (ok.status, ok.result_json) == ("done", "1")
    assert len(await state.get_attempts("r1", "pay")) == 2
    claimed = await state.claim_step("r1", "pay", "w", 30)
    assert claimed is not None and claimed.attempts == 3


async def test_resume_a_cancelled_run(state: StateStore) -> None:
    """A cancelled run resumes too."""
    await state.create_run("r1", "wf", "{}")
    await state.cancel_run("r1")
    assert await state.resume_run("r1") is True
    assert (await state.get_run("r1")).status == "running"


async def test_resume_refuses_running_and_completed_runs(state: StateStore) -> None:
    """Resuming a running or completed run changes nothing and says so; a missing run raises."""
    await state.create_run("r1", "wf", "{}")
    assert await state.resume_run("r1") is False
    await state.complete_run("r1", '"out"')
    assert await state.resume_run("r1") is False
    assert (await state.get_run("r1")).status == "completed"
    try:
        await state.resume_run("nope")
    except Exception as exc:
        assert type(exc).__name__ == "RunNotFoundError"
    else:
        raise AssertionError("resume_run of a missing run must raise RunNotFoundError")


async def test_resume_races_resolve_to_one_winner(state: StateStore) -> None:
    """Five resumes at once: exactly one applies."""
    await state.create_run("r1", "wf", "{}")
    await state.fail_run("r1", ERR)
    results = await asyncio.gather(*(state.resume_run("r1") for _ in range(5)))
    assert sorted(results) == [False, False, False, False, True]


# -- delete_runs ---------------------------------------------------------------------------------------
async def test_delete_runs_removes_old_settled_runs_with_their_steps_oldest_first(state: StateStore) -> None:
    """Only runs of the given statuses updated before the cutoff go, oldest first, up to ``limit``."""
    for i in range(4):
        await _run_with_steps(state, f"done-{i}")
        await state.complete_run(f"done-{i}", "null")
        await asyncio.sleep(0.01)
    await state.create_run("failed", "wf", "{}")
    await state.fail_run("failed", ERR)
    cutoff = time.time() + SLACK
    first = await state.delete_runs(before=cutoff, statuses=("completed",), limit=3)
    assert first == ["done-0", "done-1", "done-2"]
    assert await state.delete_runs(before=cutoff, statuses=("completed",), limit=3) == ["done-3"]
    assert [r.run_id for r in await state.list_runs()] == ["failed"]
    for i in range(4):
        try:
            await state.get_steps(f"done-{i}")
        except Exception as exc:
            assert type(exc).__name__ == "RunNotFoundError"
        else:
            raise AssertionError("the steps of a deleted run must be gone")


async def test_delete_runs_never_deletes_a_running_run(state: StateStore) -> None:
    """Even when asked for running runs, a run being written is kept; a recent run is kept too."""
    await state.create_run("live", "wf", "{}")
    await state.create_run("recent", "wf", "{}")
    await state.complete_run("recent", "null")
    assert await state.delete_runs(before=time.time() + SLACK, statuses=("running",), limit=10) == []
    assert await state.delete_runs(before=time.time() - 3600, statuses=("completed",), limit=10) == []
    assert {r.run_id for r in await state.list_runs()} == {"live", "recent"}


# -- get_run_attempts -----------------------------------------------------------------------------------
async def test_get_run_attempts_reads_every_steps_attempts_at_once(state: StateStore) -> None:
    """One read gives each step's attempts, in order, equal to get_attempts per step."""
    await _run_with_steps(state)
    every = await state.get_run_attempts("r1")
    assert [a.attempt for a in every["pay"]] == [1, 2]
    for name in ("ok", "pay"):
        assert every.get(name, []) == await state.get_attempts("r1", name)
    try:
        await state.get_run_attempts("nope")
    except Exception as exc:
        assert type(exc).__name__ == "RunNotFoundError"
    else:
        raise AssertionError("get_run_attempts of a missing run must raise RunNotFoundError")


# -- dead letters ------------------------------------------------------------------------------------
async def test_a_dead_lettered_job_is_never_delivered_again_and_is_listed(queue: JobQueue) -> None:
    """dead_letter takes a claimed job out of delivery, keeps it with its reason; count excludes it."""
    await queue.enqueue("q", {"n": 1})
    [job] = await queue.claim(["q"], owner="w", lease_s=0.1)
    assert await queue.dead_letter(job, "payload has no run_id") is True
    await asyncio.sleep(0.2)  # past the lease: a dead job is not redelivered
    assert await queue.claim(None, owner="w", lease_s=30) == []
    assert await queue.count() == 0
    [dead] = await queue.list_dead()
    assert (dead.id, dead.queue, dead.payload, dead.reason) == (job.id, "q", {"n": 1}, "payload has no run_id")
    assert dead.attempts == 1 and abs(dead.died_at - time.time()) < 5 + SLACK


async def test_dead_letter_needs_the_live_claim(queue: JobQueue) -> None:
    """A worker whose claim was lost cannot dead-letter the job another worker now holds."""
    await queue.enqueue("q", {})
    [stale] = await queue.claim(["q"], owner="a", lease_s=0.05)
    await asyncio.sleep(0.1)
    [live] = await queue.claim(["q"], owner="b", lease_s=30)
    assert await queue.dead_letter(stale, "x") is False
    assert await queue.list_dead() == []
    assert await queue.ack(live) is True


async def test_retry_and_drop_dead_jobs(queue: JobQueue) -> None:
    """retry_dead puts the job back, due now, delivery count reset; drop_dead deletes it; unknown ids False."""
    for n in (1, 2):
        await queue.enqueue("q", {"n": n})
    jobs = await queue.claim(["q"], owner="w", lease_s=30, limit=2)
    for job in jobs:
        assert await queue.dead_letter(job, f"bad {job.payload['n']}")
    newest_first = [d.payload["n"] for d in await queue.list_dead()]
    assert sorted(newest_first) == [1, 2] and len(newest_first) == 2
    one, two = sorted(jobs, key=lambda j: j.payload["n"])
    assert await queue.retry_dead(one.id) is True
    [again] = await queue.claim(["q"], owner="w", lease_s=30)
    assert again.payload == {"n": 1} and again.attempts == 1
    assert await queue.drop_dead(two.id) is True
    assert await queue.list_dead() == []
    assert await queue.retry_dead(two.id) is False and await queue.drop_dead("no-such-job") is False
