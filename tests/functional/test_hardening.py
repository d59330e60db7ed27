"""Hostile or careless workflow code: no run left running forever, no silent wrong answer, on every backend."""

from __future__ import annotations

import collections
import logging
from typing import Any

import pytest
from pydantic import BaseModel

import pikku
from pikku import pikku_func, wire_workflow
from pikku._runtime import Runtime
from pikku.testing import redeploy, settle
from pikku.wiring import WorkflowClient

CALLS: collections.Counter[str] = collections.Counter()
FLAGS: dict[str, Any] = {}


@pytest.fixture(autouse=True)
def _reset() -> None:
    CALLS.clear()
    FLAGS.clear()


class Unprintable(Exception):
    """An exception that cannot be turned into text at all."""

    def __str__(self) -> str:
        raise RuntimeError("no str for you")

    def __repr__(self) -> str:
        raise RuntimeError("no repr either")


@pikku_func(name="h.unprintable")
async def unprintable(services: Any, data: None) -> None:
    CALLS["unprintable"] += 1
    raise Unprintable()


async def unprintable_remote_wf(services: Any, data: None) -> None:
    await services.workflow.do("call", "h.unprintable", retries=0)


async def unprintable_inline_wf(services: Any, data: None) -> None:
    def inline() -> None:
        CALLS["inline"] += 1
        raise Unprintable()

    await services.workflow.do("inline", inline, retries=0)


wire_workflow(name="h-unprintable-remote", func=unprintable_remote_wf)
wire_workflow(name="h-unprintable-inline", func=unprintable_inline_wf)


@pytest.mark.parametrize(
    ("workflow", "counter"), [("h-unprintable-remote", "unprintable"), ("h-unprintable-inline", "inline")]
)
async def test_an_unprintable_exception_still_fails_its_step_once(rt: Runtime, workflow: str, counter: str) -> None:
    """An exception whose str() and repr() raise fails the run after exactly the attempts it was given."""
    handle = await WorkflowClient(workflow).start(None)
    await settle(rt, [handle.run_id])
    run = await handle.get_run()
    assert run.status == "failed" and run.error is not None
    assert run.error.type == "Unprintable" and "unprintable Unprintable" in run.error.message
    assert CALLS[counter] == 1
    assert await rt.engine.queue.count() == 0


async def hash_name_wf(services: Any, data: str) -> None:
    if data == "do":
        await services.workflow.do("pay#v2", lambda: 1)
    elif data == "nul":
        await services.workflow.do("pay\x00", lambda: 1)  # PostgreSQL text cannot hold NUL
    else:
        await services.workflow.sleep(0, name="nap#1")


wire_workflow(name="h-hash", func=hash_name_wf)


@pytest.mark.parametrize("how", ["do", "sleep", "nul"])
async def test_a_step_name_with_a_hash_fails_the_run_with_a_coded_error(rt: Runtime, how: str) -> None:
    """'#' is reserved for loop repeats (an explicit one would alias a loop's step), and a control character
    such as NUL is refused before it reaches a store (PostgreSQL rejects it with a driver traceback)."""
    handle = await WorkflowClient("h-hash").start(how)
    await settle(rt, [handle.run_id])
    run = await handle.get_run()
    assert run.status == "failed" and run.error is not None
    assert run.error.code == "PIKKU_INVALID_STEP_NAME" and "#" in run.error.message
    assert await rt.engine.state.get_steps(handle.run_id) == {}


class Out(BaseModel):
    total: int


async def wrong_output_wf(services: Any, data: str) -> Out:
    if data == "none":
        return None  # type: ignore[return-value]
    return {"total": "many"}  # type: ignore[return-value]


wire_workflow(name="h-wrong-output", func=wrong_output_wf)


@pytest.mark.parametrize("data", ["none", "bad-field"])
async def test_an_output_that_does_not_match_its_type_fails_the_run(rt: Runtime, data: str) -> None:
    """A workflow declared ``-> Out`` that returns something else fails with PIKKU_INVALID_OUTPUT, and
    ``result()`` raises the coded failure instead of a raw pydantic error."""
    handle = await WorkflowClient("h-wrong-output").start(data)
    await settle(rt, [handle.run_id])
    run = await handle.get_run()
    assert run.status == "failed" and run.error is not None
    assert run.error.code == "PIKKU_INVALID_OUTPUT" and "Out" in run.error.message
    if data == "bad-field":
        assert "total" in run.error.message
    with pytest.raises(pikku.WorkflowFailedError):
        await handle.result(timeout=1)


@pikku_func(name="h.huge")
async def huge(services: Any, data: str) -> Any:
    CALLS["huge"] += 1
    return 10**5000 if data == "int" else {"ratio": float("nan")}


async def unstorable_wf(services: Any, data: str) -> Any:
    return await services.workflow.do("huge", "h.huge", data, retries=3)


wire_workflow(name="h-unstorable", func=unstorable_wf)


@pytest.mark.parametrize("data", ["int", "nan"])
async def test_a_value_that_cannot_round_trip_fails_its_step_not_every_replay(rt: Runtime, data: str) -> None:
    """A value whose JSON cannot be read back (a 5,000-digit int) or is not standard JSON (NaN) is never
    stored as done: the step fails once with PIKKU_STEP_SERIALIZATION (a permanent failure, no retries)."""
    handle = await WorkflowClient("h-unstorable").start(data)
    await settle(rt, [handle.run_id])
    run = await handle.get_run()
    assert run.status == "failed" and run.error is not None
    assert run.error.code == "PIKKU_STEP_SERIALIZATION"
    step = (await rt.engine.state.get_steps(handle.run_id))["huge"]
    assert step.status == "failed" and step.result_json is None
    assert CALLS["huge"] == 1


async def self_cancel_wf(services: Any, data: None) -> None:
    await services.workflow.do("first", lambda: 1)
    raise pikku.WorkflowCancelled("the customer withdrew")


wire_workflow(name="h-self-cancel", func=self_cancel_wf)


async def test_a_workflow_raising_workflow_cancelled_ends_cancelled(rt: Runtime) -> None:
    """Upstream's in-workflow cancellation ends the run ``cancelled``, not ``failed``."""
    handle = await WorkflowClient("h-self-cancel").start(None)
    await settle(rt, [handle.run_id])
    assert (await handle.get_run()).status == "cancelled"
    with pytest.raises(pikku.WorkflowCancelledError):
        await handle.result(timeout=1)


async def inserted_wf(services: Any, data: None) -> int:
    wf = services.workflow
    if FLAGS.get("new-code"):
        await wf.do("inserted", lambda: 0)
    first = await wf.do("first", lambda: 1)
    await wf.sleep(0.3, name="nap")
    return int(first) + 1


wire_workflow(name="h-inserted", func=inserted_wf)


async def test_a_step_inserted_under_a_run_in_flight_is_logged_with_the_run_id(
    rt: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    """A step with no record ahead of recorded ones (code changed under the run) is a warning naming the run."""
    handle = await WorkflowClient("h-inserted").start(None)
    assert await rt.engine.orchestrate(handle.run_id)  # records "first" and the sleep, then pauses
    await redeploy(rt)
    FLAGS["new-code"] = True
    with caplog.at_level(logging.WARNING, logger="pikku.engine"):
        await settle(rt, [handle.run_id])
    assert await handle.result(timeout=1) == 2
    warnings = [r.getMessage() for r in caplog.records if "inserted" in r.getMessage()]
    assert len(warnings) >= 1 and handle.run_id in warnings[0] and "'inserted'" in warnings[0]


async def test_no_insert_warning_for_a_run_that_replays_unchanged(
    rt: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    """The warning is not noise: an unchanged replay, and a new run of the new code, log none."""
    FLAGS["new-code"] = True
    handle = await WorkflowClient("h-inserted").start(None)
    with caplog.at_level(logging.WARNING, logger="pikku.engine"):
        await settle(rt, [handle.run_id])
    assert await handle.result(timeout=1) == 2
    assert not [r for r in caplog.records if "inserted" in r.getMessage()]
