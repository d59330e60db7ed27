"""``pikku runs export`` + ``pikku.testing.replay``: CI catches a code change recorded runs would not survive."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import pikku
from pikku import pikku_func, wire_workflow
from pikku._runtime import Runtime
from pikku.testing import replay, settle
from pikku.wiring import WorkflowClient

CODE: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _reset() -> None:
    CODE.clear()


@pikku_func(name="rp.charge")
async def charge(services: Any, data: dict[str, int]) -> dict[str, int]:
    return {"paid": data["amount"]}


@pikku_func(name="rp.refund")
async def refund(services: Any, data: dict[str, int]) -> dict[str, int]:
    return {"paid": -data["amount"]}


async def checkout_wf(services: Any, data: dict[str, int]) -> int:
    wf, version = services.workflow, CODE.get("version", "v1")
    if version == "inserted":
        await wf.do("audit", lambda: "checked")
    rpc = "rp.refund" if version == "other-rpc" else "rp.charge"
    paid = await wf.do("charge", rpc, data)
    if version != "removed":
        await wf.do("receipt", lambda: f"receipt for {paid['paid']}")
    return int(paid["paid"])


wire_workflow(name="rp-checkout", func=checkout_wf)


async def _history(rt: Runtime) -> dict[str, Any]:
    handle = await WorkflowClient("rp-checkout").start({"amount": 7})
    await settle(rt, [handle.run_id])
    assert await handle.result(timeout=1) == 7
    return await pikku._control.export_run(handle.run_id)


async def test_an_unchanged_workflow_replays_its_history(rt: Runtime, tmp_path: Path) -> None:
    """The exported history replays cleanly against the code that made it, from data or from a file."""
    history = await _history(rt)
    await replay(history)
    path = tmp_path / "history.json"
    path.write_text(json.dumps(history))
    await replay(path)


@pytest.mark.parametrize(
    ("version", "step", "current"),
    [
        ("other-rpc", "charge", "rp.refund"),
        ("removed", "receipt", "nothing"),
        ("inserted", "audit", "inline"),
    ],
)
async def test_a_change_recorded_runs_would_not_survive_is_a_non_determinism_error(
    rt: Runtime, version: str, step: str, current: str
) -> None:
    """Another rpc at a recorded step, a recorded step removed, a step inserted ahead of recorded ones:
    each raises NonDeterminismError naming the run and the step."""
    history = await _history(rt)
    CODE["version"] = version
    with pytest.raises(pikku.NonDeterminismError) as err:
        await replay(history)
    assert err.value.run_id == history["run"]["run_id"] and err.value.step == step
    assert current in err.value.current


async def test_a_history_of_a_run_in_flight_replays_up_to_where_it_is(rt: Runtime) -> None:
    """A run that has not finished replays as far as its history goes."""
    handle = await WorkflowClient("rp-checkout").start({"amount": 3})
    await rt.engine.orchestrate(handle.run_id)  # dispatches "charge" and pauses
    await replay(await pikku._control.export_run(handle.run_id))


async def test_something_else_than_a_history_is_refused_clearly(rt: Runtime) -> None:
    """A document that is not an exported history is a coded error, not a KeyError."""
    with pytest.raises(pikku.CorruptStateError):
        await replay({"run": {}})
