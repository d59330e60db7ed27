"""Choosing the backend by URL.

``memory://``, ``file:///path/dir``, ``sqlite:///path/db.sqlite3``, ``postgresql://...``, ``redis://...``.
The scheme names a package of :mod:`pikku.backends` (a :class:`BackendModule`). When the state URL and the
queue URL are the same (the usual case) that package opens them as a pair sharing one database, with the
transitions that suit it. Mixed URLs (e.g. PostgreSQL state with Redis queues) compose write-then-enqueue.

Drivers are imported lazily: ``psycopg`` and ``redis`` are only needed when such a URL is used.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

from pikku._errors import BackendURLError
from pikku._redact import redact_url
from pikku.backends._contract import BackendModule, JobQueue, StateStore, Transitions
from pikku.backends._transitions import WriteThenEnqueue

#: URL scheme -> the package that implements it. Adding a backend is adding a package and a line here.
SCHEMES: dict[str, str] = {
    "memory": "pikku.backends.memory",
    "file": "pikku.backends.file",
    "sqlite": "pikku.backends.sqlite",
    "postgresql": "pikku.backends.postgres",
    "postgres": "pikku.backends.postgres",
    "redis": "pikku.backends.redis",
}

#: The pip extra each driver-backed scheme needs (kept here too: the package cannot be imported without it).
_EXTRAS = {"pikku.backends.postgres": "postgres", "pikku.backends.redis": "redis"}


@dataclass(slots=True)
class Backend:
    """The state store, the queue and the transitions a runtime uses, opened together."""

    state: StateStore
    queue: JobQueue
    transitions: Transitions
    state_url: str
    queue_url: str

    async def close(self) -> None:
        """Close both; the queue first so no job is handed to a closed store."""
        await self.queue.close()
        await self.state.close()


def scheme_of(url: str) -> str:
    """The URL's scheme, validated against the known backends."""
    scheme = urlsplit(url).scheme.split("+", 1)[0]
    if scheme not in SCHEMES:
        known = ", ".join(f"{s}://" for s in sorted(SCHEMES))
        raise BackendURLError(
            f"unknown backend URL {redact_url(url)!r}",
            hint=f"use one of {known} (set in [tool.pikku] or PIKKU_STATE_URL)",
        )
    return scheme


def backend_module(url: str) -> BackendModule:
    """The package implementing ``url``'s scheme; BackendURLError naming the extra when its driver is missing."""
    name = SCHEMES[scheme_of(url)]
    try:
        return cast(BackendModule, importlib.import_module(name))
    except ModuleNotFoundError as exc:
        if name in _EXTRAS and exc.name and not exc.name.startswith("pikku"):
            raise BackendURLError(
                f"{url.split(':', 1)[0]}:// needs the driver {exc.name!r}, which is not installed",
                hint=f"pip install 'pikku[{_EXTRAS[name]}]'",
            ) from exc
        raise


async def open_backend(state_url: str, queue_url: str | None = None) -> Backend:
    """Open the state store and the queue named by the URLs (the queue defaults to the state's URL)."""
    queue_url = queue_url or state_url
    transitions: Transitions
    if queue_url == state_url:
        state, queue, transitions = await backend_module(state_url).open_pair(state_url)
    else:
        state = await backend_module(state_url).open_state(state_url)
        queue = await backend_module(queue_url).open_queue(queue_url)
        transitions = WriteThenEnqueue(state, queue)
    return Backend(state, queue, transitions, state_url, queue_url)
