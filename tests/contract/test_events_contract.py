"""The contract for events, on every backend: sending (idempotent with an event id, refused for a settled or
missing run), taking first in first out per name together with the step's result, reading them back, the
wake-up that rides along a send, and what deleting a run does to its events."""

from __future__ import annotations

import asyncio
import time

import pytest

from pikku._errors import RunNotFoundError, StepNotFoundError
from pikku._records import Enqueue, ErrorInfo, NewStep
from pikku.backends import Backend
from pikku.backends._contract import StateStore

ERR = ErrorInfo(message="boom", type="RuntimeError")


async def _waiting_step(state: StateStore, run_id: str, name: str, wake_at: float | None = None) -> None:
    await state.insert_step(NewStep(run_id, name, "event", None, '{"event": "x"}', "scheduled", wake_at=wake_at))


def _wake(run_id: str = "r1") -> Enqueue:
    return Enqueue("orch", {"kind": "orchestrate", "run_id": run_id}, key=run_id)


# -- send_event ------------------------------------------------------------------------------------------
async def test_events_are_kept_in_the_order_they_were_sent(state: StateStore) -> None:
    """Each send stores one event; get_events returns them all in send order, payload text byte for byte."""
    await state.create_run("r1", "wf", "{}")
    assert await state.get_events("r1") == []
    payloads = ['{"approved":true}', '{"n": 2, "é": "ü"}', '{"big": 123456789012345678901234567890}']
    for i, payload in enumerate(payloads):
        assert await state.send_event("r1", "approval" if i != 1 else "docs", payload) == "stored"
    events = await state.get_events("r1")
    assert [(e.run_id, e.name, e.payload_json, e.event_id, e.consumed_by) for e in events] == [
        ("r1", "approval", payloads[0], None, None),
        ("r1", "docs", payloads[1], None, None),
        ("r1", "approval", payloads[2], None, None),
    ]
    assert events[0].seq < events[1].seq < events[2].seq
    assert all(e.created_at > 0 for e in events)


async def test_a_send_with_an_event_id_is_stored_once(state: StateStore) -> None:
    """The same event id twice stores one event (the second says duplicate), even once it was taken; other
    ids, no id, and the same id on another run are stored."""
    await state.create_run("r1", "wf", "{}")
    await state.create_run("r2", "wf", "{}")
    assert await state.send_event("r1", "approval", '{"a": 1}', event_id="e-1") == "stored"
    assert await state.send_event("r1", "approval", '{"a": 2}', event_id="e-1") == "duplicate"
    await _waiting_step(state, "r1", "wait")
    assert await state.take_event("r1", "wait", "approval") is not None
    assert await state.send_event("r1", "approval", '{"a": 3}', event_id="e-1") == "duplicate"
    assert await state.send_event("r1", "approval", '{"a": 4}', event_id="e-2") == "stored"
    assert await state.send_event("r1", "approval", '{"a": 5}') == "stored"
    assert await state.send_event("r2", "approval", '{"a": 6}', event_id="e-1") == "stored"
    events = await state.get_events("r1")
    assert [(e.payload_json, e.event_id) for e in events] == [
        ('{"a": 1}', "e-1"),
        ('{"a": 4}', "e-2"),
        ('{"a": 5}', None),
    ]


@pytest.mark.parametrize("settle", ["complete_run", "fail_run", "cancel_run"])
async def test_an_event_for_a_settled_run_is_refused(state: StateStore, settle: str) -> None:
    """A completed, failed or cancelled run keeps no event: the send says settled and stores nothing."""
    await state.create_run("r1", "wf", "{}")
    args = {"complete_run": ('"out"',), "fail_run": (ERR,), "cancel_run": ()}[settle]
    await getattr(state, settle)("r1", *args)
    assert await state.send_event("r1", "approval", "{}", event_id="x") == "settled"
    assert await state.get_events("r1") == []


async def test_an_event_for_a_missing_run_raises_and_is_never_kept(state: StateStore) -> None:
    """A run id that does not exist raises RunNotFoundError; a run created later under that id has no event."""
    with pytest.raises(RunNotFoundError):
        await state.send_event("later", "approval", "{}", event_id="x")
    await state.create_run("later", "wf", "{}")
    assert await state.get_events("later") == []
    with pytest.raises(RunNotFoundError):
        await state.get_events("nope")


async def test_an_event_for_a_suspended_or_waiting_run_is_kept(state: StateStore) -> None:
    """A suspended run keeps events for after its resume; a waiting run keeps them for its next pass."""
    await state.create_run("s", "wf", "{}")
    assert await state.suspend_run("s", "hold", '"why"')
    assert await state.send_event("s", "approval", "{}") == "stored"
    await state.create_run("w", "wf", "{}")
    await state.lock_run("w", "owner", 30)
    await state.release_run_lock("w", "owner", waiting=True)
    assert await state.send_event("w", "approval", "{}") == "stored"
    assert [len(await state.get_events(r)) for r in ("s", "w")] == [1, 1]


# -- take_event ------------------------------------------------------------------------------------------
async def test_steps_take_events_of_their_name_first_in_first_out(state: StateStore) -> None:
    """Each take moves the oldest untaken event of that name into the step (done, its payload the result) and
    marks it taken by the step; events of other names wait on."""
    await state.create_run("r1", "wf", "{}")
    for name, payload in [("a", '"a1"'), ("b", '"b1"'), ("a", '"a2"')]:
        await state.send_event("r1", name, payload)
    for step in ("w1", "w2", "w3"):
        await _waiting_step(state, "r1", step, wake_at=time.time() + 3600)
    first = await state.take_event("r1", "w1", "a")
    second = await state.take_event("r1", "w2", "a")
    assert first is not None and second is not None
    assert (first.status, first.result_json, first.form, first.error) == ("done", '"a1"', "event", None)
    assert (second.status, second.result_json) == ("done", '"a2"')
    assert await state.take_event("r1", "w3", "a") is None
    third = await state.get_step("r1", "w3")
    assert (third.status, third.result_json) == ("scheduled", None)
    assert (await state.get_step("r1", "w1")).result_json == '"a1"'
    assert [(e.name, e.consumed_by) for e in await state.get_events("r1")] == [("a", "w1"), ("b", None), ("a", "w2")]


async def test_an_event_sent_after_the_step_waits_is_taken(state: StateStore) -> None:
    """A step that found nothing takes the event that comes later."""
    await state.create_run("r1", "wf", "{}")
    await _waiting_step(state, "r1", "w")
    assert await state.take_event("r1", "w", "approval") is None
    await state.send_event("r1", "approval", '{"ok": true}')
    taken = await state.take_event("r1", "w", "approval")
    assert taken is not None and taken.result_json == '{"ok": true}'


async def test_a_settled_step_takes_nothing(state: StateStore) -> None:
    """A step done already (its timeout passed: result null) is returned as it is and leaves the event waiting."""
    await state.create_run("r1", "wf", "{}")
    await _waiting_step(state, "r1", "w")
    assert await state.complete_step("r1", "w", "null")
    await state.send_event("r1", "approval", "{}")
    again = await state.take_event("r1", "w", "approval")
    assert again is not None and (again.status, again.result_json) == ("done", "null")
    assert [e.consumed_by for e in await state.get_events("r1")] == [None]


async def test_take_event_of_a_missing_step_or_run_raises(state: StateStore) -> None:
    """A missing step is StepNotFoundError, a missing run RunNotFoundError; the event stays."""
    await state.create_run("r1", "wf", "{}")
    await state.send_event("r1", "approval", "{}")
    with pytest.raises(StepNotFoundError):
        await state.take_event("r1", "nope", "approval")
    with pytest.raises(RunNotFoundError):
        await state.take_event("nope", "w", "approval")
    assert [e.consumed_by for e in await state.get_events("r1")] == [None]


async def test_two_steps_taking_at_once_take_two_events(state: StateStore) -> None:
    """Two steps waiting for one name, taking at the same time, get one event each (never both the same)."""
    await state.create_run("r1", "wf", "{}")
    await state.send_event("r1", "approval", '"first"')
    await state.send_event("r1", "approval", '"second"')
    await _waiting_step(state, "r1", "w1")
    await _waiting_step(state, "r1", "w2")
    taken = await asyncio.gather(*(state.take_event("r1", s, "approval") for s in ("w1", "w2")))
    assert sorted(t.result_json for t in taken if t is not None) == ['"first"', '"second"']
    assert sorted(e.consumed_by or "" for e in await state.get_events("r1")) == ["w1", "w2"]


# -- the wake-up that rides along ------------------------------------------------------------------------
async def test_a_send_wakes_the_run_unless_it_settled(backend: Backend) -> None:
    """Through the transitions a stored event and a duplicate enqueue the run's wake-up (keyed: one job); an
    event for a settled run enqueues nothing."""
    state, queue = backend.state, backend.queue
    await state.create_run("r1", "wf", "{}")
    sent = await backend.transitions.send_event("r1", "approval", "{}", event_id="e", wake=_wake())
    again = await backend.transitions.send_event("r1", "approval", "{}", event_id="e", wake=_wake())
    assert (sent, again) == ("stored", "duplicate")
    [job] = await queue.claim(["orch"], owner="w", lease_s=30)
    assert job.payload == {"kind": "orchestrate", "run_id": "r1"}
    assert await queue.ack(job)
    await state.cancel_run("r1")
    assert await backend.transitions.send_event("r1", "approval", "{}", event_id=None, wake=_wake()) == "settled"
    assert await queue.count("orch") == 0


async def test_a_handoff_without_a_co_located_queue_is_refused(state: StateStore) -> None:
    """A store that cannot enqueue with its writes refuses send_event(handoff=) before writing anything."""
    await state.create_run("r1", "wf", "{}")
    if getattr(state, "supports_handoff", False):
        pytest.skip("this store enqueues hand-offs itself")
    with pytest.raises(TypeError):
        await state.send_event("r1", "approval", "{}", handoff=_wake())
    assert await state.get_events("r1") == []


# -- deleting runs ---------------------------------------------------------------------------------------
async def test_a_deleted_run_takes_its_events_with_it(state: StateStore) -> None:
    """Pruning a settled run deletes its events: a run recreated under its id starts with none, and its
    event ids are free again."""
    await state.create_run("r1", "wf", "{}")
    await state.send_event("r1", "approval", '"old"', event_id="e")
    await _waiting_step(state, "r1", "w")
    await state.take_event("r1", "w", "approval")
    await state.send_event("r1", "approval", '"left"')
    await state.complete_run("r1", "null")
    assert await state.delete_runs(before=time.time() + 1, statuses=("completed",), limit=10) == ["r1"]
    await state.create_run("r1", "wf", "{}")
    assert await state.get_events("r1") == []
    assert await state.send_event("r1", "approval", '"new"', event_id="e") == "stored"
    await _waiting_step(state, "r1", "w")
    taken = await state.take_event("r1", "w", "approval")
    assert taken is not None and taken.result_json == '"new"'
