"""wire_workflow(timeout=): a run that outlives its limit fails with PIKKU_RUN_TIMEOUT, on every backend,
whether it waits on a step nobody runs or awaits forever outside any step; and it never has more than one
replay waiting in the queue."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import pikku
from pikku import pikku_func, wire_workflow
from pikku._runtime import Runtime
from pikku.testing import settle
from pikku.wiring import WorkflowClient


@pikku_func(name="to.never")
async def never(services: Any, data: None) -> None:
    """A step whose queue no worker in these tests serves."""


async def stuck_on_step_wf(services: Any, data: None) -> None:
    await services.workflow.sleep(0.05, name="nap")
    await services.workflow.do("never", "to.never")


async def hangs_wf(services: Any, data: None) -> None:
    await services.workflow.do("first", lambda: 1)
    await asyncio.Event().wait()  # awaits forever outside any step


wire_workflow(name="to-stuck", func=stuck_on_step_wf, timeout=0.6)
wire_workflow(name="to-hangs", func=hangs_wf, timeout=0.4)
wire_workflow(name="to-hangs-inline", func=hangs_wf, timeout=0.4, execution_mode="inline")


async def _orchestrators_only(rt: Runtime, workflow: str, run_id: str) -> None:
    worker = pikku.Worker(
        rt.engine, queues=[f"workflow-{workflow}-orchestrator"], poll_interval=0.01, recovery_interval=None
    )
    task = asyncio.ensure_future(worker.run())
    try:
        for _ in range(3000):  # up to 30 s on a loaded box; a passing run takes under a second
            run = await rt.engine.state.get_run(run_id)
            if run.status in ("completed", "failed", "cancelled"):
                break
            # count() includes a claimed job: a replay in flight, and at most one waiting behind it (a job
            # keyed by the run absorbs later ones only while it waits, see JobQueue.enqueue).
            jobs = await rt.engine.queue.count(f"workflow-{workflow}-orchestrator")
            assert jobs <= 2, "a run never has more than one replay waiting besides the one in flight"
            await asyncio.sleep(0.01)
    finally:
        worker.stop()
        await task


async def test_a_run_waiting_on_a_step_fails_at_its_deadline(rt: Runtime) -> None:
    """Nobody runs the step: a replay comes at the deadline anyway and fails the run with the coded error."""
    handle = await WorkflowClient("to-stuck").start(None)
    await _orchestrators_only(rt, "to-stuck", handle.run_id)
    run = await handle.get_run()
    assert run.status == "failed" and run.error is not None
    assert run.error.code == "PIKKU_RUN_TIMEOUT" and "0.6s" in run.error.message


async def test_a_pass_that_awaits_forever_is_cancelled_at_the_deadline(rt: Runtime) -> None:
    """Workflow code awaiting forever outside any step: the pass is cancelled and the run fails."""
    handle = await WorkflowClient("to-hangs").start(None)
    await settle(rt, [handle.run_id], timeout=20)
    run = await handle.get_run()
    assert run.status == "failed" and run.error is not None and run.error.code == "PIKKU_RUN_TIMEOUT"
    assert (await rt.engine.state.get_steps(handle.run_id))["first"].status == "done"


async def test_an_inline_run_times_out_in_its_callers_process(rt: Runtime) -> None:
    """Inline mode: start() returns once the run failed at its deadline."""
    handle = await asyncio.wait_for(WorkflowClient("to-hangs-inline").start(None), 20)
    with pytest.raises(pikku.WorkflowFailedError) as err:
        await handle.result(timeout=1)
    assert err.value.error.code == "PIKKU_RUN_TIMEOUT"


def test_a_bad_timeout_is_refused_at_wiring() -> None:
    """A zero or negative timeout is a configuration error naming the workflow."""
    with pytest.raises(pikku.ConfigError, match="to-bad"):
        wire_workflow(name="to-bad", func=hangs_wf, timeout=0)
