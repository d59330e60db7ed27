"""Child workflows at scale: 3 worker processes drain 50 parents with 4 children each, every step body once."""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

PROJECT = Path(__file__).parent / "project"
PIKKU = Path(sys.executable).with_name("pikku")
PARENTS = int(os.environ.get("PIKKU_CHILDREN_PARENTS", "50"))
WORKERS = 3


def _child_output(n: int, i: int) -> int:
    return 2 * (n * 10 + i)


def _parent_output(n: int) -> int:
    return sum(_child_output(n, i) for i in range(4)) * 10


async def _start(url: str) -> tuple[Any, list[str]]:
    sys.path[:0] = [str(PROJECT), str(PROJECT / ".pikku")]
    import kids_scale_gen.workflow.wirings  # noqa: F401

    from pikku import open_runtime

    rt = await open_runtime(state_url=url)
    return rt, [await rt.engine.start("kids-parent", {"n": n}) for n in range(PARENTS)]


async def _wait_settled(rt: Any, ids: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while active := [r for s in ("running", "waiting") for r in await rt.engine.state.list_runs(status=s, limit=3)]:
        if time.monotonic() > deadline:  # a parent waiting for its children is active too, not only running
            raise AssertionError(f"runs still active after {timeout}s, e.g. {[r.run_id for r in active]}")
        await asyncio.sleep(0.25)


async def _until_logged(log: Path, text: bytes) -> None:
    for _ in range(600):
        if text in await asyncio.to_thread(log.read_bytes):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{log.name} never logged {text!r}")


def _scenario(url: str, tmp_path: Path) -> None:
    subprocess.run([str(PIKKU), "prebuild", "--root", str(PROJECT)], check=True, capture_output=True)
    ledger = tmp_path / "ledger.txt"
    env = {**os.environ, "PIKKU_STATE_URL": url, "KIDS_LEDGER": str(ledger)}
    logs = [tmp_path / f"worker{i}.log" for i in range(WORKERS)]

    async def run() -> None:
        rt, parents = await _start(url)
        began = time.monotonic()
        procs = [
            subprocess.Popen(  # noqa: ASYNC220 - starts worker processes and returns at once
                [str(PIKKU), "worker", "--root", str(PROJECT), "--concurrency", "8"],
                env=env,
                stdout=log.open("wb"),
                stderr=subprocess.STDOUT,
            )
            for log in logs
        ]
        try:
            await _wait_settled(rt, parents, timeout=300)
            print(f"\n{PARENTS} parents x 4 children on {WORKERS} workers: {time.monotonic() - began:.1f}s")
            for n, run_id in enumerate(parents):
                run = await rt.engine.state.get_run(run_id)
                assert (run.status, run.output_json) == ("completed", str(_parent_output(n))), run.error
                children = await rt.engine.state.list_children(run_id)
                assert sorted(c.run_id for c in children) == [f"{run_id}/child-{i}" for i in range(4)]
                assert all(c.status == "completed" for c in children)
            for log in logs:  # every worker got as far as serving (its signal handlers are in place)
                await _until_logged(log, b"pikku worker")
            # A child's wake that arrived while its parent's last pass ran is a spare replay: a worker takes
            # it, finds the parent settled and acks it. Give the workers that moment before stopping them.
            for _ in range(200):
                if not await rt.engine.queue.count():
                    break
                await asyncio.sleep(0.05)
            for p in procs:
                p.send_signal(signal.SIGTERM)
            for p, log in zip(procs, logs, strict=True):
                assert p.wait(30) == 0, log.read_text()
            left = await rt.engine.queue.claim(None, owner="checker", lease_s=30, limit=100)
            assert await rt.engine.queue.count() == 0, [(j.queue, j.payload, j.run_at - time.time()) for j in left]
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
            await rt.close()
        lines = ledger.read_text().splitlines()
        counts = collections.Counter(lines)
        assert [line for line, n in counts.items() if n > 1] == []
        assert len(lines) == PARENTS * 2 + PARENTS * 4 * 2

    asyncio.run(run())


@pytest.mark.slow
@pytest.mark.soak
def test_three_workers_on_sqlite_run_every_child_once(tmp_path: Path) -> None:
    """3 worker processes on one SQLite file: 50 parents, 200 children; each step body ran exactly once
    (ledger), every parent got its four children's outputs, nothing is left on the queues."""
    _scenario(f"sqlite:///{tmp_path / 'kids.sqlite3'}", tmp_path)


@pytest.mark.slow
@pytest.mark.soak
@pytest.mark.postgres
def test_three_workers_on_postgres_run_every_child_once(pg_url: str, tmp_path: Path) -> None:
    """The same on PostgreSQL."""
    _scenario(pg_url, tmp_path)
