"""Compensation on every backend: ``do(..., on_error=)`` runs its rpc once when the step fails for good,
``wire_workflow(..., on_failure=)`` once per failure episode of a run (a resumed run that fails again runs
it again)."""

from __future__ import annotations

import collections
from typing import Any

import pytest

import pikku
from pikku import pikku_func, wire_workflow
from pikku._registry import get_workflow
from pikku._runtime import Runtime
from pikku.testing import settle
from pikku.wiring import WorkflowClient

CALLS: collections.Counter[str] = collections.Counter()
SEEN: list[Any] = []
#: How many attempts of "cp.charge" fail before one succeeds (a large number: every attempt fails).
FAILING = {"charge": 10**6}


@pytest.fixture(autouse=True)
def _reset() -> None:
    CALLS.clear()
    SEEN.clear()
    FAILING["charge"] = 10**6


@pikku_func(name="cp.charge")
async def charge(services: Any, data: dict[str, Any]) -> str:
    CALLS["charge"] += 1
    if CALLS["charge"] <= FAILING["charge"]:
        raise ConnectionError(f"card network down (attempt {CALLS['charge']})")
    return f"paid {data['amount']}"


@pikku_func(name="cp.refund")
async def refund(services: Any, data: dict[str, Any]) -> str:
    CALLS["refund"] += 1
    SEEN.append(data)
    return "refunded"


@pikku_func(name="cp.compensate")
async def compensate(services: Any, data: dict[str, Any]) -> None:
    CALLS["compensate"] += 1
    SEEN.append(data)


@pikku_func(name="cp.broken-refund")
async def broken_refund(services: Any, data: dict[str, Any]) -> None:
    CALLS["broken refund"] += 1
    raise RuntimeError("refunds are down too")


async def pay(services: Any, data: dict[str, Any]) -> str:
    wf = services.workflow
    return str(await wf.do("charge", "cp.charge", data, retries=2, retry_delay="10ms", on_error="cp.refund"))


async def pay_and_recover(services: Any, data: dict[str, Any]) -> str:
    try:
        await services.workflow.do("charge", "cp.charge", data, retries=0, on_error="cp.refund")
    except pikku.StepFailedError:
        await services.workflow.do("apologise", lambda: CALLS.update(["apologise"]))
        return "recovered"
    return "paid"


async def pay_with_broken_refund(services: Any, data: dict[str, Any]) -> str:
    return str(await services.workflow.do("charge", "cp.charge", data, retries=0, on_error="cp.broken-refund"))


async def order(services: Any, data: dict[str, Any]) -> str:
    await services.workflow.do("reserve", lambda: CALLS.update(["reserve"]))
    return str(await services.workflow.do("charge", "cp.charge", data, retries=0))


async def order_that_raises(services: Any, data: dict[str, Any]) -> None:
    await services.workflow.do("reserve", lambda: CALLS.update(["reserve"]))
    raise ValueError("the order has no lines")


async def slow_order(services: Any, data: dict[str, Any]) -> None:
    await services.workflow.sleep("1h", name="wait")


wire_workflow(name="cp-pay", func=pay)
wire_workflow(name="cp-pay-inline", func=pay, execution_mode="inline")
wire_workflow(name="cp-recover", func=pay_and_recover)
wire_workflow(name="cp-broken-refund", func=pay_with_broken_refund)
wire_workflow(name="cp-order", func=order, on_failure="cp.compensate")
wire_workflow(name="cp-order-raises", func=order_that_raises, on_failure="cp.compensate")
wire_workflow(name="cp-order-slow", func=slow_order, on_failure="cp.compensate", timeout=0.3)


async def _run(workflow: str, data: Any) -> str:
    handle = await WorkflowClient(workflow).start(data)
    return handle.run_id


@pytest.mark.parametrize(("workflow", "local"), [("cp-pay", True), ("cp-pay", False), ("cp-pay-inline", True)])
async def test_on_error_runs_once_after_the_last_of_three_failed_attempts(
    rt: Runtime, workflow: str, local: bool
) -> None:
    """Three attempts fail: the refund runs once (not per attempt), as the step on_error:charge, with the
    error and the step's input; then the failure propagates and fails the run. Remote steps run in the
    pass (local) or through their queue jobs and hand-offs."""
    rt.engine.settings.local_steps = local
    run_id = await _run(workflow, {"amount": 42})
    [done] = await settle(rt, [run_id])
    assert (CALLS["charge"], CALLS["refund"]) == (3, 1)
    assert done.status == "failed" and done.error is not None and "card network down" in done.error.message
    [seen] = SEEN
    assert seen["input"] == {"amount": 42}
    assert seen["error"]["type"] == "ConnectionError" and "attempt 3" in seen["error"]["message"]
    steps = {s.name: s for s in await pikku.get_steps(run_id)}
    assert (steps["charge"].status, len(steps["charge"].attempts)) == ("failed", 3)
    assert (steps["on_error:charge"].rpc_name, steps["on_error:charge"].status) == ("cp.refund", "done")


@pytest.mark.parametrize("workflow", ["cp-pay", "cp-pay-inline"])
async def test_on_error_does_not_run_when_a_retry_succeeds(rt: Runtime, workflow: str) -> None:
    """Two attempts fail and the third succeeds: no refund, the run completes."""
    FAILING["charge"] = 2
    run_id = await _run(workflow, {"amount": 7})
    [done] = await settle(rt, [run_id])
    assert done.status == "completed" and (CALLS["charge"], CALLS["refund"]) == (3, 0)
    assert "on_error:charge" not in {s.name for s in await pikku.get_steps(run_id)}


async def test_a_caught_failure_is_compensated_once_across_replays(rt: Runtime) -> None:
    """The workflow catches the failure and goes on: the refund ran once although later passes replay
    the failed step (and its compensation) again."""
    run_id = await _run("cp-recover", {"amount": 1})
    [done] = await settle(rt, [run_id])
    assert done.status == "completed" and done.output_json == '"recovered"'
    for _ in range(3):
        await rt.engine.orchestrate(run_id)
    assert (CALLS["charge"], CALLS["refund"], CALLS["apologise"]) == (1, 1, 1)


async def test_a_compensation_that_fails_leaves_the_steps_own_failure(rt: Runtime) -> None:
    """The on_error rpc fails too: it is recorded failed, and the run fails with the step's own error."""
    run_id = await _run("cp-broken-refund", {"amount": 1})
    [done] = await settle(rt, [run_id])
    assert done.status == "failed" and done.error is not None and "card network down" in done.error.message
    steps = {s.name: s for s in await pikku.get_steps(run_id)}
    assert steps["on_error:charge"].status == "failed" and CALLS["broken refund"] == 1


async def test_on_failure_runs_once_per_failure_episode_across_a_resume(rt: Runtime) -> None:
    """The run fails: on_failure runs once (step on_failure:1) with the error, input and run id. Resumed,
    it fails again: on_failure runs once more (on_failure:2). Resumed once more, it completes: no third."""
    run_id = await _run("cp-order", {"amount": 5})
    [done] = await settle(rt, [run_id])
    assert done.status == "failed" and CALLS["compensate"] == 1
    assert SEEN[0]["run_id"] == run_id and SEEN[0]["input"] == {"amount": 5}
    assert SEEN[0]["error"]["type"] == "ConnectionError"
    for _ in range(2):  # more passes of the failed run change nothing
        await rt.engine.orchestrate(run_id)
    assert await pikku.resume_run(run_id) is True
    [again] = await settle(rt, [run_id])
    assert again.status == "failed" and CALLS["compensate"] == 2
    FAILING["charge"] = 0
    assert await pikku.resume_run(run_id) is True
    [last] = await settle(rt, [run_id])
    assert last.status == "completed" and CALLS["compensate"] == 2 and CALLS["reserve"] == 1
    names = [s.name for s in await pikku.get_steps(run_id)]
    assert names.count("on_failure:1") == 1 and names.count("on_failure:2") == 1
    assert not any(n.startswith("on_failure:3") for n in names)


async def test_on_failure_runs_for_a_failure_of_the_workflows_own_code(rt: Runtime) -> None:
    """A workflow that raises (no step failed) is compensated too, once."""
    run_id = await _run("cp-order-raises", {"amount": 5})
    [done] = await settle(rt, [run_id])
    assert done.status == "failed" and CALLS["compensate"] == 1
    assert SEEN[0]["error"] == {"message": "the order has no lines", "type": "ValueError", "code": None}


async def test_on_failure_runs_once_when_a_run_times_out(rt: Runtime) -> None:
    """A run past its timeout fails with PIKKU_RUN_TIMEOUT after its compensation ran, once."""
    run_id = await _run("cp-order-slow", {"amount": 5})
    [done] = await settle(rt, [run_id])
    assert done.status == "failed" and done.error is not None and done.error.code == "PIKKU_RUN_TIMEOUT"
    assert CALLS["compensate"] == 1 and SEEN[0]["error"]["code"] == "PIKKU_RUN_TIMEOUT"


async def test_a_compensation_queue_is_the_failed_steps_and_one_per_run_episodes() -> None:
    """on_error:<step> goes to <step>'s queue (loop repeats and templates too); every on_failure episode
    to workflow-<name>-on_failure."""
    wf = get_workflow("cp-order")
    assert wf.step_queue("on_error:charge") == wf.step_queue("charge") == "workflow-cp-order-charge"
    assert wf.step_queue("on_error:charge#2") == "workflow-cp-order-charge"
    assert wf.step_queue("on_failure:1") == wf.step_queue("on_failure:7") == "workflow-cp-order-on_failure"
