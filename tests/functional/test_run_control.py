"""Operating runs on every backend: idempotent starts, listing pages, reading steps, cancelling."""

from __future__ import annotations

import asyncio
import collections
from typing import Any

import pytest

import pikku
from pikku import pikku_func, wire_workflow
from pikku._runtime import Runtime
from pikku.testing import settle
from pikku.wiring import WorkflowClient

CALLS: collections.Counter[str] = collections.Counter()
GATES: dict[str, asyncio.Event] = {}


@pytest.fixture(autouse=True)
def _reset() -> None:
    CALLS.clear()
    GATES.clear()


@pikku_func(name="rc.add")
async def add(services: Any, data: dict[str, int]) -> int:
    CALLS["add"] += 1
    return data["a"] + data["b"]


@pikku_func(name="rc.slow")
async def slow(services: Any, data: None) -> str:
    CALLS["slow"] += 1
    await GATES["slow"].wait()
    return "late"


async def sum_wf(services: Any, data: dict[str, int]) -> int:
    total = await services.workflow.do("add", "rc.add", data)
    return int(await services.workflow.do("double", lambda: total * 2))


async def sleepy_wf(services: Any, data: None) -> None:
    await services.workflow.sleep("1h", name="long-nap")
    await services.workflow.do("after", lambda: CALLS.update(["after"]))


async def slow_wf(services: Any, data: None) -> str:
    value = await services.workflow.do("slow", "rc.slow")
    await services.workflow.do("next", lambda: CALLS.update(["next"]))
    return str(value)


wire_workflow(name="rc-sum", func=sum_wf)
wire_workflow(name="rc-sleepy", func=sleepy_wf)
wire_workflow(name="rc-slow", func=slow_wf)


async def test_a_start_with_a_run_id_is_idempotent(rt: Runtime) -> None:
    """The second start with one id returns the same run, creates nothing, and keeps the first input."""
    client: WorkflowClient[Any, int] = WorkflowClient("rc-sum")
    first = await client.start({"a": 1, "b": 2}, run_id="order-42")
    again = await client.start({"a": 100, "b": 200}, run_id="order-42")
    assert (first.run_id, first.created) == ("order-42", True)
    assert (again.run_id, again.created) == ("order-42", False)
    await settle(rt, ["order-42"])
    assert await again.result(timeout=1) == 6
    assert CALLS["add"] == 1
    page = await pikku.list_runs(workflow="rc-sum")
    assert [r.run_id for r in page.runs] == ["order-42"]


async def test_concurrent_starts_with_one_id_make_exactly_one_run(rt: Runtime) -> None:
    """Ten starts racing on one id: one creates the run, nine get its handle."""
    client: WorkflowClient[Any, int] = WorkflowClient("rc-sum")
    handles = await asyncio.gather(*(client.start({"a": i, "b": 0}, run_id="race") for i in range(10)))
    assert sum(h.created for h in handles) == 1
    assert len((await pikku.list_runs()).runs) == 1


async def test_a_run_id_of_another_workflow_is_refused_naming_both(rt: Runtime) -> None:
    """Ids are unique across workflows: reusing one under another workflow names both workflows."""
    await WorkflowClient("rc-sum").start({"a": 1, "b": 1}, run_id="shared")
    with pytest.raises(pikku.RunIdInUseError) as err:
        await WorkflowClient("rc-sleepy").start(None, run_id="shared")
    assert "rc-sum" in str(err.value) and "rc-sleepy" in str(err.value)


@pytest.mark.parametrize("bad", ["", "a/b", "tick@2026", "tab\there"])
async def test_reserved_or_empty_run_ids_are_refused(rt: Runtime, bad: str) -> None:
    """'@' (schedule ticks) and '/' (child runs) are reserved; nothing is created for a refused id."""
    with pytest.raises(pikku.InvalidInputError):
        await WorkflowClient("rc-sum").start({"a": 1, "b": 1}, run_id=bad)
    assert (await pikku.list_runs()).runs == []


async def test_list_runs_pages_newest_first_and_filters(rt: Runtime) -> None:
    """Pages of ``limit`` newest first with a cursor until the last; filters by workflow and status."""
    for i in range(5):
        await WorkflowClient("rc-sum").start({"a": i, "b": 0}, run_id=f"sum-{i}")
    await WorkflowClient("rc-sleepy").start(None, run_id="nap")
    await settle(rt, [f"sum-{i}" for i in range(5)])
    seen: list[str] = []
    cursor = None
    while True:
        page = await pikku.list_runs(workflow="rc-sum", limit=2, cursor=cursor)
        assert len(page.runs) <= 2
        seen += [r.run_id for r in page.runs]
        cursor = page.cursor
        if cursor is None:
            break
    assert seen == [f"sum-{i}" for i in reversed(range(5))]
    completed = await WorkflowClient("rc-sum").list_runs(status="completed", limit=10)
    assert {r.run_id for r in completed.runs} == {f"sum-{i}" for i in range(5)}
    assert all(r.output == 2 * int(r.run_id[-1]) for r in completed.runs)
    assert [r.run_id for r in (await pikku.list_runs(status="waiting")).runs] == ["nap"]  # asleep: waiting
    assert (await pikku.list_runs(status="running")).runs == []
    with pytest.raises(pikku.InvalidInputError):
        await pikku.list_runs(status="bogus")


async def test_get_steps_shows_forms_attempts_values_and_durations(rt: Runtime) -> None:
    """Each step: name, form, rpc, status, attempts with times, input, output and a duration."""
    handle = await WorkflowClient("rc-sum").start({"a": 2, "b": 3})
    await settle(rt, [handle.run_id])
    add_step, double = await pikku.get_steps(handle.run_id)
    assert (add_step.name, add_step.form, add_step.rpc_name, add_step.status) == ("add", "rpc", "rc.add", "done")
    assert add_step.input == {"a": 2, "b": 3} and add_step.output == 5
    assert len(add_step.attempts) == 1 and add_step.duration is not None and add_step.duration >= 0
    assert (double.name, double.form, double.output) == ("double", "inline", 10)
    with pytest.raises(pikku.RunNotFoundError):
        await pikku.get_steps("no-such-run")


async def test_cancel_ends_a_sleeping_run_at_once(rt: Runtime) -> None:
    """A run asleep for an hour is cancelled now; result() raises; a second cancel says it had settled."""
    handle = await WorkflowClient("rc-sleepy").start(None)
    await rt.engine.orchestrate(handle.run_id)
    assert await handle.cancel(reason="no longer needed") is True
    assert (await handle.get_run()).status == "cancelled"
    with pytest.raises(pikku.WorkflowCancelledError):
        await handle.result(timeout=1)
    assert await pikku.cancel_run(handle.run_id) is False
    await settle(rt, [handle.run_id])
    assert CALLS["after"] == 0
    with pytest.raises(pikku.RunNotFoundError):
        await pikku.cancel_run("no-such-run")


async def _until(predicate: Any, what: str) -> None:
    for _ in range(1000):
        if await predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("placement", ["another worker", "in the pass"])
async def test_a_step_running_when_its_run_is_cancelled_is_stored_but_starts_nothing(
    rt: Runtime, placement: str
) -> None:
    """Cancel while a step runs (on a step worker, or in the pass of a worker serving its queue): its
    late result is stored, the run stays cancelled, and the step after it never runs."""
    GATES["slow"] = asyncio.Event()
    handle = await WorkflowClient("rc-slow").start(None)
    orchestrator = "workflow-rc-slow-orchestrator"
    served = [[orchestrator], ["workflow-rc-slow-slow"]] if placement == "another worker" else [None]
    workers = [pikku.Worker(rt.engine, queues=q, poll_interval=0.01, recovery_interval=None) for q in served]
    tasks = [asyncio.ensure_future(w.run()) for w in workers]
    try:
        await _until(lambda: _true(CALLS["slow"] == 1), "the slow step to start")
        assert await handle.cancel() is True
        await asyncio.sleep(0.3)  # the step outlives the cancel
        GATES["slow"].set()
        await _until(lambda: _steps_done(handle.run_id, "slow"), "the late result")
        await asyncio.sleep(0.2)
    finally:
        for w in workers:
            w.stop()
        await asyncio.gather(*tasks)
    [slow_step] = await pikku.get_steps(handle.run_id)
    assert slow_step.status == "done" and slow_step.output == "late"
    assert (await handle.get_run()).status == "cancelled" and CALLS["next"] == 0


async def _true(value: bool) -> bool:
    return value


async def _steps_done(run_id: str, name: str) -> bool:
    return any(s.name == name and s.status == "done" for s in await pikku.get_steps(run_id))
