"""Concurrent ticks from three real ``pikku worker`` processes on one backend (SQLite file, PostgreSQL): every
tick gets exactly one run, none is skipped, and the schedule's stored last tick is the last one run.

The schedule ticks every second (croniter's six-field form, seconds last), so a few seconds hold many
ticks that all three workers race for; each worker's own log shows it took part.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pikku._runtime import open_runtime

PIKKU = Path(sys.executable).with_name("pikku")
WORKERS = 3
TICKS = 8

FLOW = """
from pikku import wire_schedule, wire_workflow

async def tick(services, data: dict) -> str:
    return await services.workflow.do("note", lambda: data["note"])

wire_workflow(name="tick", func=tick)
wire_schedule(
    name="every-second", cron="* * * * * *", workflow="tick", input={"note": "hi"}, catchup="all", overlap="allow"
)
"""


def _project(root: Path) -> Path:
    root.mkdir()
    (root / "pyproject.toml").write_text('[tool.pikku]\nsource = ["app"]\n')
    (root / "app").mkdir()
    (root / "app/__init__.py").write_text("")
    (root / "app/flow.py").write_text(FLOW)
    subprocess.run([str(PIKKU), "prebuild"], cwd=root, check=True, capture_output=True, timeout=120)
    return root


def _tick_of(run_id: str) -> float:
    stamp = run_id.split("@", 1)[1]
    return dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC).timestamp()


async def _tick_runs(url: str, want: int, timeout: float) -> list[str]:
    """The schedule's tick run ids once at least ``want`` exist (AssertionError after ``timeout`` seconds)."""
    runtime = await open_runtime(state_url=url)
    try:
        deadline = time.monotonic() + timeout
        while True:
            runs = await runtime.engine.state.list_runs(workflow="tick", limit=500)
            ids = sorted(r.run_id for r in runs if r.run_id.startswith("every-second@"))
            if len(ids) >= want:
                return ids
            assert time.monotonic() < deadline, f"only {len(ids)} tick runs after {timeout}s"
            await asyncio.sleep(0.2)
    finally:
        await runtime.close()


async def _stored(url: str) -> tuple[float | None, list[str]]:
    runtime = await open_runtime(state_url=url)
    try:
        state = await runtime.engine.state.get_schedule("every-second")
        runs = await runtime.engine.state.list_runs(workflow="tick", limit=500)
        return state.last_tick, sorted(r.run_id for r in runs)
    finally:
        await runtime.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def shared_state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A SQLite file, or a PostgreSQL schema of this test."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ticks.sqlite3'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.mark.slow
@pytest.mark.soak
def test_three_workers_start_one_run_per_tick(tmp_path: Path, shared_state_url: str) -> None:
    """Three workers tick together for at least TICKS seconds, then stop: the tick runs are consecutive
    seconds with no gap, each created by exactly one of the workers (its log says so), and the stored last
    tick is the newest run's."""
    project = _project(tmp_path / "project")
    env = {**os.environ, "PIKKU_STATE_URL": shared_state_url}
    logs = [tmp_path / f"worker{i}.log" for i in range(WORKERS)]
    workers = [
        subprocess.Popen([str(PIKKU), "worker", "--concurrency", "4"], cwd=project, env=env, stderr=log.open("w"))
        for log in logs
    ]
    try:
        asyncio.run(_tick_runs(shared_state_url, TICKS, timeout=120))
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.wait(timeout=60)
    last_tick, run_ids = asyncio.run(_stored(shared_state_url))
    ticks = [_tick_of(run_id) for run_id in run_ids]
    assert len(ticks) >= TICKS and len(set(ticks)) == len(ticks)
    assert ticks == [ticks[0] + i for i in range(len(ticks))], f"a tick without a run: {run_ids}"
    assert last_tick == ticks[-1]
    texts = [log.read_text() for log in logs]
    assert all("1 schedule(s)" in text for text in texts), texts
    # Each tick's run was created by exactly one worker (the others' starts found it there).
    created = [
        line.rsplit(" started run ", 1)[1] for text in texts for line in text.splitlines() if " started run " in line
    ]
    assert sorted(created) == run_ids
