"""Contract: local hand-offs (``Transitions.release_run_lock_dispatching`` / ``settle_step_taking``).

A backend either writes the job already claimed by the taking worker and returns it, or declines (None)
and leaves the job on its queue exactly as the plain transition would. Either way the step is stored the
same. A taken job is an ordinary claimed job: nobody else can claim it while its lease runs, its owner
acks or releases it, and when the lease runs out (its worker died) it is delivered again.
"""

from __future__ import annotations

import asyncio

import pytest

from pikku._records import Enqueue, Job, NewStep, Take, TakenSettle
from pikku.backends import Backend

#: The backends that take (the others decline, which the contract allows).
TAKING = ("postgresql", "redis", "sqlite")

TAKE = Take("me", 30.0)


def _takes(backend_url: str) -> bool:
    return backend_url.startswith(TAKING)


def _step(name: str = "s") -> NewStep:
    return NewStep("r1", name, "rpc", "f.x", '{"a": 1}', max_attempts=3, lease_s=30.0)


def _step_job(name: str = "s") -> Enqueue:
    return Enqueue("steps", {"kind": "step", "run_id": "r1", "step": name}, priority=5.0)


def _handoff() -> Enqueue:
    return Enqueue("orch", {"kind": "orchestrate", "run_id": "r1"}, priority=5.0, key="r1")


async def _assert_taken(backend: Backend, job: Job, queue: str, payload: dict[str, object]) -> None:
    """``job`` is a claim of ``me`` on ``queue``: nobody else gets it, and its ack removes it."""
    assert job.owner == "me" and job.queue == queue and job.payload == payload and job.attempts == 1
    assert await backend.queue.claim([queue], owner="other", lease_s=30) == [], "a taken job is claimed"
    assert await backend.queue.count(queue) == 1
    assert await backend.queue.ack(job) is True
    assert await backend.queue.count(queue) == 0


async def test_a_taken_settle_stores_the_step_and_takes_the_handoff(backend: Backend, backend_url: str) -> None:
    await backend.state.create_run("r1", "wf", "null")
    await backend.transitions.dispatch_step(_step(), _step_job())
    [step_job] = await backend.queue.claim(["steps"], owner="me", lease_s=30)
    assert await backend.state.claim_step("r1", "s", "me", 30) is not None
    settled = await backend.transitions.settle_step_taking(
        "r1", "s", '"ok"', owner="me", handoff=_handoff(), ack=step_job, take=TAKE
    )
    assert settled.stored is True and settled.run is None, "nothing locked without lock_lease"
    job = settled.job
    rec = await backend.state.get_step("r1", "s")
    assert rec.status == "done" and rec.result_json == '"ok"'
    assert await backend.queue.count("steps") == 0, "the step job was acknowledged"
    if job is None:
        assert not _takes(backend_url), "this backend takes its local hand-offs"
        [claimed] = await backend.queue.claim(["orch"], owner="other", lease_s=30)
        assert claimed.payload == _handoff().payload
        return
    await _assert_taken(backend, job, "orch", _handoff().payload)


async def test_a_refused_settle_takes_nothing(backend: Backend) -> None:
    """Another owner holds the step: nothing is stored, nothing written, the ack still happens."""
    await backend.state.create_run("r1", "wf", "null")
    await backend.transitions.dispatch_step(_step(), _step_job())
    [step_job] = await backend.queue.claim(["steps"], owner="me", lease_s=30)
    assert await backend.state.claim_step("r1", "s", "other", 30) is not None
    settled = await backend.transitions.settle_step_taking(
        "r1", "s", '"ok"', owner="me", handoff=_handoff(), ack=step_job, take=TAKE, lock_lease=30
    )
    assert (settled.stored, settled.job, settled.run) == (False, None, None)
    assert await backend.state.acquire_run_lock("r1", "other", 30) is True, "the run was not locked"
    assert (await backend.state.get_step("r1", "s")).status == "running"
    assert await backend.queue.count("orch") == 0 and await backend.queue.count("steps") == 0


async def test_a_taken_job_whose_worker_died_is_delivered_again(backend: Backend) -> None:
    """The lease of a taken job runs out like any claim's: another worker gets it, and the step with it."""
    await backend.state.create_run("r1", "wf", "null")
    assert await backend.state.acquire_run_lock("r1", "me", 30)
    step = NewStep("r1", "s", "rpc", "f.x", "null", lease_s=0.2)
    rec, job = await backend.transitions.release_run_lock_dispatching(
        "r1", "me", step=step, job=_step_job(), take=Take("me", 0.2)
    )
    await asyncio.sleep(0.45)
    [again] = await backend.queue.claim(["steps"], owner="other", lease_s=30)
    assert again.payload == _step_job().payload
    assert job is None or again.attempts == 2, "the taken claim was the first delivery"
    claimed = await backend.state.claim_step("r1", "s", "other", 30)
    assert claimed is not None and claimed.lease_owner == "other"
    if job is not None:
        assert rec.status == "running"
        assert await backend.queue.ack(job) is False, "the dead worker's claim is gone"


@pytest.mark.parametrize("existing", ["waiting", "none"])
async def test_a_taken_handoff_beside_a_waiting_one(backend: Backend, existing: str) -> None:
    """A replay already waiting for the run (keyed) is left as it is: at most one more pass, never a lost one."""
    await backend.state.create_run("r1", "wf", "null")
    if existing == "waiting":
        await backend.transitions.enqueue(_handoff())
    await backend.transitions.dispatch_step(_step(), _step_job())
    [step_job] = await backend.queue.claim(["steps"], owner="me", lease_s=30)
    await backend.state.claim_step("r1", "s", "me", 30)
    settled = await backend.transitions.settle_step_taking(
        "r1", "s", '"ok"', owner="me", handoff=_handoff(), ack=step_job, take=TAKE
    )
    assert settled.stored is True
    job = settled.job
    others = await backend.queue.claim(["orch"], owner="other", lease_s=30, limit=5)
    passes = len(others) + (job is not None)
    assert 1 <= passes <= 2 and (existing == "waiting" or job is None or others == [])


@pytest.mark.parametrize("waiting", [False, True])
async def test_a_release_that_dispatches(backend: Backend, backend_url: str, waiting: bool) -> None:
    """The pass's end: the step dispatched (taken where the backend takes), the lock released, the pass's
    job acknowledged."""
    await backend.state.create_run("r1", "wf", "null")
    await backend.transitions.enqueue(_handoff())
    [orch] = await backend.queue.claim(["orch"], owner="me", lease_s=30)
    assert await backend.state.acquire_run_lock("r1", "me", 30) is True
    rec, job = await backend.transitions.release_run_lock_dispatching(
        "r1", "me", ack=orch, waiting=waiting, step=_step(), job=_step_job(), take=TAKE
    )
    assert await backend.queue.count("orch") == 0, "the pass's job was acknowledged"
    assert await backend.state.acquire_run_lock("r1", "other", 30) is True, "the lock was released"
    assert (await backend.state.get_run("r1")).status == ("waiting" if waiting else "running")
    stored = await backend.state.get_step("r1", "s")
    assert (stored.rpc_name, stored.data_json) == ("f.x", '{"a": 1}')
    if job is None:
        assert not _takes(backend_url), "this backend takes its local hand-offs"
        assert stored.status == "scheduled"
        [claimed] = await backend.queue.claim(["steps"], owner="other", lease_s=30)
        assert claimed.payload == _step_job().payload
        return
    assert rec.status == "running" and stored.lease_owner == "me"
    await _assert_taken(backend, job, "steps", _step_job().payload)


async def test_a_release_that_dispatches_a_stored_step_writes_no_job(backend: Backend) -> None:
    await backend.state.create_run("r1", "wf", "null")
    await backend.transitions.dispatch_step(_step(), _step_job())
    [waiting] = await backend.queue.claim(["steps"], owner="w", lease_s=30)
    await backend.queue.ack(waiting)
    assert await backend.state.acquire_run_lock("r1", "me", 30) is True
    rec, job = await backend.transitions.release_run_lock_dispatching(
        "r1", "me", step=_step(), job=_step_job(), take=TAKE
    )
    assert job is None and rec.status == "scheduled"
    assert await backend.queue.count("steps") == 0, "nothing was written"
    assert await backend.state.acquire_run_lock("r1", "other", 30) is True


async def _settle_locking(backend: Backend, lock_lease: float = 30) -> TakenSettle:
    await backend.transitions.dispatch_step(_step(), _step_job())
    [step_job] = await backend.queue.claim(["steps"], owner="me", lease_s=30)
    assert await backend.state.claim_step("r1", "s", "me", 30) is not None
    return await backend.transitions.settle_step_taking(
        "r1", "s", '"ok"', owner="me", handoff=_handoff(), ack=step_job, take=TAKE, lock_lease=lock_lease
    )


@pytest.mark.parametrize("status", ["running", "waiting"])
async def test_a_taken_settle_may_lock_the_run_for_the_next_pass(
    backend: Backend, backend_url: str, status: str
) -> None:
    """With lock_lease: the run locked for the taker, with its step count and the settled step as stored."""
    await backend.state.create_run("r1", "wf", "null")
    await backend.state.insert_step(NewStep("r1", "earlier", "sleep", status="done", result_json="null"))
    if status == "waiting":
        assert await backend.state.acquire_run_lock("r1", "x", 30)
        await backend.state.release_run_lock("r1", "x", waiting=True)
    settled = await _settle_locking(backend)
    assert settled.stored is True
    if settled.run is None:
        assert not _takes(backend_url), "this backend locks with its local hand-offs"
        assert await backend.state.acquire_run_lock("r1", "other", 30) is True
        return
    assert settled.job is not None
    assert settled.run.run_id == "r1" and settled.run.status == "running"
    assert (await backend.state.get_run("r1")).status == "running", "a waiting run is taken running"
    assert settled.step_count == 2
    assert settled.step is not None and settled.step.name == "s" and settled.step.status == "done"
    assert settled.step == await backend.state.get_step("r1", "s"), "the step as stored"
    assert await backend.state.acquire_run_lock("r1", "other", 30) is False, "locked for the taker"
    assert await backend.state.acquire_run_lock("r1", "me", 30) is True


@pytest.mark.parametrize("holder", ["other", "me"])
async def test_a_held_lock_is_not_taken_by_a_settle(backend: Backend, holder: str) -> None:
    """Not even its owner's: the pass holding it is still running (the step and hand-off are stored)."""
    await backend.state.create_run("r1", "wf", "null")
    assert await backend.state.acquire_run_lock("r1", holder, 30)
    settled = await _settle_locking(backend)
    assert settled.stored is True and settled.run is None
    assert (await backend.state.get_step("r1", "s")).status == "done"
    if holder == "other":
        assert await backend.state.acquire_run_lock("r1", "me", 30) is False, "still the holder's"


@pytest.mark.parametrize("settle", ["complete", "cancel"])
async def test_a_settled_run_is_not_locked_by_a_settle(backend: Backend, settle: str) -> None:
    await backend.state.create_run("r1", "wf", "null")
    await backend.transitions.dispatch_step(_step(), _step_job())
    [step_job] = await backend.queue.claim(["steps"], owner="me", lease_s=30)
    assert await backend.state.claim_step("r1", "s", "me", 30) is not None
    if settle == "complete":
        await backend.state.complete_run("r1", "1")
    else:
        await backend.state.cancel_run("r1")
    settled = await backend.transitions.settle_step_taking(
        "r1", "s", '"ok"', owner="me", handoff=_handoff(), ack=step_job, take=TAKE, lock_lease=30
    )
    assert settled.run is None
