"""Waiting runs across real worker processes (SQLite): a worker SIGKILLed while its run waits, then the
event sent, completes the run exactly once on the next worker; a wait's timeout that falls due while no
worker runs fires after the restart. The project is tests/functional/project (prebuilt here)."""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

PROJECT = Path(__file__).parent / "project"
PIKKU = Path(sys.executable).with_name("pikku")
SETTLED = ("completed", "failed", "cancelled")


@pytest.fixture(scope="module")
def prebuilt() -> None:
    """The project's generated package, importable here (its wirings register the events' models)."""
    subprocess.run([str(PIKKU), "prebuild", "--root", str(PROJECT)], check=True, capture_output=True)
    sys.path[:0] = [str(PROJECT), str(PROJECT / ".pikku")]


def _worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(PIKKU), "worker", "--root", str(PROJECT), "--lease", "2", "--concurrency", "4"],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


async def _until(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {timeout}s")
        await asyncio.sleep(0.05)


def _text(path: Path) -> str:
    """A worker log, for an assertion's message (small: read at once)."""
    return path.read_text(errors="replace")


def _ledger(path: Path) -> collections.Counter[str]:
    return collections.Counter(path.read_text().splitlines()) if path.exists() else collections.Counter()


def _scenario(tmp_path: Path, body: Callable[[Any, dict[str, str], Path, Path], Awaitable[None]]) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    ledger = tmp_path / "ledger.txt"
    env = {**os.environ, "PIKKU_STATE_URL": url, "EVAPP_LEDGER": str(ledger)}

    async def main() -> None:
        import evapp_gen.workflow.wirings  # noqa: F401  (registers the workflow and its event's model)

        from pikku import open_runtime

        rt = await open_runtime(state_url=url)
        try:
            await body(rt, env, ledger, tmp_path / "worker.log")
        finally:
            await rt.close()

    asyncio.run(main())


@pytest.mark.slow
def test_a_run_waiting_when_its_worker_is_killed_completes_once_after_the_event(prebuilt: None, tmp_path: Path) -> None:
    """SIGKILL the worker while the run waits for its approval (it holds no lock and no job); the event
    sent afterwards wakes it on a new worker, and every step body ran exactly once."""

    async def body(rt: Any, env: dict[str, str], ledger: Path, log: Path) -> None:
        state = rt.engine.state
        first = _worker(env, log)
        second: subprocess.Popen[bytes] | None = None
        try:
            run_id = await rt.engine.start("evapp-approval", {"name": "kill"})

            async def waiting() -> bool:
                return (await state.get_run(run_id)).status == "waiting"

            await _until(waiting, 30, "the run waits for its approval")
            first.send_signal(signal.SIGKILL)
            first.wait(10)
            assert await rt.engine.send_event(run_id, "approval", {"approved": True, "reviewer": "maria"})
            second = _worker(env, log)

            async def settled() -> bool:
                return (await state.get_run(run_id)).status in SETTLED

            await _until(settled, 40, "the run settles after the event")
            run = await state.get_run(run_id)
            assert (run.status, run.output_json) == ("completed", '"maria"'), (run.error, _text(log))
            assert _ledger(ledger) == {f"{run_id} prepare": 1, f"{run_id} finish maria": 1}
            steps = await state.get_steps(run_id)
            assert steps["prepare"].attempts == 1 and steps["event:approval"].result_json is not None
        finally:
            for proc in (first, second):
                if proc is not None and proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    assert proc.wait(20) == 0, _text(log)

    _scenario(tmp_path, body)


@pytest.mark.slow
def test_a_timeout_that_falls_due_while_no_worker_runs_fires_after_the_restart(prebuilt: None, tmp_path: Path) -> None:
    """The worker is killed while the run waits with a 3 s timeout; the timeout passes with no worker at
    all; the next worker's pass finds it due: the wait returns None (not early) and the run ends expired,
    each step once."""

    async def body(rt: Any, env: dict[str, str], ledger: Path, log: Path) -> None:
        state = rt.engine.state
        first = _worker(env, log)
        second: subprocess.Popen[bytes] | None = None
        try:
            run_id = await rt.engine.start("evapp-approval", {"name": "late", "timeout": 3})

            async def waiting() -> bool:
                return (await state.get_run(run_id)).status == "waiting"

            await _until(waiting, 30, "the run waits for its approval")
            first.send_signal(signal.SIGKILL)
            first.wait(10)
            wake_at = (await state.get_steps(run_id))["event:approval"].wake_at
            assert wake_at is not None
            await asyncio.sleep(max(0.0, wake_at - time.time()) + 0.5)  # due, and nobody to see it
            assert (await state.get_run(run_id)).status == "waiting"
            second = _worker(env, log)

            async def settled() -> bool:
                return (await state.get_run(run_id)).status in SETTLED

            await _until(settled, 40, "the run settles after the restart")
            run = await state.get_run(run_id)
            assert (run.status, run.output_json) == ("completed", '"expired"'), (run.error, _text(log))
            wait = (await state.get_steps(run_id))["event:approval"]
            assert wait.result_json == "null" and wait.updated_at >= wake_at
            assert _ledger(ledger) == {f"{run_id} prepare": 1, f"{run_id} finish expired": 1}
        finally:
            for proc in (first, second):
                if proc is not None and proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    assert proc.wait(20) == 0, _text(log)

    _scenario(tmp_path, body)
