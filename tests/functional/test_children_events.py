"""Child workflows meeting events and suspends (the two features built side by side): a child that waits
for an event, driven inline or by workers, and a parent's status while its child waits."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel

import pikku
from pikku import wire_workflow
from pikku._runtime import Runtime
from pikku.testing import settle
from pikku.wiring import WorkflowClient


class Ok(BaseModel):
    """The event the child waits for."""

    by: str


async def approving_child(services: Any, data: None) -> str:
    got = await services.workflow.wait_for_event("ok", Ok)
    return f"approved by {got.by}"


async def inline_parent_of_waiter(services: Any, data: None) -> str:
    return str(await services.workflow.call_workflow("ask", "ce-approving-child", None))


async def remote_parent_of_waiter(services: Any, data: None) -> str:
    return str(await services.workflow.call_workflow("ask", "ce-approving-child-remote", None))


wire_workflow(name="ce-approving-child", func=approving_child, execution_mode="inline")
wire_workflow(name="ce-approving-child-remote", func=approving_child)
wire_workflow(name="ce-inline-parent", func=inline_parent_of_waiter, execution_mode="inline")
wire_workflow(name="ce-remote-parent", func=remote_parent_of_waiter)


async def test_an_inline_parent_whose_child_waits_for_an_event_returns_and_completes_after_the_send(
    rt: Runtime,
) -> None:
    """Starting an inline parent drives its child until the child waits for an event, then returns (no busy
    loop); both wait. The event completes the child, whose settle wakes the parent."""
    handle = await asyncio.wait_for(WorkflowClient("ce-inline-parent").start(None), timeout=20)
    child = f"{handle.run_id}/ask"
    assert (await pikku.get_run(child)).status == "waiting"
    assert (await pikku.get_run(child)).waiting_for == ("ok",)
    assert (await handle.get_run()).status == "waiting"
    assert await pikku.send_event(child, "ok", Ok(by="ada")) is True
    await settle(rt, [child, handle.run_id])
    assert await handle.result(timeout=1) == "approved by ada"


async def test_a_remote_parent_waits_while_its_child_waits_and_both_complete(rt: Runtime) -> None:
    """Under workers, a parent whose child waits for an event is ``waiting`` too (it holds nothing); the
    event finishes both."""
    handle = await WorkflowClient("ce-remote-parent").start(None)
    child = f"{handle.run_id}/ask"
    await _until(rt, lambda: _statuses([handle.run_id, child]), ["waiting", "waiting"])
    assert (await pikku.get_run(handle.run_id)).children == (child,)
    await pikku.send_event(child, "ok", {"by": "bob"})
    await settle(rt, [handle.run_id])
    assert await handle.result(timeout=1) == "approved by bob"


async def _statuses(ids: list[str]) -> list[str]:
    found = []
    for run_id in ids:
        try:
            found.append((await pikku.get_run(run_id)).status)
        except pikku.RunNotFoundError:  # the child is not started yet
            found.append("missing")
    return found


async def _until(rt: Runtime, read: Any, want: Any, timeout: float = 20.0) -> None:
    from pikku.worker import Worker

    worker = Worker(rt.engine, poll_interval=0.02, recovery_interval=None)
    task = asyncio.ensure_future(worker.run())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while (got := await read()) != want:
            assert loop.time() < deadline, f"still {got}, not {want}"
            await asyncio.sleep(0.02)
    finally:
        worker.stop()
        await task
