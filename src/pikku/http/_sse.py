"""Server-Sent Events: a run's state as it changes (``GET /runs/{id}/stream``) and the run list
(``GET /runs/stream``).

The stream polls the store (every ``interval`` seconds, 0.5 by default): every backend can answer that,
none needs a notification channel, and a change shows within one interval. Each event's ``id:`` is the
version of the state it carries (see ``_views``); the state itself is also compared as a whole, so a
change that left the derived version where it was still goes out, with the previous id plus one. Changes
between two polls coalesce into one event. A comment line keeps idle connections open every ``keepalive``
seconds (15). The run stream ends after the event that shows the run settled. A client reconnecting with
``Last-Event-ID`` gets the current state at once if the version moved, else the next change.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from pikku._errors import PikkuError
from pikku.http import _views
from pikku.http._errors import INTERNAL, error_body, log

MEDIA_TYPE = "text/event-stream"
#: Headers of every stream: never cached, never buffered by a proxy (nginx reads X-Accel-Buffering).
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@dataclass(frozen=True, slots=True)
class StreamTiming:
    """How often a stream looks at the store, and how long it stays silent before a keep-alive comment."""

    interval: float = 0.5
    keepalive: float = 15.0


def event(kind: str, data: Any, event_id: int | None = None) -> str:
    """One SSE event: ``id:``, ``event:`` and the JSON ``data:`` (one line: JSON text has no raw newline)."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {kind}\ndata: {_views.dumps(data)}\n\n"


KEEPALIVE = ": keep-alive\n\n"


def last_event_id(request: Request) -> int | None:
    """The ``Last-Event-ID`` a reconnecting client sent, when it is a version number."""
    raw = request.headers.get("last-event-id", "").strip()
    return int(raw) if raw.isdigit() else None


async def run_stream(
    request: Request, run_id: str, first: dict[str, Any], last_id: int | None, timing: StreamTiming
) -> AsyncIterator[str]:
    """Events for one run: its state now (unless ``last_id`` is its version), then each change, until
    it settles. ``first`` is the state the route read before answering."""

    async def read() -> dict[str, Any]:
        return await _views.run_detail(run_id)

    async for chunk in _follow(request, read, first, last_id, timing, _run_kind, _views.is_settled):
        yield chunk


async def list_stream(
    request: Request, read: Callable[[], Awaitable[dict[str, Any]]], first: dict[str, Any], timing: StreamTiming
) -> AsyncIterator[str]:
    """Events ``runs`` for a page of the run list: now, then on each change, until the client leaves."""
    async for chunk in _follow(request, read, first, None, timing, lambda _old, _new: "runs", lambda _d: False):
        yield chunk


def _run_kind(old: dict[str, Any] | None, new: dict[str, Any]) -> str:
    """``run`` when the run itself changed (status, output, error), ``step`` when only its steps did."""
    if old is None or _views.fingerprint(old["run"]) != _views.fingerprint(new["run"]):
        return "run"
    return "step"


async def _follow(
    request: Request,
    read: Callable[[], Awaitable[dict[str, Any]]],
    first: dict[str, Any],
    last_id: int | None,
    timing: StreamTiming,
    kind: Callable[[dict[str, Any] | None, dict[str, Any]], str],
    settled: Callable[[dict[str, Any]], bool],
) -> AsyncIterator[str]:
    sent: dict[str, Any] | None = None
    sent_id = last_id
    quiet_since = time.monotonic()
    state = first
    try:
        while True:
            moved = sent_id is None or state["version"] != sent_id
            if (sent is None and moved) or (sent is not None and _views.fingerprint(state) != _views.fingerprint(sent)):
                number = state["version"]
                if sent_id is not None and sent is not None and number <= sent_id:
                    number = sent_id + 1  # a change the derived version did not show: still a new id
                yield event(kind(sent, state), state, number)
                sent, sent_id, quiet_since = state, number, time.monotonic()
            elif sent is None:
                sent = state  # the client had this version: the next change is news
            if settled(state):
                return
            if time.monotonic() - quiet_since >= timing.keepalive:
                yield KEEPALIVE
                quiet_since = time.monotonic()
            await asyncio.sleep(timing.interval)
            if await request.is_disconnected():
                return
            state = await read()
    except PikkuError as exc:  # the run was deleted, the store went away: say so, then end the stream
        yield event("stream-error", error_body(exc.code, exc.message))
    except Exception as exc:  # a bug: the log has it, the client learns no more than that
        log.error("unexpected %s in a pikku stream", type(exc).__name__, exc_info=exc)
        yield event("stream-error", error_body(INTERNAL, f"unexpected {type(exc).__name__}"))
