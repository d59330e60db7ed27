"""Fixtures of the functional tests: a runtime on each backend, installed for the test's event loop."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from pikku import Settings
from pikku._runtime import Runtime
from pikku.testing import memory_runtime


@pytest.fixture
async def rt(backend_url: str) -> AsyncIterator[Runtime]:
    """A runtime on ``backend_url`` with short leases and no retries unless a step asks for them.

    Test modules that need other settings define their own ``rt``.
    """
    settings = Settings(run_lock_lease=5, step_lease=5, lock_busy_delay=0.01, default_retries=0)
    async with memory_runtime(settings=settings, url=backend_url) as runtime:
        yield runtime
