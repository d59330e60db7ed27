"""Helpers for testing workflows in your own test suite: an in-memory runtime and a worker that runs
until the runs you care about have settled.

    async def test_onboarding():
        async with memory_runtime() as rt:
            handle = await workflows.onboarding.start(OnboardingInput(email="a@b.c"))
            await settle(rt, [handle.run_id])
            assert (await handle.get_run()).status == "completed"
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

from pikku._engine.engine import Settings
from pikku._engine.history import replay_history
from pikku._errors import WorkflowTimeoutError
from pikku._records import SETTLED_RUN_STATUSES, RunRecord
from pikku._runtime import Runtime, open_runtime, set_runtime
from pikku._testenv import VirtualClock, WorkflowEnvironment
from pikku.worker import Worker

FAST = Settings(run_lock_lease=5.0, step_lease=5.0, lock_busy_delay=0.01, default_retries=0)


@contextlib.asynccontextmanager
async def memory_runtime(
    services: Any = None, settings: Settings | None = None, url: str = "memory://"
) -> AsyncIterator[Runtime]:
    """A runtime on ``url`` (in-memory by default) installed for this event loop, closed afterwards.

    Default settings suit tests: no retries unless a step asks for them, short leases.
    """
    runtime = await open_runtime(state_url=url, services=services, settings=settings or FAST)
    set_runtime(runtime)
    try:
        yield runtime
    finally:
        set_runtime(None)
        await runtime.close()


async def settle(
    runtime: Runtime, run_ids: Iterable[str], *, timeout: float = 30.0, concurrency: int = 10
) -> list[RunRecord]:
    """Run a worker until every run in ``run_ids`` is completed, failed or cancelled; return them."""
    ids = list(run_ids)
    worker = Worker(runtime.engine, concurrency=concurrency, poll_interval=0.02, lease=5.0)
    task = asyncio.ensure_future(worker.run())
    deadline = time.monotonic() + timeout
    try:
        while True:
            runs = [await runtime.engine.state.get_run(r) for r in ids]
            if all(r.status in SETTLED_RUN_STATUSES for r in runs):
                return runs
            if time.monotonic() > deadline or task.done():
                if task.done():
                    task.result()
                pending = [r.run_id for r in runs if r.status not in SETTLED_RUN_STATUSES]
                raise WorkflowTimeoutError(f"runs still running after {timeout}s: {pending}")
            await asyncio.sleep(0.01)
    finally:
        worker.stop()
        await task


async def replay(history: dict[str, Any] | str | Path, *, workflows: Any = None, services: Any = None) -> None:
    """Replay a run's history (``pikku runs export RUN_ID > history.json``) against the current code.

    Raises NonDeterminismError (run, step, recorded, current) when the code no longer matches what the
    run recorded: run it in CI over histories of runs in flight, before a deploy. ``history`` is the
    exported data, its JSON text, or the file's path. The workflows must be registered in this process:
    pass the generated ``workflows`` (importing it registers them) or import the wirings yourself.
    """
    await replay_history(_history_data(history), services=services)


async def redeploy(runtime: Runtime) -> None:
    """What a deploy does to runs in flight, in one test process: the workflows the engine kept alive
    between passes (kept runs) are dropped, so every run's next pass replays under the code loaded now.

    A real deploy restarts the workers, which drops them anyway; a test that changes a workflow's code
    under a running run (``patched``, non-determinism) calls this between the old code and the new.
    """
    await runtime.engine.close()


def _history_data(history: dict[str, Any] | str | Path) -> dict[str, Any]:
    if isinstance(history, Path):
        history = history.read_text(encoding="utf-8")  # a test fixture file: small, read once
    data: dict[str, Any] = json.loads(history) if isinstance(history, str) else history
    return data


__all__ = ["FAST", "VirtualClock", "WorkflowEnvironment", "memory_runtime", "redeploy", "replay", "settle"]
