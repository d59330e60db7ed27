"""The conformance suite's backends: every contract test runs once per backend.

``backend`` yields an open :class:`~pikku.backends._registry.Backend` (state and queue opened from one URL, as the
runtime does) and closes it afterwards. ``backend_url`` is that URL, so a test can reopen the same
backend, and ``shared_url`` is the URL for tests that reopen it in other processes (memory cannot).
PostgreSQL and Redis need their servers (see ``tests/conftest.py``); until their modules exist those
parameters skip.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from pikku.backends import Backend, open_backend
from pikku.backends._contract import JobQueue, StateStore


@pytest.fixture
async def backend(backend_url: str) -> AsyncIterator[Backend]:
    """The open backend; closed after the test."""
    opened = await open_backend(backend_url)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def state(backend: Backend) -> StateStore:
    """The backend's state store."""
    return backend.state


@pytest.fixture
def queue(backend: Backend) -> JobQueue:
    """The backend's queue."""
    return backend.queue


RaceRunner = Callable[[Callable[..., None], str], list[Any]]


@pytest.fixture
def race_processes() -> RaceRunner:
    """Run ``target(url, barrier, out)`` in 4 spawned processes and return what each put on ``out``.

    The barrier lines the children up after they opened the backend, so they race on the operation
    itself. Children still running at the end (a hung backend) are killed, never left behind.
    """

    def run(target: Callable[..., None], url: str) -> list[Any]:
        ctx = multiprocessing.get_context("spawn")
        barrier, out = ctx.Barrier(4), ctx.Queue()
        procs = [ctx.Process(target=target, args=(url, barrier, out), daemon=True) for _ in range(4)]
        try:
            for proc in procs:
                proc.start()
            results = [out.get(timeout=60) for _ in procs]
            for proc in procs:
                proc.join(timeout=30)
                assert proc.exitcode == 0, f"a racing process ended with exit code {proc.exitcode}"
            return results
        finally:
            for proc in procs:
                if proc.is_alive():
                    proc.kill()
                    proc.join()
            out.close()

    return run
