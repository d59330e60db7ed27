"""StateStore contract, claimed inserts: ``insert_step`` of a ``running`` step inserts it already claimed.

The engine runs some steps itself inside the orchestrator pass; inserting such a step claimed saves the
separate ``claim_step``. The record must be exactly what a ``pending`` insert plus a claim would leave, so
everything after it (renewal, the owner guard, takeover of an expired lease) works unchanged.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from pikku._errors import RunNotFoundError, StepNotFoundError
from pikku._records import Enqueue, ErrorInfo, NewStep, StepAttempt, StepRecord
from pikku.backends import Backend
from pikku.backends._contract import StateStore

SLACK = 1.0  # seconds of clock disagreement tolerated between the test and a database server
LEASE = 0.2  # a short lease for expiry tests
EXPIRED = 0.35  # sleeping this long lets a LEASE expire
ERR = ErrorInfo("boom", "ValueError")


def claimed(name: str = "s", owner: str = "w1", lease_s: float = 30.0, run_id: str = "r1") -> NewStep:
    return NewStep(run_id, name, "rpc", "f", '{"n": 1}', "running", max_attempts=3, lease_owner=owner, lease_s=lease_s)


async def insert_claimed(state: StateStore, owner: str = "w1", lease_s: float = 30.0) -> StepRecord:
    await state.create_run("r1", "wf", "null")
    return await state.insert_step(claimed(owner=owner, lease_s=lease_s))


def assert_near(value: float | None, low: float, high: float) -> None:
    assert value is not None
    assert low - SLACK <= value <= high + SLACK


async def test_claimed_insert_is_running_under_its_owner(state: StateStore) -> None:
    """Returned and re-read: running, one attempt, the owner's lease running for lease_s from now."""
    before = time.time()
    rec = await insert_claimed(state, lease_s=30.0)
    after = time.time()
    assert (rec.status, rec.attempts, rec.lease_owner, rec.max_attempts) == ("running", 1, "w1", 3)
    assert (rec.rpc_name, rec.data_json, rec.result_json, rec.error) == ("f", '{"n": 1}', None, None)
    assert_near(rec.created_at, before, after)
    assert_near(rec.lease_until, before + 30.0, after + 30.0)
    assert rec.lease_until is not None and rec.lease_until > time.time() + 20
    assert rec.lease_until == pytest.approx(rec.created_at + 30.0, abs=1e-3)  # the store's own clock
    assert await state.get_step("r1", "s") == rec
    assert (await state.get_steps("r1"))["s"] == rec


async def test_claimed_insert_records_one_open_attempt(state: StateStore) -> None:
    """One attempt, started when the step was created, not ended."""
    rec = await insert_claimed(state)
    assert await state.get_attempts("r1", "s") == [StepAttempt(1, rec.created_at, None, None)]


async def test_claimed_step_renews_and_completes_under_its_owner(state: StateStore) -> None:
    """The owner renews the lease and stores the result; the attempt is closed."""
    rec = await insert_claimed(state, lease_s=5.0)
    assert await state.renew_step_lease("r1", "s", "w1", 60.0) is True
    renewed = await state.get_step("r1", "s")
    assert renewed.lease_until is not None and rec.lease_until is not None
    assert renewed.lease_until > rec.lease_until + 30
    assert await state.complete_step("r1", "s", '"ok"', owner="w1") is True
    done = await state.get_step("r1", "s")
    assert (done.status, done.result_json, done.attempts) == ("done", '"ok"', 1)
    assert (done.lease_owner, done.lease_until) == (None, None)
    [attempt] = await state.get_attempts("r1", "s")
    assert (attempt.attempt, attempt.started_at, attempt.error) == (1, rec.created_at, None)
    assert attempt.ended_at is not None and attempt.ended_at >= attempt.started_at


async def test_claimed_step_failed_for_retry_is_claimed_again(state: StateStore) -> None:
    """fail_step(owner=, retry_at=) closes the attempt with its error; the next claim is attempt 2."""
    await insert_claimed(state)
    assert await state.fail_step("r1", "s", ERR, retry_at=time.time(), owner="w1") is True
    again = await state.claim_step("r1", "s", "w2", 30)
    assert again is not None and (again.status, again.lease_owner, again.attempts) == ("running", "w2", 2)
    first, second = await state.get_attempts("r1", "s")
    assert (first.attempt, first.error) == (1, ERR) and first.ended_at is not None
    assert (second.attempt, second.ended_at) == (2, None)


async def test_claimed_step_refuses_other_owners(state: StateStore) -> None:
    """Nobody but the owner renews, completes or fails it, and a live claim cannot be claimed again."""
    rec = await insert_claimed(state)
    assert await state.claim_step("r1", "s", "w2", 30) is None
    assert await state.renew_step_lease("r1", "s", "w2", 60) is False
    assert await state.complete_step("r1", "s", "1", owner="w2") is False
    assert await state.fail_step("r1", "s", ERR, owner="w2") is False
    assert await state.get_step("r1", "s") == rec
    assert await state.get_attempts("r1", "s") == [StepAttempt(1, rec.created_at, None, None)]


@pytest.mark.parametrize(
    "second",
    [
        claimed(owner="w2"),
        claimed(owner="w1", lease_s=999.0),
        NewStep("r1", "s", "rpc", "f", '{"n": 1}'),
        NewStep("r1", "s", "inline", status="done", result_json="9"),
    ],
    ids=["claimed-by-other", "claimed-again", "pending", "done"],
)
async def test_second_insert_returns_the_claimed_record_unchanged(state: StateStore, second: NewStep) -> None:
    """Inserting the name again, claimed or not, changes nothing and returns the stored record."""
    rec = await insert_claimed(state)
    assert await state.insert_step(second) == rec
    assert await state.get_step("r1", "s") == rec
    assert len(await state.get_attempts("r1", "s")) == 1


async def test_expired_claimed_step_is_taken_over(state: StateStore) -> None:
    """Once the lease runs out another owner claims it (attempt 2); the first owner can no longer settle it."""
    await insert_claimed(state, lease_s=LEASE)
    assert await state.claim_step("r1", "s", "w2", 30) is None  # still live
    await asyncio.sleep(EXPIRED)
    taken = await state.claim_step("r1", "s", "w2", 30)
    assert taken is not None and (taken.status, taken.lease_owner, taken.attempts) == ("running", "w2", 2)
    assert [a.attempt for a in await state.get_attempts("r1", "s")] == [1, 2]
    assert await state.complete_step("r1", "s", '"stale"', owner="w1") is False
    assert await state.complete_step("r1", "s", '"fresh"', owner="w2") is True
    assert (await state.get_step("r1", "s")).result_json == '"fresh"'


async def test_claimed_insert_without_owner_is_refused(state: StateStore) -> None:
    """A running step without a lease_owner: ValueError, and no step is written."""
    await state.create_run("r1", "wf", "null")
    with pytest.raises(ValueError):
        await state.insert_step(NewStep("r1", "s", "rpc", "f", status="running", lease_s=30))
    with pytest.raises(StepNotFoundError):
        await state.get_step("r1", "s")


async def test_lease_fields_are_ignored_unless_running(state: StateStore) -> None:
    """A pending step given an owner is inserted unclaimed, exactly as without one."""
    await state.create_run("r1", "wf", "null")
    rec = await state.insert_step(NewStep("r1", "s", "rpc", "f", lease_owner="w1", lease_s=30))
    assert (rec.status, rec.attempts, rec.lease_owner, rec.lease_until) == ("pending", 0, None, None)
    assert await state.get_attempts("r1", "s") == []


@pytest.mark.parametrize("settle", ["complete_run", "fail_run", "cancel_run"])
async def test_claimed_insert_into_a_settled_run_is_not_claimed(state: StateStore, settle: str) -> None:
    """As claim_step refuses a settled run's steps, the step goes in pending and unclaimed."""
    await state.create_run("r1", "wf", "null")
    if settle == "complete_run":
        await state.complete_run("r1", "null")
    elif settle == "fail_run":
        await state.fail_run("r1", ERR)
    else:
        await state.cancel_run("r1")
    rec = await state.insert_step(claimed())
    assert (rec.status, rec.attempts, rec.lease_owner, rec.lease_until) == ("pending", 0, None, None)
    assert await state.get_step("r1", "s") == rec
    assert await state.get_attempts("r1", "s") == []


async def test_claimed_insert_of_a_missing_run_raises(state: StateStore) -> None:
    with pytest.raises(RunNotFoundError):
        await state.insert_step(claimed(run_id="ghost"))


async def test_claimed_insert_with_handoff_enqueues_once(backend: Backend) -> None:
    """handoff= rides along a claimed insert as along any other: enqueued only by the inserting call."""
    state, queue = backend.state, backend.queue
    if not state.supports_handoff:
        pytest.skip("this backend has no co-located queue")
    await state.create_run("r1", "wf", "null")
    job = Enqueue("steps", {"run_id": "r1", "step": "s"})
    rec = await state.insert_step(claimed(), handoff=job)
    assert (rec.status, rec.attempts, rec.lease_owner) == ("running", 1, "w1")
    assert await state.insert_step(claimed(owner="w2"), handoff=job) == rec
    assert await queue.count("steps") == 1
