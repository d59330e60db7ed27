"""NUL characters (``"\\x00"``) in what a workflow stores: kept faithfully on every backend.

Values are stored as JSON text, in which NUL is the escape ``\\u0000``, so PostgreSQL's text columns (not
``jsonb``, which refuses ``\\u0000``) and every other backend hold it as is, and a replay reads back the same
string. A NUL in a key (a run id looked up) cannot name anything pikku stored: a coded error, never a
driver's exception.
"""

from __future__ import annotations

from typing import Any

import pytest

import pikku
from pikku import PikkuError, pikku_func, wire_workflow
from pikku._runtime import Runtime
from pikku.testing import settle
from pikku.wiring import WorkflowClient

NUL = "\x00"


@pikku_func(name="nul.echo")
async def nul_echo(services: Any, data: str) -> str:
    return data + NUL + "rpc"


@pikku_func(name="nul.boom")
async def nul_boom(services: Any, data: str) -> str:
    raise ValueError("bad" + NUL + "thing")


async def nul_wf(services: Any, data: str) -> dict[str, Any]:
    remote = await services.workflow.do("echo", "nul.echo", data)
    inline = await services.workflow.do("inline", lambda: "in" + NUL + "line")
    try:
        await services.workflow.do("boom", "nul.boom", data, retries=0)
    except pikku.StepFailedError as exc:
        error = exc.error.message
    await services.workflow.sleep(0, name="nap")  # a second pass: the values above come back from the store
    return {"remote": remote, "inline": inline, "error": error, "key" + NUL: NUL}


wire_workflow(name="nul-wf", func=nul_wf)


async def test_nul_in_input_results_errors_and_output_round_trips(rt: Runtime) -> None:
    """Input, an rpc step's result, an inline step's result, a step's error message and the output (a key
    too) all hold NUL; the run completes and every one of them reads back unchanged after a replay."""
    handle = await WorkflowClient("nul-wf").start("a" + NUL + "b")
    [run] = await settle(rt, [handle.run_id], timeout=20)
    assert run.status == "completed", run.error
    assert await handle.result() == {
        "remote": "a" + NUL + "b" + NUL + "rpc",
        "inline": "in" + NUL + "line",
        "error": "bad" + NUL + "thing",
        "key" + NUL: NUL,
    }
    steps = await rt.engine.state.get_steps(handle.run_id)
    assert steps["echo"].data_json == '"a\\u0000b"'
    assert steps["boom"].error is not None and steps["boom"].error.message == "bad" + NUL + "thing"


async def test_a_nul_in_a_looked_up_run_id_is_a_coded_error(rt: Runtime) -> None:
    """get_steps and cancel_run of an id holding NUL: a coded error (no such run, or an id PostgreSQL
    cannot hold), not a driver exception."""
    for call in (pikku.get_steps, pikku.cancel_run):
        with pytest.raises(PikkuError) as caught:
            await call("run" + NUL)
        assert caught.value.code in ("PIKKU_RUN_NOT_FOUND", "PIKKU_INVALID_INPUT")
