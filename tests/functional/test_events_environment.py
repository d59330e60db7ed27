"""Events in the time-skipping WorkflowEnvironment: a 3-day approval timeout passes in a blink, and
``until_waiting`` stops time where a run waits for its event, so a test can send it before the timeout."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

import pikku
from pikku import wire_workflow
from pikku.testing import WorkflowEnvironment
from pikku.wiring import WorkflowClient, register_workflow_events


class Decision(BaseModel):
    approved: bool


async def approval_wf(services: Any, data: None) -> str:
    await services.workflow.sleep("1d", name="cool-off")  # time must skip this one
    decision = await services.workflow.wait_for_event("decision", Decision, timeout="3d")
    if decision is None:
        return "expired"
    return "approved" if decision.approved else "rejected"


async def forever_wf(services: Any, data: None) -> str:
    decision = await services.workflow.wait_for_event("decision", Decision)
    return "approved" if decision is not None and decision.approved else "no"


wire_workflow(name="eve-approval", func=approval_wf)
wire_workflow(name="eve-forever", func=forever_wf)
register_workflow_events("eve-approval", {"decision": Decision})
register_workflow_events("eve-forever", {"decision": Decision})


async def test_the_timeout_passes_in_virtual_time() -> None:
    """With nobody deciding, the environment skips the day's sleep and the 3-day timeout: expired."""
    async with WorkflowEnvironment(services=None) as env:
        assert env.clock is not None
        start = env.clock.now()
        handle = await WorkflowClient("eve-approval").start(None)
        assert await env.result(handle) == "expired"
        assert env.clock.now() - start >= 4 * 86400


async def test_until_waiting_stops_before_the_timeout_so_the_event_can_come() -> None:
    """until_waiting skips the sleep, then stops while the run waits (status waiting, before its timeout);
    the event sent then completes the run."""
    async with WorkflowEnvironment(services=None) as env:
        assert env.clock is not None
        start = env.clock.now()
        handle = await WorkflowClient("eve-approval").start(None)
        await env.until_waiting(handle, "decision")
        waited = env.clock.now() - start
        assert 86400 <= waited < 4 * 86400
        run = await pikku.get_run(handle.run_id)
        assert (run.status, run.waiting_for) == ("waiting", ("decision",))
        await pikku.send_event(handle.run_id, "decision", Decision(approved=True))
        assert await env.result(handle) == "approved"
        assert env.clock.now() - start < 4 * 86400


async def test_a_run_waiting_for_ever_is_reported_not_hung() -> None:
    """A wait without a timeout and no event: env.result says what the run waits for instead of hanging, and
    once the event is sent the next env.result runs it to the end (the first call's stall count is not kept)."""
    async with WorkflowEnvironment(services=None) as env:
        handle = await WorkflowClient("eve-forever").start(None)
        with pytest.raises(pikku.WorkflowTimeoutError, match="an event"):
            await env.result(handle)
        await pikku.send_event(handle.run_id, "decision", {"approved": True})
        assert await env.result(handle) == "approved"


async def test_until_waiting_of_a_run_that_settles_first_says_so() -> None:
    """A run that ends before it waits for the event named: WorkflowTimeoutError saying it settled."""
    async with WorkflowEnvironment(services=None) as env:
        handle = await WorkflowClient("eve-forever").start(None)
        await env.until_waiting(handle)
        await handle.cancel()
        with pytest.raises(pikku.WorkflowTimeoutError, match="cancelled"):
            await env.until_waiting(handle, "decision")
