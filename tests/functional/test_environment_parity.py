"""The test environment runs the production engine: workflows of the functional suite give the same
results through ``WorkflowEnvironment`` (virtual clock, in-memory backend) as through a plain worker."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import test_run_control as control  # the modules as pytest imports them (rootdir-relative, no package)
import test_workflows as flows

import pikku
from pikku.testing import WorkflowEnvironment
from pikku.wiring import WorkflowClient


@pytest.fixture(autouse=True)
def _reset() -> None:
    flows.CALLS.clear()
    flows.SEEN.clear()
    flows.FLAGS.clear()
    control.CALLS.clear()


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    async with WorkflowEnvironment(services=None) as environment:
        yield environment


async def test_values_round_trip_as_in_the_functional_suite(env: WorkflowEnvironment) -> None:
    """f-values: typed step values, the same on first run and replay."""
    handle = await WorkflowClient("f-values").start(None)
    assert await env.result(handle) == {"x": 3, "width": 2**70, "local": "inline", "n": 2**65}
    assert flows.CALLS == {"point": 1, "box": 1}


async def test_fanout_and_loops_run_each_step_once(env: WorkflowEnvironment) -> None:
    """f-fanout: gathered steps and loop repeats, each exactly once."""
    handle = await WorkflowClient("f-fanout").start([1, 2, 3])
    assert await env.result(handle) == [1, 2, 3, "loop0", "loop1", "loop2"]
    assert all(v == 1 for v in flows.CALLS.values()) and len(flows.CALLS) == 6


async def test_retries_with_back_off_under_virtual_time(env: WorkflowEnvironment) -> None:
    """f-retry: two failures, then success on the third attempt, one invocation id (back-off skipped)."""
    handle = await WorkflowClient("f-retry").start(2)
    assert await env.result(handle) == {"attempt": 3}
    assert flows.FLAGS["invocations"] == {pikku.invocation_id(handle.run_id, "flaky")}


async def test_a_failing_step_fails_the_run(env: WorkflowEnvironment) -> None:
    """f-fail: the step's error fails the run; result() raises WorkflowFailedError."""
    handle = await WorkflowClient("f-fail").start(None)
    with pytest.raises(pikku.WorkflowFailedError):
        await env.result(handle)
    assert flows.CALLS["boom"] == 1


async def test_an_hour_long_sleep_and_a_cancel(env: WorkflowEnvironment) -> None:
    """rc-sleepy: cancelled while asleep for an hour; nothing after the sleep runs."""
    handle = await WorkflowClient("rc-sleepy").start(None)
    await env.sleep("10m")
    assert await handle.cancel() is True
    with pytest.raises(pikku.WorkflowCancelledError):
        await env.result(handle)
    await env.sleep("2h")
    assert control.CALLS["after"] == 0
