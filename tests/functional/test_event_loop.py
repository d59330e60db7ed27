"""pikku on the loop its entry points choose: uvloop when installed (pikku[fast]), on every backend."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import pytest

from pikku import _loop, pikku_func, wire_workflow
from pikku._errors import ConfigError
from pikku._sync import run_sync
from pikku.testing import memory_runtime, settle


@pikku_func(name="loop.double")
async def double(services: Any, data: dict[str, int]) -> dict[str, int]:
    return {"n": data["n"] * 2}


async def _flow(services: Any, data: dict[str, int]) -> dict[str, Any]:
    first = await services.workflow.do("a", "loop.double", {"n": data["n"]})
    second = await services.workflow.do("b", "loop.double", first)
    await services.workflow.sleep("10ms")
    return {"n": second["n"], "loop": type(asyncio.get_running_loop()).__module__.split(".")[0]}


wire_workflow(name="loopRemote", func=_flow, execution_mode="remote")
wire_workflow(name="loopInline", func=_flow, execution_mode="inline")


def test_workflows_run_on_uvloop(backend_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Remote (through a worker) and inline runs finish on uvloop with every backend's driver."""
    pytest.importorskip("uvloop", reason="uvloop is not installed (pip install 'pikku[fast]')")
    monkeypatch.setenv(_loop.ENV, "uvloop")

    async def main() -> list[Any]:
        async with memory_runtime(url=backend_url) as rt:
            remote = await rt.engine.start("loopRemote", {"n": 3})
            inline = await rt.engine.start("loopInline", {"n": 5})
            runs = await settle(rt, [remote, inline], timeout=20)
            return [(run.status, run.output_json) for run in runs]

    results = _loop.run(main())
    assert [(status, json.loads(output)) for status, output in results] == [
        ("completed", {"n": 12, "loop": "uvloop"}),
        ("completed", {"n": 20, "loop": "uvloop"}),
    ]


def test_the_loop_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """PIKKU_EVENT_LOOP picks the loop; a bad value or a missing uvloop is a ConfigError that says what to do."""
    monkeypatch.setenv(_loop.ENV, "asyncio")
    assert _loop.loop_name() == "asyncio"
    assert _loop.run(_loop_module()) == "asyncio"
    monkeypatch.setenv(_loop.ENV, "tokio")
    with pytest.raises(ConfigError, match="PIKKU_EVENT_LOOP='tokio'"):
        _loop.loop_name()
    monkeypatch.setenv(_loop.ENV, "uvloop")
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as if not installed: importing it fails
    with pytest.raises(ConfigError, match="uvloop cannot be imported") as info:
        _loop.loop_name()
    assert "pikku[fast]" in (info.value.hint or "")
    monkeypatch.setenv(_loop.ENV, "auto")
    assert _loop.loop_name() == "asyncio"  # auto without uvloop: the standard loop


def test_the_sync_facade_runs_on_the_chosen_loop() -> None:
    expected = _loop.loop_name()
    assert run_sync(_loop_module()) == expected


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__.split(".")[0]
