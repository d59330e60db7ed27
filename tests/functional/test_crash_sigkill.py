"""A sleeping run survives SIGKILL of its worker process: a new worker wakes it on time (SQLite, PostgreSQL,
Redis). The quick end-to-end check of crash recovery in the default suite, per backend that worker processes
share; the chaos suite (``-m soak``) kills workers in many more places."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PIKKU = Path(sys.executable).with_name("pikku")


def _worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(PIKKU), "worker", "--root", str(ROOT), "--lease", "2", "--concurrency", "4"],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


async def _open(url: str) -> Any:
    import pikku_gen.workflow.wirings  # noqa: F401  (registers the example's workflows)

    from pikku import open_runtime

    return await open_runtime(state_url=url)


async def _wait_for(predicate: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


WORKER_BACKENDS = [
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("redis", marks=pytest.mark.redis),
]


@pytest.fixture(params=WORKER_BACKENDS)
def worker_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A SQLite file, a PostgreSQL schema or a Redis prefix of this test."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db.sqlite3'}"
    url: str = request.getfixturevalue("pg_url" if request.param == "postgres" else "redis_url")
    return url


@pytest.mark.slow
def test_sleeping_run_survives_sigkill(tmp_path: Path, worker_url: str) -> None:
    """SIGKILL the worker while the onboarding run sleeps; a second worker completes it, no step repeats."""
    url = worker_url
    env = {**os.environ, "PIKKU_STATE_URL": url}
    log = tmp_path / "worker.log"

    async def scenario() -> None:
        rt = await _open(url)
        state = rt.engine.state
        first = _worker(env, log)
        try:
            run_id = await rt.engine.start("onboarding", {"email": "kill@example.eu"})

            async def sleeping() -> bool:
                steps = await state.get_steps(run_id)
                return any(s.form == "sleep" and s.status == "scheduled" for s in steps.values())

            await _wait_for(sleeping, 30)
            first.send_signal(signal.SIGKILL)
            first.wait(10)
            slept_at = time.time()
            second = _worker(env, log)
            try:

                async def settled() -> bool:
                    return (await state.get_run(run_id)).status in ("completed", "failed", "cancelled")

                await _wait_for(settled, 40)
            finally:
                second.send_signal(signal.SIGTERM)
                assert second.wait(20) == 0, log.read_text()
            run = await state.get_run(run_id)
            assert run.status == "completed", (run.error, log.read_text())
            steps = await state.get_steps(run_id)
            sleep = next(s for s in steps.values() if s.form == "sleep")
            assert sleep.wake_at is not None and sleep.updated_at >= sleep.wake_at  # not woken early
            assert time.time() >= slept_at  # sanity
            for name in ("createUser", "sendEmail"):
                assert steps[name].attempts == 1, name
        finally:
            if first.poll() is None:
                first.kill()
            await rt.close()

    asyncio.run(scenario())
