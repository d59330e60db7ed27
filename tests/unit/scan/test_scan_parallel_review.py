"""Review of the forked scan: environments where starting worker processes is not allowed."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pikku.cli.scan import parallel

pytestmark = pytest.mark.skipif(parallel.worker_count(10_000) < 2, reason="scanning processes need Linux, 2+ cores")


def _scan_in_this_process(files: int) -> str:
    items = [(f"app/m{i:03d}.py", b"x = 1\n") for i in range(files)]
    try:
        scanned = parallel.scan_sources(items)
    except BaseException as exc:  # reported to the test, whatever it is
        return f"{type(exc).__name__}: {exc}"
    return f"{len(scanned)} scanned"


def test_a_daemonic_process_scans_a_large_batch_itself() -> None:
    """A multiprocessing worker (daemonic) may not fork children: prebuild called from one (a build tool's
    process pool) raised AssertionError ('daemonic processes are not allowed to have children')."""
    with multiprocessing.get_context("fork").Pool(1) as pool:
        assert pool.apply(_scan_in_this_process, (250,)) == "250 scanned"


_SCAN_FOREVER = """
import sys
from pikku.cli.scan import parallel
source = b"from pikku import pikku_func\\n" + b"".join(
    b"@pikku_func\\nasync def f%d(services, data: dict) -> dict:\\n    return {}\\n" % i for i in range(60)
)
parallel.worker_count = lambda files: 2
parallel.scan_sources([(f"app/m{i:05d}.py", source) for i in range(20_000)])
"""


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def test_the_workers_end_when_prebuild_is_killed() -> None:
    """SIGTERM (a CI timeout, docker stop) or SIGKILL (the OOM killer) to prebuild during a cold scan left
    its forked workers running on, orphaned and holding its stdout/stderr open."""
    parent = subprocess.Popen([sys.executable, "-c", _SCAN_FOREVER], start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while len(workers := _children(parent.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(workers) == 2, workers
        time.sleep(0.5)  # the workers are scanning
        parent.send_signal(signal.SIGTERM)
        parent.wait(timeout=30)
        deadline = time.monotonic() + 10
        while (alive := [w for w in workers if _running(w)]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert alive == [], f"workers {alive} outlived prebuild"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(parent.pid, signal.SIGKILL)
        parent.wait()


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
