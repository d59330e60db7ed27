"""A write whose reply was lost: the server committed a step's settle (or final failure), went away before
answering, and the driver's retry of the same write found it applied (False: nothing changed). Found by
the soak (Redis crashed with SIGKILL under load): the runner took that False for a takeover, the pass
paused with nothing left to wake it, and the run stayed running for good. The stored step decides now.

The lost reply is reproduced exactly: the transition is applied, then applied again, and the caller sees
the second answer.
"""

from __future__ import annotations

import collections
from typing import Any

import pytest
from lost_replies_support import RepliesLost

import pikku
from pikku import Settings, pikku_func, wire_workflow
from pikku._runtime import Runtime
from pikku.testing import memory_runtime, settle
from pikku.wiring import WorkflowClient

CALLS: collections.Counter[str] = collections.Counter()


@pikku_func(name="lr.add")
async def add(services: Any, data: int) -> int:
    CALLS["add"] += 1
    return data + 1


@pikku_func(name="lr.broken")
async def broken(services: Any, data: None) -> None:
    CALLS["broken"] += 1
    raise RuntimeError("always")


async def chain_wf(services: Any, data: int) -> int:
    first = await services.workflow.do("first", "lr.add", data)
    second: int = await services.workflow.do("second", "lr.add", first)
    return second


async def failing_wf(services: Any, data: None) -> str:
    try:
        await services.workflow.do("broken", "lr.broken", None, retries=0)
    except Exception:
        return "caught"
    return "no"


wire_workflow(name="lr-chain", func=chain_wf)
wire_workflow(name="lr-failing", func=failing_wf)


@pytest.fixture(autouse=True)
def _reset() -> None:
    CALLS.clear()


@pytest.mark.parametrize("local_steps", [True, False], ids=["local", "queued"])
async def test_a_settle_whose_reply_was_lost_still_moves_the_run_on(backend_url: str, local_steps: bool) -> None:
    """Every step's settle reply is lost: the run completes anyway, each step body ran once."""
    settings = Settings(
        run_lock_lease=5, step_lease=5, lock_busy_delay=0.01, default_retries=0, local_steps=local_steps
    )
    async with memory_runtime(settings=settings, url=backend_url) as rt:
        rt.engine.steps.transitions = RepliesLost(rt.engine.steps.transitions, "settle_step", "fail_step")
        handle = await WorkflowClient("lr-chain").start(1)
        [run] = await settle(rt, [handle.run_id], timeout=10)
    assert run.status == "completed" and run.output_json == "3"
    assert CALLS["add"] == 2


async def test_a_final_failure_whose_reply_was_lost_reaches_the_workflow(rt: Runtime) -> None:
    """The failure of a step with no retries left is recorded, its reply lost: the workflow still sees the
    failure (and catches it), the body ran once."""
    rt.engine.steps.transitions = RepliesLost(rt.engine.steps.transitions, "settle_step", "fail_step")
    handle = await WorkflowClient("lr-failing").start(None)
    [run] = await settle(rt, [handle.run_id], timeout=10)
    assert run.status == "completed" and run.output_json == '"caught"'
    assert CALLS["broken"] == 1


@pikku_func(name="lr.flaky")
async def flaky(services: Any, data: None) -> str:
    CALLS["flaky"] += 1
    if CALLS["flaky"] == 1:
        raise RuntimeError("first call fails")
    return "ok"


async def resumable_wf(services: Any, data: None) -> str:
    value: str = await services.workflow.do("flaky", "lr.flaky", None, retries=0)
    return value


wire_workflow(name="lr-resumable", func=resumable_wf)


class _FirstClaimReplyLost:
    """A store whose first claim_step is applied twice, the second answer (None: held) returned."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.lost = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def claim_step(self, *args: Any, **kwargs: Any) -> Any:
        if self.lost:
            return await self._inner.claim_step(*args, **kwargs)
        self.lost += 1
        await self._inner.claim_step(*args, **kwargs)
        return await self._inner.claim_step(*args, **kwargs)


async def test_a_claim_whose_reply_was_lost_is_claimed_again_once_it_lapses(backend_url: str) -> None:
    """A resumed run's pass claims its failed step (now pending) to run it in place; the claim applies but
    its reply is lost, so the pass sees the step held. It looks again once that hold can have lapsed and
    runs the step then: the run completes (it used to wait for good), the body ran once more in all."""
    settings = Settings(run_lock_lease=5, step_lease=1, lock_busy_delay=0.01, default_retries=0)
    async with memory_runtime(settings=settings, url=backend_url) as rt:
        handle = await WorkflowClient("lr-resumable").start(None)
        [failed] = await settle(rt, [handle.run_id], timeout=10)
        assert failed.status == "failed"
        wrapped = _FirstClaimReplyLost(rt.engine.state)
        rt.engine.state = wrapped
        assert await pikku.resume_run(handle.run_id)
        [run] = await settle(rt, [handle.run_id], timeout=15)
    assert wrapped.lost == 1
    assert run.status == "completed" and run.output_json == '"ok"'
    assert CALLS["flaky"] == 2
