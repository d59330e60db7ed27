"""Choosing state store and queue by URL.

``memory://``, ``file:///path/dir``, ``sqlite:///path/db.sqlite3``, ``postgresql://...``, ``redis://...``.
When the state URL and the queue URL are the same (the usual case) the backend opens them as a pair that
shares one database, so a step's result and the orchestrator hand-off commit in one transaction. Mixed
URLs (e.g. PostgreSQL state with Redis queues) work too; the engine then enqueues the hand-off itself.

Drivers are imported lazily: ``psycopg`` and ``redis`` are only needed when such a URL is used.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pikku._errors import BackendURLError
from pikku.queues import JobQueue
from pikku.stores import StateStore

# scheme -> (state module, queue module). A state module has `open_state(url)` and may have
# `open_pair(url)` (state + co-located queue); a queue module has `open_queue(url)`.
_MODULES: dict[str, tuple[str, str]] = {
    "memory": ("pikku.stores.memory", "pikku.queues.memory"),
    "file": ("pikku.stores.file", "pikku.queues.file"),
    "sqlite": ("pikku.stores.sqlite", "pikku.queues.sqlite"),
    "postgresql": ("pikku.stores.postgres", "pikku.queues.postgres"),
    "postgres": ("pikku.stores.postgres", "pikku.queues.postgres"),
    "redis": ("pikku.stores.redis", "pikku.queues.redis"),
}

_EXTRAS = {"postgresql": "postgres", "postgres": "postgres", "redis": "redis"}


@dataclass(slots=True)
class Backend:
    """The state store and the queue a runtime uses, opened together."""

    state: StateStore
    queue: JobQueue
    state_url: str
    queue_url: str

    async def close(self) -> None:
        """Close both; the queue first so no job is handed to a closed store."""
        await self.queue.close()
        await self.state.close()


def scheme_of(url: str) -> str:
    """The URL's scheme, validated against the known backends."""
    scheme = urlsplit(url).scheme.split("+", 1)[0]
    if scheme not in _MODULES:
        known = ", ".join(f"{s}://" for s in sorted(_MODULES))
        raise BackendURLError(
            f"unknown backend URL {url!r}", hint=f"use one of {known} (set in [tool.pikku] or PIKKU_STATE_URL)"
        )
    return scheme


def _module(url: str, which: int) -> Any:
    scheme = scheme_of(url)
    name = _MODULES[scheme][which]
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if scheme in _EXTRAS and exc.name and not exc.name.startswith("pikku"):
            raise BackendURLError(
                f"{url.split(':', 1)[0]}:// needs the driver {exc.name!r}, which is not installed",
                hint=f"pip install 'pikku[{_EXTRAS[scheme]}]'",
            ) from exc
        raise


async def open_backend(state_url: str, queue_url: str | None = None) -> Backend:
    """Open the state store and the queue named by the URLs (the queue defaults to the state's URL)."""
    queue_url = queue_url or state_url
    state_mod = _module(state_url, 0)
    if queue_url == state_url and hasattr(state_mod, "open_pair"):
        state, queue = await state_mod.open_pair(state_url)
    else:
        state = await state_mod.open_state(state_url)
        queue = await _module(queue_url, 1).open_queue(queue_url)
    return Backend(state=state, queue=queue, state_url=state_url, queue_url=queue_url)
