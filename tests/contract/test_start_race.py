"""Idempotent start across processes: two (here four) starts with one ``run_id`` at once make exactly one run.

Each process opens its own runtime on the shared backend (SQLite file, PostgreSQL, Redis, file) and calls the
client's ``start(..., run_id=...)`` with its own input, lined up on a barrier so the creates race.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from pikku import wire_workflow
from pikku._runtime import open_runtime, set_runtime
from pikku.backends._contract import StateStore
from pikku.wiring import WorkflowClient


async def _echo(services: Any, data: dict[str, int]) -> dict[str, int]:
    return data


wire_workflow(name="start-race", func=_echo)


def _start_in_child(url: str, barrier: Any, out: Any) -> None:
    """Child process: wait for everyone, then start run ``order-42`` with this process's pid as input.
    Reports (created, pid)."""

    async def main() -> tuple[bool, int]:
        runtime = await open_runtime(state_url=url)
        set_runtime(runtime)
        try:
            barrier.wait(timeout=60)
            handle = await WorkflowClient("start-race").start({"pid": os.getpid()}, run_id="order-42")
            return handle.created, os.getpid()
        finally:
            set_runtime(None)
            await runtime.close()

    out.put(asyncio.run(main()))


async def test_starts_with_one_run_id_from_several_processes_make_one_run(
    state: StateStore, shared_url: str, race_processes: Any
) -> None:
    """Exactly one process creates the run (``created`` True); the others get a handle to it. One run
    exists, with the input of the start that created it."""
    results = race_processes(_start_in_child, shared_url)
    creators = [pid for created, pid in results if created]
    assert len(creators) == 1
    runs = await state.list_runs()
    assert [run.run_id for run in runs] == ["order-42"]
    assert json.loads(runs[0].input_json) == {"pid": creators[0]}
