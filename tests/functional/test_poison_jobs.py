"""Forged, malformed and endlessly failing queue jobs are dead-lettered, and never change a run."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import pikku
from pikku import pikku_func, wire_workflow
from pikku._runtime import Runtime
from pikku.wiring import WorkflowClient


@pikku_func(name="pj.echo")
async def echo(services: Any, data: str) -> str:
    return data


async def mixed_wf(services: Any, data: None) -> str:
    inline = await services.workflow.do("inline", lambda: "here")
    await services.workflow.sleep("1h", name="nap")
    return str(await services.workflow.do("remote", "pj.echo", inline))


wire_workflow(name="pj-mixed", func=mixed_wf)
QUEUE = "workflow-pj-mixed-remote"


async def _dead(rt: Runtime) -> list[Any]:
    return await rt.engine.queue.list_dead()


async def _handle_one(rt: Runtime, queue: str) -> Any:
    [job] = await rt.engine.queue.claim([queue], owner=rt.engine.owner, lease_s=30)
    return job, await rt.engine.handle_job(job)


async def test_a_forged_job_naming_an_inline_step_is_dead_lettered_and_the_run_untouched(rt: Runtime) -> None:
    """A step job for the run's inline step (on the right queue name for that step) never claims it."""
    handle = await WorkflowClient("pj-mixed").start(None)
    await rt.engine.orchestrate(handle.run_id)  # records the inline step, then sleeps
    before = await rt.engine.state.get_step(handle.run_id, "inline")
    forged = {"kind": "step", "run_id": handle.run_id, "workflow": "pj-mixed", "step": "inline", "rpc": "pj.echo"}
    await rt.engine.queue.enqueue("workflow-pj-mixed-inline", forged)
    _, disposition = await _handle_one(rt, "workflow-pj-mixed-inline")
    assert disposition == "acked"
    after = await rt.engine.state.get_step(handle.run_id, "inline")
    assert (after.status, after.attempts, after.result_json) == (before.status, before.attempts, before.result_json)
    [dead] = await _dead(rt)
    assert "inline step" in dead.reason and (await handle.get_run()).status == "waiting"  # still asleep


@pytest.mark.parametrize(
    ("queue", "payload", "reason"),
    [
        (QUEUE, {"kind": "step", "run_id": 7}, "run_id"),
        (QUEUE, {"kind": "teleport", "run_id": "r"}, "unknown job kind"),
        (
            QUEUE,
            {"kind": "step", "run_id": "r", "workflow": "pj-mixed", "step": "remote", "priority": "soon"},
            "priority",
        ),
        (
            "workflow-pj-mixed-orchestrator",
            {"kind": "step", "run_id": "r", "workflow": "pj-mixed", "step": "remote"},
            "its queue",
        ),
        (  # PostgreSQL text cannot hold NUL: without the check this looped until max_deliveries there
            "workflow-pj-mixed-orchestrator",
            {"kind": "orchestrate", "run_id": "r\x00", "workflow": "pj-mixed"},
            "control character",
        ),
        (QUEUE, {"kind": "step", "run_id": "r\x00", "workflow": "pj-mixed", "step": "remote"}, "control character"),
    ],
)
async def test_malformed_or_misrouted_jobs_are_dead_lettered_once(
    rt: Runtime, queue: str, payload: dict[str, Any], reason: str
) -> None:
    """A payload the engine never writes, or a job on a queue its step does not route to: dead, listed with
    the reason, never delivered again."""
    await rt.engine.queue.enqueue(queue, payload)
    _, disposition = await _handle_one(rt, queue)
    assert disposition == "acked"
    [dead] = await _dead(rt)
    assert reason in dead.reason and dead.payload == payload
    assert await rt.engine.queue.claim(None, owner="w", lease_s=30) == []


async def test_a_job_delivered_too_often_is_dead_lettered(rt: Runtime) -> None:
    """Past max_deliveries (a job whose worker dies every time) the job is dead, not retried forever."""
    rt.engine.settings.max_deliveries = 2
    await rt.engine.queue.enqueue(
        "workflow-pj-mixed-orchestrator", {"kind": "orchestrate", "run_id": "gone", "workflow": "pj-mixed"}
    )
    for _ in range(2):  # two deliveries whose worker "dies": the lease runs out
        await rt.engine.queue.claim(None, owner="doomed", lease_s=0.01)
        await asyncio.sleep(0.05)
    job, disposition = await _handle_one(rt, "workflow-pj-mixed-orchestrator")
    assert job.attempts == 3 and disposition == "acked"
    [dead] = await _dead(rt)
    assert "delivered 3 times" in dead.reason


async def test_a_dead_job_can_be_put_back_and_finishes_its_run(rt: Runtime) -> None:
    """retry_dead_job: an operator puts a dead hand-off back and the run goes on."""
    rt.engine.settings.max_deliveries = 0
    handle = await WorkflowClient("pj-mixed").start(None)
    job, _ = await _handle_one(rt, "workflow-pj-mixed-orchestrator")
    assert (await handle.get_run()).status == "running" and len(await _dead(rt)) == 1
    rt.engine.settings.max_deliveries = 25
    assert await pikku._control.retry_dead_job(job.id) is True
    assert await pikku._control.drop_dead_job(job.id) is False  # no longer dead
    again, _ = await _handle_one(rt, "workflow-pj-mixed-orchestrator")
    assert again.payload == job.payload and again.attempts == 1
    assert (await rt.engine.state.get_steps(handle.run_id))["inline"].status == "done"
