"""Changing workflow code under runs in flight, deliberately: ``workflow.patched`` and ``deprecate_patch``."""

from __future__ import annotations

import collections
import logging
from typing import Any

import pytest

from pikku import wire_workflow
from pikku._runtime import Runtime
from pikku.testing import redeploy, settle
from pikku.wiring import WorkflowClient

CALLS: collections.Counter[str] = collections.Counter()
CODE: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _reset() -> None:
    CALLS.clear()
    CODE.clear()


async def order_wf(services: Any, data: None) -> list[str]:
    wf, path = services.workflow, []
    version = CODE.get("version", "v1")
    if version == "v2-early" and wf.patched("fraud-check"):
        await wf.do("fraud-check", lambda: CALLS.update(["fraud"]))
        path.append("fraud")
    await wf.do("reserve", lambda: CALLS.update(["reserve"]))
    await wf.sleep(0.2, name="settle-time")
    if version == "v2-late" and wf.patched("receipt"):
        await wf.do("receipt", lambda: CALLS.update(["receipt"]))
        path.append("receipt")
    if version == "v3":
        wf.deprecate_patch("fraud-check")
    await wf.do("ship", lambda: CALLS.update(["ship"]))
    return [*path, "ship"]


wire_workflow(name="v-order", func=order_wf)


async def _first_pass(rt: Runtime) -> str:
    handle = await WorkflowClient("v-order").start(None)
    await rt.engine.orchestrate(handle.run_id)  # "reserve" and the sleep recorded, then it pauses
    return handle.run_id


async def test_a_new_run_takes_the_patch_and_records_a_marker(rt: Runtime) -> None:
    """A run that starts on the patched code takes the new branch; a marker step says so on replay."""
    CODE["version"] = "v2-early"
    handle = await WorkflowClient("v-order").start(None)
    await settle(rt, [handle.run_id])
    assert await handle.result(timeout=1) == ["fraud", "ship"]
    steps = await rt.engine.state.get_steps(handle.run_id)
    assert steps["patch:fraud-check"].form == "marker" and steps["patch:fraud-check"].status == "done"
    assert CALLS["fraud"] == 1


async def test_a_run_past_the_patch_point_keeps_the_old_branch_without_a_warning(
    rt: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    """A run that passed the point before the patch existed says False there, forever, and logs nothing."""
    run_id = await _first_pass(rt)
    await redeploy(rt)
    CODE["version"] = "v2-early"
    with caplog.at_level(logging.WARNING, logger="pikku.engine"):
        await settle(rt, [run_id])
    assert await WorkflowClient("v-order").handle(run_id).result(timeout=1) == ["ship"]
    assert CALLS["fraud"] == 0 and "patch:fraud-check" not in await rt.engine.state.get_steps(run_id)
    assert not [r for r in caplog.records if "inserted" in r.getMessage()]


async def test_a_run_not_yet_at_the_patch_point_takes_the_patch(rt: Runtime) -> None:
    """An old run that had not reached the patched point yet (asleep before it) takes the new branch."""
    run_id = await _first_pass(rt)
    await redeploy(rt)
    CODE["version"] = "v2-late"
    await settle(rt, [run_id])
    assert await WorkflowClient("v-order").handle(run_id).result(timeout=1) == ["receipt", "ship"]
    assert CALLS["receipt"] == 1


async def test_deprecate_patch_accepts_runs_with_and_without_the_marker(rt: Runtime) -> None:
    """Once the old branch is deleted, runs that recorded the marker and runs that did not both finish."""
    CODE["version"] = "v2-early"
    patched = await WorkflowClient("v-order").start(None)
    await rt.engine.orchestrate(patched.run_id)
    await redeploy(rt)
    CODE["version"] = "v1"
    plain = await _first_pass(rt)
    await redeploy(rt)
    CODE["version"] = "v3"
    await settle(rt, [patched.run_id, plain])
    assert await patched.result(timeout=1) == ["ship"]
    assert await WorkflowClient("v-order").handle(plain).result(timeout=1) == ["ship"]
