"""Child workflows on every backend: ``workflow.call_workflow`` waits for a child run's output (durably,
holding no worker), ``workflow.start_workflow`` starts one and goes on; failures, cancels and recovery."""

from __future__ import annotations

import asyncio
import collections
from typing import Any

import pytest
from pydantic import BaseModel

import pikku
from pikku import pikku_func, wire_workflow
from pikku._control import get_run
from pikku._engine.context import WorkflowContext
from pikku._engine.recovery import recover
from pikku._registry import get_workflow
from pikku._runtime import Runtime
from pikku.testing import settle
from pikku.wiring import WorkflowClient

CALLS: collections.Counter[str] = collections.Counter()


@pytest.fixture(autouse=True)
def _reset() -> None:
    CALLS.clear()
    FLAKY["broken"] = True


class Box(BaseModel):
    """What the provisioning child returns."""

    host: str
    size: int


@pikku_func(name="ch.make")
async def make(services: Any, data: dict[str, Any]) -> dict[str, Any]:
    CALLS["make"] += 1
    return {"host": f"{data['name']}.example", "size": data["size"]}


@pikku_func(name="ch.explode")
async def explode(services: Any, data: None) -> None:
    CALLS["explode"] += 1
    raise pikku.InvalidInputError("the disk size is not allowed", hint="pick 1 to 8")


async def provision(services: Any, data: dict[str, Any]) -> Box:
    made = await services.workflow.do("make", "ch.make", data)
    return Box(**made)


async def broken(services: Any, data: None) -> None:
    await services.workflow.do("explode", "ch.explode")


async def napper(services: Any, data: None) -> str:
    await services.workflow.sleep("1h", name="nap")
    CALLS["napper woke"] += 1
    return "rested"


async def parent(services: Any, data: dict[str, Any]) -> dict[str, Any]:
    box = await services.workflow.call_workflow("provision", "ch-provision", data, description="a box")
    CALLS["parent after child"] += 1
    return {"host": box.host, "size": box.size}


async def catching_parent(services: Any, data: None) -> dict[str, Any]:
    try:
        await services.workflow.call_workflow("try", "ch-broken", None)
    except pikku.ChildWorkflowCancelledError as err:
        return {"cancelled": err.child_run_id}
    except pikku.ChildWorkflowFailedError as err:
        return {"code": err.child_code, "message": err.child_message, "child": err.child_run_id}
    return {}


async def uncaught_parent(services: Any, data: None) -> None:
    await services.workflow.call_workflow("try", "ch-broken", None)


async def waiting_on_napper(services: Any, data: None) -> str:
    try:
        return str(await services.workflow.call_workflow("nap", "ch-napper", None))
    except pikku.ChildWorkflowCancelledError as err:
        return f"cancelled: {err.child_message}"


async def grandparent(services: Any, data: None) -> str:
    return str(await services.workflow.call_workflow("middle", "ch-sleeping-middle", None))


async def sleeping_middle(services: Any, data: None) -> str:
    return str(await services.workflow.call_workflow("leaf", "ch-napper", None))


async def kickoff(services: Any, data: dict[str, Any]) -> str:
    handle = await services.workflow.start_workflow("kickoff", "ch-provision", data)
    CALLS["kickoff returned"] += 1
    return str(handle.run_id)


async def unknown_child(services: Any, data: None) -> None:
    await services.workflow.call_workflow("x", "ch-no-such-workflow", None)


async def inline_child(services: Any, data: int) -> int:
    await services.workflow.sleep("10ms", name="short")
    return int(await services.workflow.do("double", lambda: data * 2))


async def inline_parent(services: Any, data: int) -> int:
    first = await services.workflow.call_workflow("a", "ch-inline-child", data)
    second = await services.workflow.call_workflow("b", "ch-inline-child", first)
    return int(first + second)


FLAKY = {"broken": True}


@pikku_func(name="ch.flaky")
async def flaky(services: Any, data: None) -> str:
    CALLS["flaky"] += 1
    if FLAKY["broken"]:
        raise RuntimeError("a bug, fixed by the next deploy")
    return "fixed"


async def flaky_child(services: Any, data: None) -> str:
    return str(await services.workflow.do("flaky", "ch.flaky", retries=0))


async def flaky_parent(services: Any, data: None) -> str:
    return "parent got " + str(await services.workflow.call_workflow("kid", "ch-flaky-child", None))


async def sleepy_parent(services: Any, data: None) -> str:
    return "parent got " + str(await services.workflow.call_workflow("kid", "ch-napper", None))


wire_workflow(name="ch-flaky-child", func=flaky_child)
wire_workflow(name="ch-flaky-parent", func=flaky_parent)
wire_workflow(name="ch-sleepy-parent", func=sleepy_parent)
wire_workflow(name="ch-sleepy-parent-inline", func=sleepy_parent, execution_mode="inline")
wire_workflow(name="ch-provision", func=provision)
wire_workflow(name="ch-broken", func=broken)
wire_workflow(name="ch-napper", func=napper)
wire_workflow(name="ch-parent", func=parent)
wire_workflow(name="ch-catching", func=catching_parent)
wire_workflow(name="ch-uncaught", func=uncaught_parent)
wire_workflow(name="ch-waits-napper", func=waiting_on_napper)
wire_workflow(name="ch-grandparent", func=grandparent)
wire_workflow(name="ch-sleeping-middle", func=sleeping_middle)
wire_workflow(name="ch-kickoff", func=kickoff)
wire_workflow(name="ch-unknown", func=unknown_child)
wire_workflow(name="ch-inline-child", func=inline_child, execution_mode="inline")
wire_workflow(name="ch-inline-parent", func=inline_parent, execution_mode="inline")


async def _start(workflow: str, data: Any = None) -> str:
    return (await WorkflowClient(workflow).start(data)).run_id


async def _drain(rt: Runtime) -> None:
    """Take every job due now off the queues (as if a worker had done them)."""
    for job in await rt.engine.queue.claim(None, owner="drain", lease_s=30, limit=100):
        await rt.engine.queue.ack(job)


async def _until(predicate: Any, what: str) -> None:
    for _ in range(2000):
        if await predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def test_call_workflow_returns_the_childs_output_as_its_model(rt: Runtime) -> None:
    """The child runs as ``<parent>/<step>`` with its parent recorded; the parent gets the child's output
    decoded as the child's output model; get_run and get_steps show the relation."""
    run_id = await _start("ch-parent", {"name": "db", "size": 4})
    [done] = await settle(rt, [run_id])
    assert done.status == "completed" and done.output_json is not None
    assert (await WorkflowClient("ch-parent").get_run(run_id)).output == {"host": "db.example", "size": 4}
    child = await get_run(f"{run_id}/provision")
    assert (child.status, child.parent_run_id, child.workflow) == ("completed", run_id, "ch-provision")
    shown = await get_run(run_id)
    assert shown.children == (f"{run_id}/provision",) and shown.parent_run_id is None
    [step] = await pikku.get_steps(run_id)
    assert (step.name, step.form, step.rpc_name, step.status) == ("provision", "child", "ch-provision", "done")
    assert step.input == {"name": "db", "size": 4} and step.output == {"host": "db.example", "size": 4}
    assert CALLS["make"] == 1 and CALLS["parent after child"] == 1


async def test_a_waiting_parent_holds_no_job_and_no_lock(rt: Runtime) -> None:
    """While its child sleeps, the parent has no job on any queue and its run lock is free: another owner
    takes it at once."""
    run_id = await _start("ch-waits-napper")
    await _drain(rt)  # the start's job: this test drives the passes itself
    await rt.engine.orchestrate(run_id)  # the parent's pass: starts the child, pauses
    child = f"{run_id}/nap"
    await rt.engine.orchestrate(child)  # the child's pass: asleep for an hour
    assert await rt.engine.queue.count("workflow-ch-waits-napper-orchestrator") == 0
    _, steps = await rt.engine.state.lock_run(run_id, "someone-else", 5)
    assert steps is not None and steps["nap"].status == "scheduled"
    await rt.engine.state.release_run_lock(run_id, "someone-else")


async def test_a_child_that_fails_raises_in_the_parent_where_it_can_be_caught(rt: Runtime) -> None:
    """ChildWorkflowFailedError carries the child's error code and message; a parent that catches it
    completes with them."""
    run_id = await _start("ch-catching")
    [done] = await settle(rt, [run_id])
    output = (await WorkflowClient("ch-catching").get_run(run_id)).output
    assert done.status == "completed" and output is not None
    assert output["code"] == "PIKKU_INVALID_INPUT" and "the disk size is not allowed" in output["message"]
    assert output["child"] == f"{run_id}/try"
    [step] = await pikku.get_steps(run_id)
    assert (step.status, step.error.code) == ("failed", "PIKKU_INVALID_INPUT")


async def test_an_uncaught_child_failure_fails_the_parent(rt: Runtime) -> None:
    """Not caught, the child's failure fails the parent with PIKKU_CHILD_WORKFLOW_FAILED, naming the child."""
    run_id = await _start("ch-uncaught")
    [done] = await settle(rt, [run_id])
    assert done.status == "failed" and done.error is not None
    assert done.error.code == "PIKKU_CHILD_WORKFLOW_FAILED" and f"{run_id}/try" in done.error.message
    with pytest.raises(pikku.WorkflowFailedError):
        await WorkflowClient("ch-uncaught").handle(run_id).result(timeout=1)


async def test_a_cancelled_child_raises_child_cancelled_in_the_parent(rt: Runtime) -> None:
    """A child cancelled on its own: the parent's call raises ChildWorkflowCancelledError with the reason."""
    run_id = await _start("ch-waits-napper")
    await rt.engine.orchestrate(run_id)
    child = f"{run_id}/nap"
    await rt.engine.orchestrate(child)
    assert await pikku.cancel_run(child, reason="not needed any more") is True
    [done] = await settle(rt, [run_id])
    output = (await WorkflowClient("ch-waits-napper").get_run(run_id)).output
    assert done.status == "completed" and output == f"cancelled: child run {child!r} was cancelled: not needed any more"
    assert CALLS["napper woke"] == 0


async def test_cancelling_a_parent_cancels_its_sleeping_descendants_and_resume_brings_them_back(
    rt: Runtime,
) -> None:
    """A parent cancelled while its child's child sleeps: all three end cancelled (the descendants with
    the cascade's reason); resuming the parent resumes them, and the whole tree then completes."""
    run_id = await _start("ch-grandparent")
    middle, leaf = f"{run_id}/middle", f"{run_id}/middle/leaf"
    for rid in (run_id, middle, leaf):
        await rt.engine.orchestrate(rid)
    assert (await rt.engine.state.get_run(leaf)).status == "waiting"  # asleep: nothing to do but wait
    assert await WorkflowClient("ch-grandparent").handle(run_id).cancel(reason="customer left") is True
    runs = {rid: await rt.engine.state.get_run(rid) for rid in (run_id, middle, leaf)}
    assert {r.status for r in runs.values()} == {"cancelled"}
    assert runs[run_id].cancel_reason == "customer left"
    assert runs[middle].cancel_reason == f"parent run {run_id!r} was cancelled"
    assert runs[leaf].cancel_reason == f"parent run {middle!r} was cancelled"
    await settle(rt, [run_id])  # nothing moves: every run of the tree is settled
    assert CALLS["napper woke"] == 0
    assert await pikku.resume_run(run_id) is True
    assert {(await rt.engine.state.get_run(r)).status for r in (run_id, middle, leaf)} == {"running"}
    await rt.engine.state.complete_run(leaf, '"rested early"')  # the leaf's hour, cut short
    await rt.engine.children.wake_parent(await rt.engine.state.get_run(leaf))
    [done] = await settle(rt, [run_id])
    assert done.status == "completed" and done.output_json == '"rested early"'


async def test_a_child_created_after_its_parent_was_cancelled_cancels_itself(rt: Runtime) -> None:
    """A cascade that missed a child (a racing pass created it after the cancel listed the children): the
    child's own first pass finds its parent cancelled and ends cancelled."""
    run_id = await _start("ch-waits-napper")
    await rt.engine.orchestrate(run_id)
    child = f"{run_id}/nap"
    await rt.engine.state.cancel_run(run_id, "operator")  # the store alone: no cascade
    assert (await rt.engine.orchestrate(child)).kind == "cancelled"
    got = await rt.engine.state.get_run(child)
    assert (got.status, got.cancel_reason) == ("cancelled", f"parent run {run_id!r} was cancelled")


async def test_start_workflow_returns_a_handle_and_does_not_wait(rt: Runtime) -> None:
    """The parent completes with the child's run id; the child runs once, to completion, on its own."""
    run_id = await _start("ch-kickoff", {"name": "web", "size": 1})
    child = f"{run_id}/kickoff"
    await settle(rt, [run_id])
    await settle(rt, [child])
    assert (await WorkflowClient("ch-kickoff").get_run(run_id)).output == child
    done = await WorkflowClient("ch-provision").get_run(child)
    assert done.output == {"host": "web.example", "size": 1} and done.parent_run_id == run_id
    [step] = await pikku.get_steps(run_id)
    assert (step.form, step.status, step.output) == ("child", "done", child)
    assert CALLS["make"] == 1


async def test_replays_and_repeated_passes_start_the_child_once(rt: Runtime) -> None:
    """Ten extra passes of a parent that waits for its child start no second child and run no step twice."""
    run_id = await _start("ch-parent", {"name": "x", "size": 2})
    for _ in range(10):
        await rt.engine.orchestrate(run_id)
    assert [c.run_id for c in await rt.engine.state.list_children(run_id)] == [f"{run_id}/provision"]
    await settle(rt, [run_id])
    assert CALLS["make"] == 1 and CALLS["parent after child"] == 1


async def test_a_wake_lost_after_the_childs_settle_is_made_up_by_recovery(rt: Runtime) -> None:
    """The child settles but its wake never reaches the parent (a crash in between): the recovery sweep
    finds the settled child and gives the parent its pass."""
    run_id = await _start("ch-waits-napper")
    await rt.engine.orchestrate(run_id)
    child = f"{run_id}/nap"
    await rt.engine.state.complete_run(child, '"rested"')  # settled with no wake: as if the worker died here
    await _drain(rt)  # whatever jobs are left (the child's) are gone too
    assert await recover(rt.engine, stale_after=0.0) >= 1
    [done] = await settle(rt, [run_id])
    assert done.status == "completed" and done.output_json == '"rested"'


async def test_recovery_leaves_a_parent_alone_while_its_child_runs(rt: Runtime) -> None:
    """A parent waiting for a child that is still running is not stuck: the sweep enqueues nothing for it."""
    run_id = await _start("ch-waits-napper")
    await rt.engine.orchestrate(run_id)
    await rt.engine.orchestrate(f"{run_id}/nap")
    await _drain(rt)
    await recover(rt.engine, stale_after=0.0)
    assert await rt.engine.queue.count("workflow-ch-waits-napper-orchestrator") == 0


async def test_an_unknown_child_workflow_fails_the_parent(rt: Runtime) -> None:
    """A child workflow that is not wired fails the parent (PIKKU_WORKFLOW_NOT_FOUND), creating nothing."""
    run_id = await _start("ch-unknown")
    [done] = await settle(rt, [run_id])
    assert done.status == "failed" and done.error is not None and done.error.code == "PIKKU_WORKFLOW_NOT_FOUND"
    assert await rt.engine.state.list_children(run_id) == []


async def test_an_inline_parent_drives_its_inline_children_without_a_worker(rt: Runtime) -> None:
    """With no worker at all, starting an inline parent runs it and its inline children to the end."""
    handle = await WorkflowClient("ch-inline-parent").start(3)
    assert await handle.result(timeout=5) == 6 + 12
    kids = await rt.engine.state.list_children(handle.run_id)
    expected = [(f"{handle.run_id}/{step}", "completed") for step in ("a", "b")]
    assert [(k.run_id, k.status) for k in kids] == expected


async def test_a_changed_child_workflow_is_a_non_determinism_error(rt: Runtime) -> None:
    """A recorded child step replayed as a call of another workflow fails the run with PIKKU_NON_DETERMINISM."""
    run_id = await _start("ch-waits-napper")
    await rt.engine.orchestrate(run_id)
    step = (await rt.engine.state.get_steps(run_id))["nap"]
    assert (step.form, step.rpc_name) == ("child", "ch-napper")

    def context() -> WorkflowContext:
        return WorkflowContext(rt.engine.step_host(), get_workflow("ch-waits-napper"), run, dict(steps))

    run, steps = await rt.engine.state.get_run(run_id), await rt.engine.state.get_steps(run_id)
    with pytest.raises(pikku.NonDeterminismError) as err:
        await context().call_workflow("nap", "ch-provision", {"name": "n", "size": 1})
    assert "ch-napper" in str(err.value) and "ch-provision" in str(err.value)
    with pytest.raises(pikku.NonDeterminismError):
        await context().start_workflow("nap", "ch-napper")


async def test_fork_and_cancel_record_where_a_run_came_from_and_why_it_ended(rt: Runtime) -> None:
    """fork_run records forked_from; cancel(reason=) records cancel_reason; both show in get_run and in the
    typed client's run."""
    run_id = await _start("ch-parent", {"name": "f", "size": 1})
    await settle(rt, [run_id])
    forked = await pikku.fork_run(run_id, from_step="provision")
    assert (await get_run(forked)).forked_from == run_id
    assert (await WorkflowClient("ch-parent").get_run(forked)).forked_from == run_id
    sleeper = await _start("ch-napper")
    await pikku.cancel_run(sleeper, reason="duplicate")
    assert (await WorkflowClient("ch-napper").get_run(sleeper)).cancel_reason == "duplicate"
    assert (await get_run(sleeper)).cancel_reason == "duplicate"


async def test_resuming_a_parent_whose_child_failed_resumes_the_child(rt: Runtime) -> None:
    """The child fails, and so does the parent. After the fix, resuming the parent resumes the child
    (its failed step runs again), and the parent completes with the child's output."""
    run_id = await _start("ch-flaky-parent")
    [failed] = await settle(rt, [run_id])
    assert failed.status == "failed" and failed.error is not None
    assert failed.error.code == "PIKKU_CHILD_WORKFLOW_FAILED"
    FLAKY["broken"] = False
    assert await pikku.resume_run(run_id) is True
    [done] = await settle(rt, [run_id])
    assert done.status == "completed" and done.output_json == '"parent got fixed"'
    child = await rt.engine.state.get_run(f"{run_id}/kid")
    assert (child.status, child.resumes, CALLS["flaky"]) == ("completed", 1, 2)


async def test_a_history_with_child_steps_replays_against_the_code(rt: Runtime) -> None:
    """pikku runs export of a parent with a settled child step replays cleanly (the child's output comes
    from the parent's own record); a history that ends while the child runs replays as far as it goes."""
    from pikku._control import export_run
    from pikku.testing import replay

    run_id = await _start("ch-parent", {"name": "h", "size": 3})
    await settle(rt, [run_id])
    await replay(await export_run(run_id))
    waiting = await _start("ch-waits-napper")
    await rt.engine.orchestrate(waiting)
    await replay(await export_run(waiting))


@pytest.mark.parametrize("workflow", ["ch-sleepy-parent", "ch-sleepy-parent-inline"])
async def test_time_skips_while_a_child_sleeps_in_the_test_environment(workflow: str) -> None:
    """In WorkflowEnvironment a parent (remote, or inline and driving its child) waiting for a child that
    sleeps an hour completes at once: the environment skips the child's timer."""
    from pikku.testing import WorkflowEnvironment

    async with WorkflowEnvironment() as env:
        client: WorkflowClient[Any, str] = WorkflowClient(workflow)
        if workflow.endswith("inline"):
            handle = await env.run(client.start(None), timeout=20)
        else:
            handle = await client.start(None)
        assert await env.result(handle, timeout=20) == "parent got rested"
