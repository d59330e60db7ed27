"""Proof at scale: 4 worker processes on one shared backend drain 400 runs, every step body exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

PROJECT = Path(__file__).parent / "project"
PIKKU = Path(sys.executable).with_name("pikku")
RUNS = int(os.environ.get("PIKKU_SCALE_RUNS", "200"))
WORKERS = 4


def _prebuild() -> None:
    subprocess.run([str(PIKKU), "prebuild", "--root", str(PROJECT)], check=True, capture_output=True)


def _ledger(dsn: str, schema: str) -> str:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        conn.execute(
            f'CREATE TABLE "{schema}".scale_calls (run_id text, step text, invocation_id text, '
            "at timestamptz DEFAULT clock_timestamp())"
        )
    return f"{dsn}?options=-csearch_path%3D{schema}"


def _expected_total(offset: int) -> int:
    return sum((i + offset) ** 2 for i in range(10))


async def _start_all(url: str) -> tuple[Any, list[str], list[str]]:
    sys.path[:0] = [str(PROJECT), str(PROJECT / ".pikku")]
    import scale_gen.workflow.wirings  # noqa: F401

    from pikku import open_runtime

    rt = await open_runtime(state_url=url)
    emails = [f"user{i}@x.{'eu' if i % 2 else 'com'}" for i in range(RUNS)]
    onboard = [await rt.engine.start("scale-onboarding", {"email": email}) for email in emails]
    ten = [await rt.engine.start("scale-tenstep", {"offset": i}) for i in range(RUNS)]
    return rt, onboard, ten


async def _wait_settled(rt: Any, ids: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        running = await rt.engine.state.list_runs(status="running", limit=1)
        running = running or await rt.engine.state.list_runs(status="waiting", limit=1)
        if not running:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"runs still running after {timeout}s, e.g. {running[0].run_id}")
        await asyncio.sleep(0.5)


def _scenario(url: str, ledger_dsn: str, tmp_path: Path) -> None:
    _prebuild()
    env = {**os.environ, "PIKKU_STATE_URL": url, "SCALE_LEDGER_DSN": ledger_dsn}
    logs = [tmp_path / f"worker{i}.log" for i in range(WORKERS)]

    async def run() -> None:
        rt, onboard, ten = await _start_all(url)
        procs = [
            subprocess.Popen(  # noqa: ASYNC220 - starts worker processes and returns at once
                [str(PIKKU), "worker", "--root", str(PROJECT), "--concurrency", "8"],
                env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
            )
            for log in logs
        ]
        try:
            await _wait_settled(rt, onboard + ten, timeout=240)
            for i, run_id in enumerate(onboard):
                run = await rt.engine.state.get_run(run_id)
                assert run.status == "completed", run.error
                assert run.output_json == (
                    f'{{"user_id":"u-user{i}@x.{"eu" if i % 2 else "com"}","tax_rate":{0.2 if i % 2 else 0.08}}}'
                )
            for i, run_id in enumerate(ten):
                run = await rt.engine.state.get_run(run_id)
                assert run.status == "completed", run.error
                assert run.output_json == str(_expected_total(i))
            # Every worker stops cleanly and leaves nothing behind.
            for p in procs:
                p.send_signal(signal.SIGTERM)
            for p, log in zip(procs, logs, strict=True):
                assert p.wait(30) == 0, log.read_text()
            assert await rt.engine.queue.count() == 0
            for run_id in onboard[:5] + ten[:5]:
                assert await rt.engine.state.acquire_run_lock(run_id, "checker", 1), "a run was left locked"
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
            await rt.close()
        with psycopg.connect(ledger_dsn) as conn:
            total = conn.execute("SELECT count(*) FROM scale_calls").fetchone()
            dupes = conn.execute(
                "SELECT run_id, step, count(*) FROM scale_calls GROUP BY 1, 2 HAVING count(*) > 1"
            ).fetchall()
        assert dupes == []
        assert total == (RUNS * 2 + RUNS * 10,)

    asyncio.run(run())


@pytest.mark.slow
@pytest.mark.soak
@pytest.mark.postgres
def test_four_workers_on_postgres(pg_url: str, tmp_path: Path) -> None:
    """4 worker processes on PostgreSQL: 200 onboarding + 200 ten-step runs complete, each body once."""
    schema = pg_url.split("schema=")[1]
    _scenario(pg_url, _ledger(pg_url.split("?", maxsplit=1)[0], schema), tmp_path)


@pytest.mark.slow
@pytest.mark.soak
@pytest.mark.redis
def test_four_workers_on_redis(redis_url: str, pg_url: str, tmp_path: Path) -> None:
    """The same on Redis (state and queues); the ledger table lives in PostgreSQL."""
    schema = pg_url.split("schema=")[1]
    _scenario(redis_url, _ledger(pg_url.split("?", maxsplit=1)[0], schema), tmp_path)
