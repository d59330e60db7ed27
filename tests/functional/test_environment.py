"""pikku.testing.WorkflowEnvironment: the production engine on the in-memory backend, with time that skips."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

import pikku
from pikku import pikku_func, wire_workflow
from pikku.testing import WorkflowEnvironment
from pikku.wiring import WorkflowClient

ORDER: list[str] = []


@pytest.fixture(autouse=True)
def _reset() -> None:
    ORDER.clear()


@pikku_func(name="env.notify")
async def notify(services: Any, data: dict[str, str]) -> str:
    return str(services.mailer.send(data["to"]))


async def week_wf(services: Any, data: dict[str, str]) -> str:
    await services.workflow.sleep("7d", name="a-week")
    return str(await services.workflow.do("notify", "env.notify", data))


async def timers_wf(services: Any, data: None) -> list[str]:
    async def branch(name: str, wait: str) -> None:
        await services.workflow.sleep(wait, name=f"wait-{name}")
        await services.workflow.do(name, lambda: ORDER.append(name))

    await asyncio.gather(branch("late", "3d"), branch("early", "1h"), branch("middle", "1d"))
    return list(ORDER)


async def inline_week_wf(services: Any, data: None) -> str:
    await services.workflow.sleep("7d", name="nap")
    return "rested"


wire_workflow(name="env-week", func=week_wf)
wire_workflow(name="env-timers", func=timers_wf)
wire_workflow(name="env-inline", func=inline_week_wf, execution_mode="inline")


class FakeMailer:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, to: str) -> str:
        self.sent.append(to)
        return f"sent to {to}"


async def test_a_week_long_sleep_finishes_in_milliseconds_with_overridden_services() -> None:
    """sleep('7d') completes at once in real time; the step uses the service the test put in place."""
    mailer = FakeMailer()
    started = time.monotonic()
    async with WorkflowEnvironment(time_skipping=True, services={"mailer": "the real one"}) as env:
        env.override_services(mailer=mailer)
        t0 = env.clock.now() if env.clock else 0.0
        handle = await WorkflowClient("env-week").start({"to": "ada@example.com"})
        assert await env.result(handle) == "sent to ada@example.com"
        assert env.clock is not None and env.clock.now() - t0 >= 7 * 86400
    assert time.monotonic() - started < 5.0
    assert mailer.sent == ["ada@example.com"]


async def test_timers_fire_in_order() -> None:
    """Three sleeps of 3 days, 1 hour and 1 day wake in time order."""
    async with WorkflowEnvironment() as env:
        handle = await WorkflowClient("env-timers").start(None)
        assert await env.result(handle) == ["early", "middle", "late"]


async def test_time_moves_only_while_the_test_awaits_the_environment() -> None:
    """Between environment calls the clock stands still, so a test can act before a timer fires."""
    async with WorkflowEnvironment() as env:
        assert env.clock is not None
        handle = await WorkflowClient("env-week").start({"to": "x"})
        before = env.clock.now()
        await asyncio.sleep(0.05)  # not an environment call: no skipping
        assert env.clock.now() == before
        await env.sleep("1d")
        assert (await handle.get_run()).status == "waiting"  # asleep: nothing to do but its timer
        assert env.clock.now() - before >= 86400
        env.clock.advance("6d")
        env.override_services(mailer=FakeMailer())
        assert await env.result(handle) == "sent to x"


async def test_an_inline_run_skips_time_too() -> None:
    """An inline run's in-process sleep goes through the environment's clock."""
    async with WorkflowEnvironment() as env:
        handle = await env.run(WorkflowClient("env-inline").start(None))
        assert await handle.result(timeout=1) == "rested"


async def test_a_run_waiting_for_nothing_is_reported_not_hung() -> None:
    """A run that no timer or worker can move (its step's queue is served by nobody) is a clear error."""
    async with WorkflowEnvironment() as env:
        assert env._worker is not None
        env._worker.queues = ["workflow-env-week-orchestrator"]  # no worker for the step's queue
        env._worker._served = frozenset(env._worker.queues)
        handle = await WorkflowClient("env-week").start({"to": "x"})
        with pytest.raises(pikku.WorkflowTimeoutError, match="no timer"):
            await env.result(handle, timeout=5)


async def test_the_pytest_plugin_fixture(pikku_env: WorkflowEnvironment) -> None:
    """The pikku_env fixture from the pytest11 entry point is a time-skipping environment."""
    pikku_env.override_services(mailer=FakeMailer())
    handle = await WorkflowClient("env-week").start({"to": "bo"})
    assert await pikku_env.result(handle) == "sent to bo"
