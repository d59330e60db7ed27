"""The StateStore contract (``pikku.backends._contract``): every backend must pass every test here."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from pikku._errors import RunNotFoundError, StepNotFoundError
from pikku._records import Enqueue, ErrorInfo, NewStep, StepRecord
from pikku.backends import Backend, open_backend
from pikku.backends._contract import StateStore

SLACK = 1.0  # seconds of clock disagreement tolerated between the test and a database server
LEASE = 0.2  # a short lease for expiry tests
EXPIRED = 0.3  # sleeping this long lets a LEASE expire

ERR = ErrorInfo(message="boom", type="ValueError", stack="Traceback ...", code="PIKKU_X")


async def new_run(state: StateStore, run_id: str = "run-1", workflow: str = "wf") -> str:
    await state.create_run(run_id, workflow, '{"n":1}')
    return run_id


async def new_step(state: StateStore, run_id: str = "run-1", name: str = "s", **fields: Any) -> StepRecord:
    return await state.insert_step(NewStep(run_id=run_id, name=name, form=fields.pop("form", "rpc"), **fields))


def assert_now(value: float | None, before: float, after: float, plus: float = 0.0) -> None:
    assert value is not None
    assert before + plus - SLACK <= value <= after + plus + SLACK


# -- runs ------------------------------------------------------------------------------------------------


async def test_create_and_get_run(state: StateStore) -> None:
    """create_run stores a ``running`` run with its input text and store-supplied timestamps."""
    before = time.time()
    created = await state.create_run("r1", "orders", '{"id": 7}')
    after = time.time()
    got = await state.get_run("r1")
    assert got == created
    assert (got.run_id, got.workflow, got.status, got.input_json) == ("r1", "orders", "running", '{"id": 7}')
    assert (got.output_json, got.error) == (None, None)
    assert_now(got.created_at, before, after)
    assert_now(got.updated_at, before, after)


async def test_duplicate_run_id_raises_value_error(state: StateStore) -> None:
    """A second create_run with an existing id raises ValueError and leaves the first run as it was."""
    first = await state.create_run("r1", "wf", '"first"')
    with pytest.raises(ValueError):
        await state.create_run("r1", "other", '"second"')
    assert await state.get_run("r1") == first


async def test_get_missing_run_raises(state: StateStore) -> None:
    """get_run of an unknown id raises RunNotFoundError carrying the id."""
    with pytest.raises(RunNotFoundError) as info:
        await state.get_run("nope")
    assert info.value.run_id == "nope"


async def test_list_runs_newest_first(state: StateStore) -> None:
    """list_runs returns runs newest first by created_at."""
    for run_id in ("a", "b", "c"):
        await new_run(state, run_id)
    assert [r.run_id for r in await state.list_runs()] == ["c", "b", "a"]


async def test_list_runs_filters_and_limit(state: StateStore) -> None:
    """list_runs filters by workflow, by status, by both, and returns at most ``limit`` (the newest)."""
    await new_run(state, "a1", "alpha")
    await new_run(state, "b1", "beta")
    await new_run(state, "a2", "alpha")
    await new_run(state, "a3", "alpha")
    await state.complete_run("a2", "null")
    assert [r.run_id for r in await state.list_runs(workflow="alpha")] == ["a3", "a2", "a1"]
    assert [r.run_id for r in await state.list_runs(status="completed")] == ["a2"]
    assert [r.run_id for r in await state.list_runs(workflow="alpha", status="running")] == ["a3", "a1"]
    assert [r.run_id for r in await state.list_runs(workflow="beta", status="completed")] == []
    assert [r.run_id for r in await state.list_runs(limit=2)] == ["a3", "a2"]
    assert await state.list_runs(workflow="missing") == []


async def test_list_runs_pages_after_a_run(state: StateStore) -> None:
    """``before`` pages through list_runs: each page starts after the given run, under the same filters, even
    when that run no longer matches them; an unknown anchor is RunNotFoundError."""
    for run_id, workflow in (("a1", "alpha"), ("b1", "beta"), ("a2", "alpha"), ("a3", "alpha"), ("a4", "alpha")):
        await new_run(state, run_id, workflow)
    await state.complete_run("a3", "null")

    async def pages(**filters: Any) -> list[list[str]]:
        out: list[list[str]] = []
        before = None
        while page := await state.list_runs(limit=2, before=before, **filters):
            out.append([r.run_id for r in page])
            before = page[-1].run_id
        return out

    assert await pages() == [["a4", "a3"], ["a2", "b1"], ["a1"]]
    assert await pages(workflow="alpha") == [["a4", "a3"], ["a2", "a1"]]
    assert await pages(status="running") == [["a4", "a2"], ["b1", "a1"]]
    assert await pages(workflow="alpha", status="running") == [["a4", "a2"], ["a1"]]
    # The anchor a3 is completed: a page of running runs after it still starts at its place.
    assert [r.run_id for r in await state.list_runs(status="running", before="a3")] == ["a2", "b1", "a1"]
    with pytest.raises(RunNotFoundError):
        await state.list_runs(before="ghost")


async def test_complete_run(state: StateStore) -> None:
    """complete_run moves ``running`` to ``completed`` with the output text and a fresh updated_at."""
    await new_run(state, "r1")
    before = time.time()
    assert await state.complete_run("r1", '{"total": 3}') is True
    run = await state.get_run("r1")
    assert (run.status, run.output_json, run.error) == ("completed", '{"total": 3}', None)
    assert_now(run.updated_at, before, time.time())


async def test_fail_run(state: StateStore) -> None:
    """fail_run moves ``running`` to ``failed`` and stores the error with every field."""
    await new_run(state, "r1")
    assert await state.fail_run("r1", ERR) is True
    run = await state.get_run("r1")
    assert (run.status, run.output_json, run.error) == ("failed", None, ERR)


async def test_cancel_run(state: StateStore) -> None:
    """cancel_run moves ``running`` to ``cancelled``."""
    await new_run(state, "r1")
    assert await state.cancel_run("r1") is True
    assert (await state.get_run("r1")).status == "cancelled"


SETTLE: dict[str, Callable[[StateStore, str], Awaitable[bool]]] = {
    "complete": lambda s, r: s.complete_run(r, '"late"'),
    "fail": lambda s, r: s.fail_run(r, ErrorInfo("late", "RuntimeError")),
    "cancel": lambda s, r: s.cancel_run(r),
}


@pytest.mark.parametrize("second", list(SETTLE))
@pytest.mark.parametrize("first", list(SETTLE))
async def test_settled_runs_stay_settled(state: StateStore, first: str, second: str) -> None:
    """Once completed, failed or cancelled, a run refuses every other settle (False) and is unchanged."""
    await new_run(state, "r1")
    assert await SETTLE[first](state, "r1") is True
    settled = await state.get_run("r1")
    assert await SETTLE[second](state, "r1") is False
    assert await state.get_run("r1") == settled


# -- the run lock ----------------------------------------------------------------------------------------


async def test_run_lock_acquire_refuse_reacquire(state: StateStore) -> None:
    """A free lock is taken; another owner is refused; the holder may acquire again."""
    await new_run(state, "r1")
    assert await state.acquire_run_lock("r1", "w1", 30) is True
    assert await state.acquire_run_lock("r1", "w2", 30) is False
    assert await state.acquire_run_lock("r1", "w1", 30) is True
    assert await state.acquire_run_lock("r1", "w2", 30) is False


async def test_run_lock_expiry_lets_another_owner_in(state: StateStore) -> None:
    """After the holder's lease runs out another owner acquires, and the old holder can no longer renew."""
    await new_run(state, "r1")
    assert await state.acquire_run_lock("r1", "w1", LEASE) is True
    await asyncio.sleep(EXPIRED)
    assert await state.acquire_run_lock("r1", "w2", 30) is True
    assert await state.renew_run_lock("r1", "w1", 30) is False
    assert await state.acquire_run_lock("r1", "w1", 30) is False


async def test_run_lock_renew(state: StateStore) -> None:
    """renew extends the holder's lease (it outlives the first lease); a non-holder's renew is False."""
    await new_run(state, "r1")
    assert await state.renew_run_lock("r1", "w1", 30) is False
    assert await state.acquire_run_lock("r1", "w1", LEASE) is True
    assert await state.renew_run_lock("r1", "w2", 30) is False
    assert await state.renew_run_lock("r1", "w1", 30) is True
    await asyncio.sleep(EXPIRED)
    assert await state.acquire_run_lock("r1", "w2", 30) is False


async def test_run_lock_release(state: StateStore) -> None:
    """release by a non-holder is a no-op; release by the holder frees the lock for anyone."""
    await new_run(state, "r1")
    assert await state.acquire_run_lock("r1", "w1", 30) is True
    await state.release_run_lock("r1", "w2")
    assert await state.acquire_run_lock("r1", "w2", 30) is False
    await state.release_run_lock("r1", "w1")
    assert await state.renew_run_lock("r1", "w1", 30) is False
    assert await state.acquire_run_lock("r1", "w2", 30) is True
    await state.release_run_lock("r1", "w1")
    assert await state.acquire_run_lock("r1", "w1", 30) is False


async def test_run_lock_release_of_unknown_run_is_a_no_op(state: StateStore) -> None:
    """release_run_lock never raises, even for an unknown run (it runs in ``finally`` blocks)."""
    await state.release_run_lock("ghost", "w1")
    with pytest.raises(RunNotFoundError):
        await state.get_run("ghost")


# -- steps: insert and read ------------------------------------------------------------------------------


async def test_insert_step_returns_new_record(state: StateStore) -> None:
    """insert_step stores every field of the new step, with zero attempts and no lease."""
    await new_run(state)
    before = time.time()
    step = await new_step(
        state, name="charge", rpc_name="payments.charge", data_json='{"amount": 5}', max_attempts=3, wake_at=12.5
    )
    after = time.time()
    assert (step.run_id, step.name, step.form, step.status) == ("run-1", "charge", "rpc", "pending")
    assert (step.rpc_name, step.data_json, step.max_attempts, step.wake_at) == (
        "payments.charge",
        '{"amount": 5}',
        3,
        12.5,
    )
    assert (step.result_json, step.result_type, step.error, step.attempts) == (None, None, None, 0)
    assert (step.lease_owner, step.lease_until) == (None, None)
    assert_now(step.created_at, before, after)
    assert await state.get_step("run-1", "charge") == step


async def test_insert_step_done(state: StateStore) -> None:
    """A step inserted already done keeps its result and counts as one finished attempt without error."""
    await new_run(state)
    before = time.time()
    step = await new_step(
        state, name="pick", form="inline", status="done", result_json='"x"', result_type="builtins.str"
    )
    after = time.time()
    assert (step.form, step.status, step.result_json, step.result_type) == ("inline", "done", '"x"', "builtins.str")
    assert step.attempts == 1
    assert await state.get_step("run-1", "pick") == step
    [attempt] = await state.get_attempts("run-1", "pick")
    assert (attempt.attempt, attempt.error) == (1, None)
    assert_now(attempt.started_at, before, after)
    assert attempt.ended_at is not None and attempt.started_at <= attempt.ended_at
    assert await state.claim_step("run-1", "pick", "w", 30) is None


async def test_insert_step_is_idempotent(state: StateStore) -> None:
    """Inserting an existing step returns the stored record unchanged, even after it moved on."""
    await new_run(state)
    first = await new_step(state, name="s", data_json="[1]")
    assert await new_step(state, name="s", data_json="[2]", form="sleep") == first
    await state.claim_step("run-1", "s", "w1", 30)
    claimed = await state.get_step("run-1", "s")
    assert await new_step(state, name="s", data_json="[3]") == claimed
    assert claimed.data_json == "[1]"


async def test_get_steps_returns_every_step(state: StateStore) -> None:
    """get_steps returns one dict of every step of the run by name (empty for a new run), only that run's."""
    await new_run(state, "r1")
    await new_run(state, "r2")
    assert await state.get_steps("r1") == {}
    a = await new_step(state, "r1", "a")
    b = await new_step(state, "r1", "b", form="sleep", wake_at=99.0)
    await new_step(state, "r2", "c")
    await state.complete_step("r1", "a", '"ok"')
    steps = await state.get_steps("r1")
    assert set(steps) == {"a", "b"}
    assert steps["a"] == await state.get_step("r1", "a")
    assert steps["a"].status == "done" and a.status == "pending"
    assert steps["b"] == b


async def test_get_missing_step_raises(state: StateStore) -> None:
    """get_step of an unknown step of an existing run raises StepNotFoundError naming run and step."""
    await new_run(state, "r1")
    with pytest.raises(StepNotFoundError) as info:
        await state.get_step("r1", "nope")
    assert (info.value.run_id, info.value.step) == ("r1", "nope")


ON_RUN: dict[str, Callable[[StateStore], Awaitable[object]]] = {
    "get_run": lambda s: s.get_run("ghost"),
    "complete_run": lambda s: s.complete_run("ghost", "null"),
    "fail_run": lambda s: s.fail_run("ghost", ERR),
    "cancel_run": lambda s: s.cancel_run("ghost"),
    "acquire_run_lock": lambda s: s.acquire_run_lock("ghost", "w", 30),
    "renew_run_lock": lambda s: s.renew_run_lock("ghost", "w", 30),
    "get_steps": lambda s: s.get_steps("ghost"),
    "get_step": lambda s: s.get_step("ghost", "s"),
    "insert_step": lambda s: s.insert_step(NewStep("ghost", "s", "rpc")),
    "mark_step_scheduled": lambda s: s.mark_step_scheduled("ghost", "s"),
    "claim_step": lambda s: s.claim_step("ghost", "s", "w", 30),
    "complete_step": lambda s: s.complete_step("ghost", "s", "null"),
    "fail_step": lambda s: s.fail_step("ghost", "s", ERR),
    "get_attempts": lambda s: s.get_attempts("ghost", "s"),
}


@pytest.mark.parametrize("method", list(ON_RUN))
async def test_missing_run_raises_run_not_found(state: StateStore, method: str) -> None:
    """Every method given an unknown run raises RunNotFoundError and creates nothing."""
    await new_run(state, "other")
    with pytest.raises(RunNotFoundError):
        await ON_RUN[method](state)
    with pytest.raises(RunNotFoundError):
        await state.get_run("ghost")


ON_STEP: dict[str, Callable[[StateStore], Awaitable[object]]] = {
    "get_step": lambda s: s.get_step("r1", "ghost"),
    "mark_step_scheduled": lambda s: s.mark_step_scheduled("r1", "ghost"),
    "claim_step": lambda s: s.claim_step("r1", "ghost", "w", 30),
    "complete_step": lambda s: s.complete_step("r1", "ghost", "null"),
    "fail_step": lambda s: s.fail_step("r1", "ghost", ERR),
    "get_attempts": lambda s: s.get_attempts("r1", "ghost"),
}


@pytest.mark.parametrize("method", list(ON_STEP))
async def test_missing_step_raises_step_not_found(state: StateStore, method: str) -> None:
    """Every step method given an unknown step of an existing run raises StepNotFoundError, creating none."""
    await new_run(state, "r1")
    await new_step(state, "r1", "s")
    with pytest.raises(StepNotFoundError):
        await ON_STEP[method](state)
    assert set(await state.get_steps("r1")) == {"s"}


# -- steps: transitions ----------------------------------------------------------------------------------


async def test_mark_step_scheduled_only_from_pending(state: StateStore) -> None:
    """pending -> scheduled succeeds once; scheduled, running and done steps are left alone (False)."""
    await new_run(state)
    await new_step(state, name="a")
    assert await state.mark_step_scheduled("run-1", "a") is True
    assert (await state.get_step("run-1", "a")).status == "scheduled"
    assert await state.mark_step_scheduled("run-1", "a") is False
    await new_step(state, name="b")
    await state.claim_step("run-1", "b", "w1", 30)
    assert await state.mark_step_scheduled("run-1", "b") is False
    assert (await state.get_step("run-1", "b")).status == "running"
    await new_step(state, name="c")
    await state.complete_step("run-1", "c", "1")
    assert await state.mark_step_scheduled("run-1", "c") is False
    assert (await state.get_step("run-1", "c")).status == "done"


@pytest.mark.parametrize("start", ["pending", "scheduled"])
async def test_claim_step(state: StateStore, start: str) -> None:
    """A pending or scheduled step is claimed: running, owner, lease from now, attempts 1, one attempt."""
    await new_run(state)
    await new_step(state, name="s")
    if start == "scheduled":
        await state.mark_step_scheduled("run-1", "s")
    before = time.time()
    step = await state.claim_step("run-1", "s", "w1", 30)
    after = time.time()
    assert step is not None
    assert (step.status, step.lease_owner, step.attempts) == ("running", "w1", 1)
    assert_now(step.lease_until, before, after, plus=30)
    assert await state.get_step("run-1", "s") == step
    attempts = await state.get_attempts("run-1", "s")
    assert [a.attempt for a in attempts] == [1]
    assert_now(attempts[0].started_at, before, after)
    assert (attempts[0].ended_at, attempts[0].error) == (None, None)


async def test_claim_refused_under_live_lease(state: StateStore) -> None:
    """A running step under a live lease cannot be claimed, not even by its holder; nothing changes."""
    await new_run(state)
    await new_step(state, name="s")
    claimed = await state.claim_step("run-1", "s", "w1", 30)
    assert await state.claim_step("run-1", "s", "w2", 30) is None
    assert await state.claim_step("run-1", "s", "w1", 30) is None
    assert await state.get_step("run-1", "s") == claimed
    assert len(await state.get_attempts("run-1", "s")) == 1


@pytest.mark.parametrize("end", ["done", "failed"])
async def test_claim_refused_when_settled(state: StateStore, end: str) -> None:
    """A done or failed step is never claimed again."""
    await new_run(state)
    await new_step(state, name="s")
    await state.claim_step("run-1", "s", "w1", 30)
    if end == "done":
        await state.complete_step("run-1", "s", "1")
    else:
        await state.fail_step("run-1", "s", ERR)
    settled = await state.get_step("run-1", "s")
    assert await state.claim_step("run-1", "s", "w2", 30) is None
    assert await state.get_step("run-1", "s") == settled


async def test_claim_after_lease_expiry(state: StateStore) -> None:
    """A running step whose lease expired is claimed again by another owner: attempts 2, a second attempt."""
    await new_run(state)
    await new_step(state, name="s")
    first = await state.claim_step("run-1", "s", "w1", LEASE)
    assert first is not None
    await asyncio.sleep(EXPIRED)
    second = await state.claim_step("run-1", "s", "w2", 30)
    assert second is not None
    assert (second.status, second.lease_owner, second.attempts) == ("running", "w2", 2)
    attempts = await state.get_attempts("run-1", "s")
    assert [a.attempt for a in attempts] == [1, 2]
    assert attempts[1].started_at > attempts[0].started_at


async def test_attempt_records(state: StateStore) -> None:
    """Each claim opens an attempt; fail_step ends it with the error, complete_step ends it cleanly."""
    await new_run(state)
    await new_step(state, name="s", max_attempts=3)
    await state.claim_step("run-1", "s", "w1", 30)
    assert await state.fail_step("run-1", "s", ERR, retry_at=time.time()) is True
    step = await state.claim_step("run-1", "s", "w2", 30)
    assert step is not None and step.attempts == 2
    assert await state.complete_step("run-1", "s", '"ok"') is True
    first, second = await state.get_attempts("run-1", "s")
    assert (first.attempt, first.error, second.attempt, second.error) == (1, ERR, 2, None)
    assert first.ended_at is not None and second.ended_at is not None
    assert first.started_at <= first.ended_at <= second.started_at <= second.ended_at
    assert (await state.get_step("run-1", "s")).attempts == 2


async def test_get_attempts_empty_before_claim(state: StateStore) -> None:
    """A step that was never claimed has no attempts."""
    await new_run(state)
    await new_step(state, name="s")
    assert await state.get_attempts("run-1", "s") == []


async def test_complete_step(state: StateStore) -> None:
    """complete_step stores result and type, drops lease and error, and moves the step to done."""
    await new_run(state)
    await new_step(state, name="s")
    await state.claim_step("run-1", "s", "w1", 30)
    await state.fail_step("run-1", "s", ERR, retry_at=time.time())
    await state.claim_step("run-1", "s", "w1", 30)
    assert await state.complete_step("run-1", "s", '{"v": 1}', result_type="app.Model") is True
    step = await state.get_step("run-1", "s")
    assert (step.status, step.result_json, step.result_type, step.error) == ("done", '{"v": 1}', "app.Model", None)
    assert (step.lease_owner, step.lease_until, step.attempts) == (None, None, 2)


async def test_complete_step_without_claim(state: StateStore) -> None:
    """Any non-terminal status may complete: a pending step never claimed goes straight to done."""
    await new_run(state)
    await new_step(state, name="s", form="sleep")
    assert await state.complete_step("run-1", "s", "null") is True
    step = await state.get_step("run-1", "s")
    assert (step.status, step.result_json, step.attempts) == ("done", "null", 0)
    assert await state.get_attempts("run-1", "s") == []


async def test_complete_step_never_overwrites(state: StateStore) -> None:
    """A second complete_step returns False and keeps the first result; a failed step cannot complete."""
    await new_run(state)
    await new_step(state, name="a")
    await new_step(state, name="b")
    assert await state.complete_step("run-1", "a", '"first"', result_type="str") is True
    done = await state.get_step("run-1", "a")
    assert await state.complete_step("run-1", "a", '"second"', result_type="int") is False
    assert await state.fail_step("run-1", "a", ERR) is False
    assert await state.get_step("run-1", "a") == done
    assert await state.fail_step("run-1", "b", ERR) is True
    failed = await state.get_step("run-1", "b")
    assert await state.complete_step("run-1", "b", '"late"') is False
    assert await state.get_step("run-1", "b") == failed


async def test_fail_step_without_retry(state: StateStore) -> None:
    """fail_step without retry_at makes the step terminally failed with its error and no lease."""
    await new_run(state)
    await new_step(state, name="s")
    await state.claim_step("run-1", "s", "w1", 30)
    assert await state.fail_step("run-1", "s", ERR) is True
    step = await state.get_step("run-1", "s")
    assert (step.status, step.error, step.lease_owner, step.lease_until) == ("failed", ERR, None, None)
    assert await state.fail_step("run-1", "s", ErrorInfo("again", "E")) is False
    assert (await state.get_step("run-1", "s")).error == ERR


async def test_fail_step_with_retry(state: StateStore) -> None:
    """fail_step with retry_at sends the step back to scheduled with wake_at = retry_at; it is claimable."""
    await new_run(state)
    await new_step(state, name="s", max_attempts=2)
    await state.claim_step("run-1", "s", "w1", 30)
    retry_at = time.time() + 12.25
    assert await state.fail_step("run-1", "s", ERR, retry_at=retry_at) is True
    step = await state.get_step("run-1", "s")
    assert (step.status, step.error) == ("scheduled", ERR)
    assert step.wake_at == pytest.approx(retry_at, abs=1e-5)
    assert (step.lease_owner, step.lease_until, step.attempts) == (None, None, 1)
    again = await state.claim_step("run-1", "s", "w2", 30)
    assert again is not None and (again.status, again.attempts) == ("running", 2)


# -- the hand-off ----------------------------------------------------------------------------------------


async def test_handoff_enqueued_with_transition(backend: Backend) -> None:
    """With supports_handoff, a successful complete/fail enqueues the hand-off job; a refused one doesn't."""
    state, queue = backend.state, backend.queue
    if not state.supports_handoff:
        pytest.skip("this backend has no co-located queue")
    await new_run(state)
    await new_step(state, name="a")
    await new_step(state, name="b")
    go = Enqueue("orchestrator", {"run_id": "run-1", "step": "a"})
    assert await state.complete_step("run-1", "a", "1", handoff=go) is True
    [job] = await queue.claim(["orchestrator"], owner="w", lease_s=30)
    assert job.payload == {"run_id": "run-1", "step": "a"}
    assert await queue.ack(job) is True
    assert await state.complete_step("run-1", "a", "2", handoff=go) is False
    assert await state.fail_step("run-1", "a", ERR, handoff=go) is False
    assert await queue.count() == 0
    assert await state.fail_step("run-1", "b", ERR, retry_at=time.time(), handoff=go) is True
    assert await queue.count("orchestrator") == 1


async def test_handoff_delay(backend: Backend) -> None:
    """A hand-off with a delay is enqueued now but not claimable before its delay has passed."""
    state, queue = backend.state, backend.queue
    if not state.supports_handoff:
        pytest.skip("this backend has no co-located queue")
    await new_run(state)
    await new_step(state, name="a")
    go = Enqueue("orchestrator", {"n": 1}, delay=30)
    assert await state.complete_step("run-1", "a", "1", handoff=go) is True
    assert await queue.count("orchestrator") == 1
    assert await queue.claim(["orchestrator"], owner="w", lease_s=30) == []


async def test_store_alone_refuses_handoff(backend_url: str) -> None:
    """A store opened without its own queue has supports_handoff False; a handoff raises TypeError, no change."""
    queue_url = "memory://alone" if backend_url.startswith("memory:") else "memory://"
    mixed = await open_backend(backend_url, queue_url)
    try:
        state = mixed.state
        assert state.supports_handoff is False
        await new_run(state)
        await new_step(state, name="s")
        with pytest.raises(TypeError):
            await state.complete_step("run-1", "s", "1", handoff=Enqueue("q", {}))
        with pytest.raises(TypeError):
            await state.fail_step("run-1", "s", ERR, handoff=Enqueue("q", {}))
        assert (await state.get_step("run-1", "s")).status == "pending"
    finally:
        await mixed.close()


# -- atomicity under races -------------------------------------------------------------------------------


async def test_claim_race_between_coroutines(state: StateStore) -> None:
    """50 coroutines claiming one step at once: exactly one wins, and one attempt is recorded."""
    await new_run(state)
    await new_step(state, name="s")
    results = await asyncio.gather(*(state.claim_step("run-1", "s", f"w{i}", 30) for i in range(50)))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert len(await state.get_attempts("run-1", "s")) == 1


async def test_complete_race_between_coroutines(state: StateStore) -> None:
    """20 coroutines completing one step with different results: exactly one wins and its result stays."""
    await new_run(state)
    await new_step(state, name="s")
    results = await asyncio.gather(*(state.complete_step("run-1", "s", str(i)) for i in range(20)))
    assert results.count(True) == 1
    assert (await state.get_step("run-1", "s")).result_json == str(results.index(True))


STEPS = [f"s{i}" for i in range(6)]


def _claim_in_child(url: str, barrier: Any, out: Any) -> None:
    """Child process: open the backend, wait for everyone, then try to claim every step once."""

    async def main() -> list[str]:
        opened = await open_backend(url)
        try:
            barrier.wait(timeout=60)
            order = STEPS if os.getpid() % 2 else STEPS[::-1]
            won = []
            for name in order:
                if await opened.state.claim_step("run-1", name, f"pid{os.getpid()}", 60) is not None:
                    won.append(name)
            return won
        finally:
            await opened.close()

    out.put(asyncio.run(main()))


async def test_claim_race_between_processes(state: StateStore, shared_url: str, race_processes: Any) -> None:
    """4 processes racing to claim the same steps: every step is claimed exactly once, one attempt each."""
    await new_run(state)
    for name in STEPS:
        await new_step(state, name=name)
    won = [name for names in race_processes(_claim_in_child, shared_url) for name in names]
    assert sorted(won) == sorted(STEPS)
    for name in STEPS:
        assert (await state.get_step("run-1", name)).attempts == 1


# -- JSON fidelity ---------------------------------------------------------------------------------------

TEXTS = {
    "emoji": '{"mood": "😀🎉", "flag": "🇫🇮"}',
    "cjk": '["漢字", "かな", "한국어"]',
    "big_int": '{"n": 1208925819614629174706176, "neg": -1208925819614629174706177}',
    "nested_model": '{"order": {"id": "o-1", "lines": [{"sku": "ä", "qty": 2, "price": 0.1}], "meta": null}}',
    "spacing_and_order": '{ "z" : 1,\n  "a" : [ ] ,"\\u00e9": "\\n\\t\\"" }',
}


@pytest.mark.parametrize("text", list(TEXTS.values()), ids=list(TEXTS))
async def test_json_text_round_trips_exactly(state: StateStore, text: str) -> None:
    """input, output, data and result JSON text come back byte for byte: never parsed or re-encoded."""
    await state.create_run("r1", "wf", text)
    await new_step(state, "r1", "s", data_json=text)
    await state.complete_step("r1", "s", text, result_type="app.Model")
    await state.complete_run("r1", text)
    run = await state.get_run("r1")
    step = (await state.get_steps("r1"))["s"]
    assert (run.input_json, run.output_json, step.data_json, step.result_json) == (text, text, text, text)
    assert [r.input_json for r in await state.list_runs()] == [text]


async def test_error_info_round_trips(state: StateStore) -> None:
    """Stored errors keep unicode, multi-line stacks and a missing code exactly."""
    error = ErrorInfo(message="ei onnistu 😀 漢字", type="app.Oops", stack='line 1\n  line 2\t"q"', code=None)
    await new_run(state, "r1")
    await new_step(state, "r1", "s")
    await state.claim_step("r1", "s", "w", 30)
    await state.fail_step("r1", "s", error)
    await state.fail_run("r1", error)
    assert (await state.get_step("r1", "s")).error == error
    assert (await state.get_attempts("r1", "s"))[0].error == error
    assert (await state.get_run("r1")).error == error
