"""Review of the forked scan: environments where starting worker processes is not allowed."""

from __future__ import annotations

import multiprocessing

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
