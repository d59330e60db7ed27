"""Run pikku's async API from sync code (scripts, Django, Flask).

Calls go to one private event loop on a daemon thread, so database connections stay bound to one loop
for the life of the process and sync callers never need an event loop of their own.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from pikku._loop import new_loop

T = TypeVar("T")

_lock = threading.Lock()
_loops: list[asyncio.AbstractEventLoop] = []  # at most one: the portal loop


def _portal() -> asyncio.AbstractEventLoop:
    with _lock:
        if not _loops or _loops[0].is_closed():
            loop = new_loop()
            threading.Thread(target=loop.run_forever, name="pikku-sync", daemon=True).start()
            _loops[:] = [loop]
        return _loops[0]


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on pikku's private loop and block until it returns (or raises)."""
    return asyncio.run_coroutine_threadsafe(coro, _portal()).result()
