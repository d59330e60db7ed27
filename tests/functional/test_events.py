"""Waiting for events and suspending, on every backend: upstream's onboarding approval scenarios, events
sent before the wait, two waits in order, and every refusal of a send (nothing stored, the run waits on)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import BaseModel
from typing_extensions import TypedDict  # pydantic needs it for a TypedDict on Python < 3.12

import pikku
import pikku.testing
from pikku import pikku_func, wire_workflow
from pikku._runtime import Runtime
from pikku.testing import settle
from pikku.wiring import WorkflowClient, register_workflow_events

CALLS: collections.Counter[str] = collections.Counter()


@pytest.fixture(autouse=True)
def _reset() -> None:
    CALLS.clear()


class Approval(BaseModel):
    approved: bool
    reviewer: str


class Onboard(BaseModel):
    email: str
    hold: bool = False
    timeout: str = "3d"


@dataclass
class Docs:
    pages: int


class Note(TypedDict):
    text: str


@pikku_func(name="ev.create")
async def create_account(services: Any, data: Onboard) -> str:
    CALLS["create"] += 1
    return f"acct-{data.email}"


@pikku_func(name="ev.revoke")
async def revoke(services: Any, data: str) -> None:
    CALLS["revoke"] += 1


@pikku_func(name="ev.activate")
async def activate(services: Any, data: str) -> None:
    CALLS["activate"] += 1


async def onboarding_wf(services: Any, data: Onboard) -> dict[str, str | None]:
    """Upstream's onboarding with a manager's approval: approved, rejected (revoke once), or expired."""
    workflow = services.workflow
    account = await workflow.do("create", "ev.create", data)
    if data.hold:
        await workflow.suspend(f"Hold onboarding for {data.email}")
    decision = await workflow.wait_for_event("approval", Approval, timeout=data.timeout, description="Approval")
    if decision is None:
        await workflow.do("expire", lambda: CALLS.update(["expire"]))
        return {"status": "expired", "reviewer": None}
    if not decision.approved:
        await workflow.do("revoke", "ev.revoke", account)
        return {"status": "rejected", "reviewer": decision.reviewer}
    await workflow.do("activate", "ev.activate", account)
    return {"status": "approved", "reviewer": decision.reviewer}


async def two_waits_wf(services: Any, data: None) -> list[Any]:
    """Two waits on one name take two events in order; a dataclass and a TypedDict payload besides."""
    first = await services.workflow.wait_for_event("approval", Approval)
    second = await services.workflow.wait_for_event("approval", Approval)
    docs = await services.workflow.wait_for_event("docs", Docs)
    note = await services.workflow.wait_for_event("note", Note)
    assert first is not None and second is not None and isinstance(docs, Docs)
    return [first.reviewer, second.reviewer, docs.pages, note]


async def both_wf(services: Any, data: None) -> list[str]:
    """Two waits at once (gather) on one name: each takes one event."""
    got = await asyncio.gather(
        services.workflow.wait_for_event("approval", Approval, name="left"),
        services.workflow.wait_for_event("approval", Approval, name="right"),
    )
    return sorted(a.reviewer for a in got if a is not None)


wire_workflow(name="ev-onboarding", func=onboarding_wf)
wire_workflow(name="ev-onboarding-inline", func=onboarding_wf, execution_mode="inline")
wire_workflow(name="ev-two-waits", func=two_waits_wf)
wire_workflow(name="ev-both", func=both_wf)
# What the generated wirings do for these workflows (prebuild reads the events off the wait_for_event calls).
for _name in ("ev-onboarding", "ev-onboarding-inline", "ev-both"):
    register_workflow_events(_name, {"approval": Approval})
register_workflow_events("ev-two-waits", {"approval": Approval, "docs": Docs, "note": Note})

ONBOARDING: WorkflowClient[Onboard, dict[str, str | None]] = WorkflowClient(
    "ev-onboarding", Onboard, dict[str, str | None]
)


@contextlib.asynccontextmanager
async def _worker(rt: Runtime) -> AsyncIterator[None]:
    worker = pikku.Worker(rt.engine, concurrency=4, poll_interval=0.01, recovery_interval=None)
    task = asyncio.ensure_future(worker.run())
    try:
        yield
    finally:
        worker.stop()
        await task


async def _until(check: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def _waits_for(run_id: str, event: str = "approval") -> None:
    async def waiting() -> bool:
        run = await pikku.get_run(run_id)
        return run.status == "waiting" and event in run.waiting_for

    await _until(waiting)


# -- upstream's onboarding scenarios -----------------------------------------------------------------------
async def test_approved_the_run_completes_with_the_reviewer(rt: Runtime) -> None:
    """The run waits (status waiting, get_run names the event), an approval arrives, and it completes with
    the reviewer; each step ran once."""
    handle = await ONBOARDING.start(Onboard(email="a@b.c"))
    async with _worker(rt):
        await _waits_for(handle.run_id)
        run = await ONBOARDING.get_run(handle.run_id)
        assert (run.status, run.waiting_for) == ("waiting", ("approval",))
        assert await pikku.send_event(handle.run_id, "approval", Approval(approved=True, reviewer="maria")) is True
        assert await handle.result(timeout=20) == {"status": "approved", "reviewer": "maria"}
    assert CALLS == {"create": 1, "activate": 1}
    assert (await pikku.get_run(handle.run_id)).waiting_for == ()


async def test_rejected_the_compensation_runs_once(rt: Runtime) -> None:
    """A rejection takes the revoke branch once, and activation never runs."""
    handle = await ONBOARDING.start(Onboard(email="r@b.c"))
    async with _worker(rt):
        await _waits_for(handle.run_id)
        await pikku.send_event(handle.run_id, "approval", {"approved": False, "reviewer": "li"})
        assert await handle.result(timeout=20) == {"status": "rejected", "reviewer": "li"}
    assert CALLS == {"create": 1, "revoke": 1}


async def test_expired_the_timeout_passes_and_the_expired_branch_completes(rt: Runtime) -> None:
    """Nobody decides: the wait's durable timer returns None and the run takes the expired branch; a
    decision sent afterwards is refused (the run has settled)."""
    handle = await ONBOARDING.start(Onboard(email="e@b.c", timeout="0.3s"))
    await settle(rt, [handle.run_id])
    assert await handle.result(timeout=1) == {"status": "expired", "reviewer": None}
    assert CALLS == {"create": 1, "expire": 1}
    with pytest.raises(pikku.RunSettledError, match="completed"):
        await pikku.send_event(handle.run_id, "approval", Approval(approved=True, reviewer="late"))
    assert await rt.engine.state.get_events(handle.run_id) == []


async def test_explicit_suspend_then_resume_then_approval(rt: Runtime) -> None:
    """workflow.suspend stops the run as suspended (no pass takes it, an event sent meanwhile is kept);
    resume_run continues it past the recorded suspend, and the approval completes it."""
    handle = await ONBOARDING.start(Onboard(email="s@b.c", hold=True))
    async with _worker(rt):

        async def suspended() -> bool:
            return (await pikku.get_run(handle.run_id)).status == "suspended"

        await _until(suspended)
        steps = {s.name: s for s in await pikku.get_steps(handle.run_id)}
        assert (steps["suspend"].form, steps["suspend"].status, steps["suspend"].input) == (
            "suspend",
            "done",
            "Hold onboarding for s@b.c",
        )
        await asyncio.sleep(0.1)  # a pass now would find it suspended and leave it
        assert (await pikku.get_run(handle.run_id)).status == "suspended"
        assert await pikku.resume_run(handle.run_id) is True
        await _waits_for(handle.run_id)
        await pikku.send_event(handle.run_id, "approval", Approval(approved=True, reviewer="ada"))
        assert await handle.result(timeout=20) == {"status": "approved", "reviewer": "ada"}
    assert CALLS == {"create": 1, "activate": 1}


async def test_a_suspended_run_keeps_an_event_for_after_its_resume(rt: Runtime) -> None:
    """An approval sent while the run is suspended waits in its log; after the resume the wait takes it."""
    handle = await ONBOARDING.start(Onboard(email="k@b.c", hold=True))
    async with _worker(rt):
        await _until(lambda: _status_is(handle.run_id, "suspended"))
        assert await pikku.send_event(handle.run_id, "approval", Approval(approved=True, reviewer="kept"))
        await asyncio.sleep(0.1)
        assert (await pikku.get_run(handle.run_id)).status == "suspended"
        await pikku.resume_run(handle.run_id)
        assert await handle.result(timeout=20) == {"status": "approved", "reviewer": "kept"}


async def _status_is(run_id: str, status: str) -> bool:
    return (await pikku.get_run(run_id)).status == status


async def test_a_bad_payload_is_refused_a_valid_one_completes_a_late_one_is_refused(rt: Runtime) -> None:
    """A payload the model refuses raises InvalidEventPayloadError with pydantic's errors and stores
    nothing (the run keeps waiting); the valid one completes the run; a decision after the end is refused."""
    handle = await ONBOARDING.start(Onboard(email="b@b.c"))
    async with _worker(rt):
        await _waits_for(handle.run_id)
        with pytest.raises(pikku.InvalidEventPayloadError) as refused:
            await pikku.send_event(handle.run_id, "approval", {"approved": "perhaps"})
        assert refused.value.code == "PIKKU_INVALID_EVENT_PAYLOAD"
        assert {tuple(e["loc"]) for e in refused.value.errors} == {("approved",), ("reviewer",)}
        assert await rt.engine.state.get_events(handle.run_id) == []
        await asyncio.sleep(0.05)
        assert (await pikku.get_run(handle.run_id)).waiting_for == ("approval",)
        await pikku.send_event(handle.run_id, "approval", {"approved": True, "reviewer": "ok"})
        assert await handle.result(timeout=20) == {"status": "approved", "reviewer": "ok"}
    with pytest.raises(pikku.RunSettledError):
        await pikku.send_event(handle.run_id, "approval", {"approved": False, "reviewer": "late"})
    assert len(await rt.engine.state.get_events(handle.run_id)) == 1


# -- order and timing of events --------------------------------------------------------------------------
async def test_an_event_sent_before_the_wait_is_kept_and_taken(rt: Runtime) -> None:
    """The approval sent before any worker ran the run (it has not reached the wait) is taken when it gets
    there: the run never waits."""
    handle = await ONBOARDING.start(Onboard(email="early@b.c"))
    assert (await pikku.get_run(handle.run_id)).waiting_for == ()
    await pikku.send_event(handle.run_id, "approval", Approval(approved=True, reviewer="early"))
    await settle(rt, [handle.run_id])
    assert await handle.result(timeout=1) == {"status": "approved", "reviewer": "early"}
    [event] = await rt.engine.state.get_events(handle.run_id)
    assert event.consumed_by == "event:approval"


async def test_two_waits_take_two_events_in_order(rt: Runtime) -> None:
    """Two waits on one name take the first and second approvals in the order sent; a dataclass and a
    TypedDict model validate their payloads too."""
    handle = await WorkflowClient("ev-two-waits").start(None)
    await pikku.send_event(handle.run_id, "approval", {"approved": True, "reviewer": "first"})
    await pikku.send_event(handle.run_id, "note", {"text": "hi"})
    await pikku.send_event(handle.run_id, "approval", {"approved": True, "reviewer": "second"})
    with pytest.raises(pikku.InvalidEventPayloadError):
        await pikku.send_event(handle.run_id, "docs", {"pages": "many"})
    async with _worker(rt):
        await _waits_for(handle.run_id, "docs")
        await pikku.send_event(handle.run_id, "docs", Docs(pages=3))
        assert await handle.result(timeout=20) == ["first", "second", 3, {"text": "hi"}]
    events = await rt.engine.state.get_events(handle.run_id)
    assert [(e.name, e.consumed_by) for e in events] == [
        ("approval", "event:approval"),
        ("note", "event:note"),
        ("approval", "event:approval#1"),
        ("docs", "event:docs"),
    ]


async def test_waits_at_once_take_one_event_each(rt: Runtime) -> None:
    """Two waits for one name reached together (gather) each take one of two events."""
    handle = await WorkflowClient("ev-both").start(None)
    async with _worker(rt):
        await _waits_for(handle.run_id)
        await pikku.send_event(handle.run_id, "approval", {"approved": True, "reviewer": "x"})
        await pikku.send_event(handle.run_id, "approval", {"approved": True, "reviewer": "y"})
        assert await handle.result(timeout=20) == ["x", "y"]


async def test_an_inline_run_waits_for_its_event_on_the_workers(rt: Runtime) -> None:
    """An inline run's start returns once the run waits for an event; the send wakes it on a worker."""
    client: WorkflowClient[Onboard, Any] = WorkflowClient("ev-onboarding-inline", Onboard)
    handle = await client.start(Onboard(email="i@b.c"))
    assert (await pikku.get_run(handle.run_id)).status == "waiting"
    await pikku.send_event(handle.run_id, "approval", {"approved": True, "reviewer": "in"})
    await settle(rt, [handle.run_id])
    assert await handle.result(timeout=1) == {"status": "approved", "reviewer": "in"}


# -- refusals --------------------------------------------------------------------------------------------
async def test_sends_the_run_cannot_take_are_refused_and_nothing_is_stored(rt: Runtime) -> None:
    """An unknown run id (RunNotFoundError: never kept for a run that may come later), an event the workflow
    never waits for (UnknownEventError naming those it does), a null payload; a repeated event id stores
    one event."""
    with pytest.raises(pikku.RunNotFoundError):
        await pikku.send_event("no-such-run", "approval", {"approved": True, "reviewer": "x"})
    handle = await ONBOARDING.start(Onboard(email="n@b.c"))
    with pytest.raises(pikku.UnknownEventError, match="'approval'") as unknown:
        await pikku.send_event(handle.run_id, "aproval", {"approved": True, "reviewer": "x"})
    assert (unknown.value.code, unknown.value.known) == ("PIKKU_UNKNOWN_EVENT", ["approval"])
    with pytest.raises(pikku.InvalidEventPayloadError):
        await pikku.send_event(handle.run_id, "approval", None)
    assert await rt.engine.state.get_events(handle.run_id) == []
    payload = Approval(approved=True, reviewer="once")
    assert await pikku.send_event(handle.run_id, "approval", payload, event_id="mail-7") is True
    assert await pikku.send_event(handle.run_id, "approval", payload, event_id="mail-7") is False
    assert len(await rt.engine.state.get_events(handle.run_id)) == 1


async def test_a_cancelled_waiting_run_refuses_events(rt: Runtime) -> None:
    """A waiting run can be cancelled; afterwards a send is RunSettledError."""
    handle = await ONBOARDING.start(Onboard(email="c@b.c"))
    async with _worker(rt):
        await _waits_for(handle.run_id)
        assert await handle.cancel(reason="no longer needed") is True
    with pytest.raises(pikku.RunSettledError, match="cancelled"):
        await pikku.send_event(handle.run_id, "approval", {"approved": True, "reviewer": "x"})
    with pytest.raises(pikku.WorkflowCancelledError):
        await handle.result(timeout=1)


# -- replay and recovery ---------------------------------------------------------------------------------
async def test_a_history_with_waits_replays_against_the_code(rt: Runtime) -> None:
    """The exported history of a run that took an event and of one still waiting both replay cleanly: the
    recorded payload is what the wait returns again, and a replay stops at a wait with nothing recorded."""
    done = await ONBOARDING.start(Onboard(email="h@b.c"))
    waiting = await ONBOARDING.start(Onboard(email="w@b.c"))
    async with _worker(rt):
        await _waits_for(done.run_id)
        await _waits_for(waiting.run_id)
        await pikku.send_event(done.run_id, "approval", {"approved": False, "reviewer": "zoe"})
        await done.result(timeout=20)
    for handle in (done, waiting):
        await pikku.testing.replay(await _control_export(handle.run_id))


async def _control_export(run_id: str) -> dict[str, Any]:
    from pikku._control import export_run

    return await export_run(run_id)


async def test_the_recovery_sweep_wakes_a_waiting_run_only_when_its_event_is_there(rt: Runtime) -> None:
    """A waiting run whose event was stored without its wake-up (a send that died between the two) gets a
    pass from the sweep and completes; a waiting run with nothing come for it gets none."""
    from pikku._engine.recovery import SweepCursor, recover

    lost = await ONBOARDING.start(Onboard(email="lost@b.c"))
    idle = await ONBOARDING.start(Onboard(email="idle@b.c"))
    async with _worker(rt):
        await _waits_for(lost.run_id)
        await _waits_for(idle.run_id)
    assert await rt.engine.queue.count() == 2  # the two 3-day timers, nothing due
    assert await rt.engine.state.send_event(lost.run_id, "approval", '{"approved":true,"reviewer":"r"}') == "stored"
    assert await recover(rt.engine, stale_after=0.0, cursor=SweepCursor()) == 1
    await settle(rt, [lost.run_id])
    assert await lost.result(timeout=1) == {"status": "approved", "reviewer": "r"}
    assert await recover(rt.engine, stale_after=0.0, cursor=SweepCursor()) == 0
    assert (await pikku.get_run(idle.run_id)).status == "waiting"
