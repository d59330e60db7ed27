"""One place for time, so stores agree on what "now" means (epoch seconds) and a test environment can
substitute a clock that skips ahead (``pikku.testing.WorkflowEnvironment``).

The substitute is a context variable: tasks started inside the environment (its worker, its inline
drivers) see it, nothing else in the process does. The engine waits through :func:`sleep`, so a durable
sleep driven in-process (an inline run) skips ahead too.

Whose clock decides: every stored time (a run's timestamps, a lease, a step's ``wake_at``) is the
*store's* clock, and the engine compares stored times only with the store's ``now()`` (PostgreSQL's
``pikku_now()``, Redis ``TIME``), never with its own: a worker whose clock is off by an hour neither wakes
a sleep early nor late. The local stores (memory, file, SQLite), whose workers share one host, keep the
clock that was in force when they were opened (:func:`current`): the wall clock, or a test environment's.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Awaitable, Callable
from typing import Protocol


class Clock(Protocol):
    """A source of time the engine and the in-memory backend can use instead of the wall clock."""

    def now(self) -> float:
        """Seconds since the epoch."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait until ``seconds`` of this clock's time have passed."""
        ...


class WallClock:
    """The host's clock (``time.time()``), waited on with the event loop's sleep."""

    def now(self) -> float:
        """Seconds since the epoch."""
        return time.time()

    async def sleep(self, seconds: float) -> None:
        """The event loop's sleep."""
        await asyncio.sleep(seconds)


WALL = WallClock()

_CLOCK: contextvars.ContextVar[Clock | None] = contextvars.ContextVar("pikku_clock", default=None)


def current() -> Clock:
    """The clock in force in this context: the substitute, or :data:`WALL` (a local store keeps the one it
    was opened under)."""
    return _CLOCK.get() or WALL


def monotonic() -> float:
    """Seconds for measuring how long something took: ``time.monotonic()``, or the substitute clock's time
    (a test environment's time, which only moves forward)."""
    clock = _CLOCK.get()
    return time.monotonic() if clock is None else clock.now()


def now() -> float:
    """Seconds since the epoch, as stored in every record."""
    clock = _CLOCK.get()
    return time.time() if clock is None else clock.now()


async def sleep(seconds: float) -> None:
    """Wait ``seconds`` of the current clock's time (the event loop's sleep on the wall clock)."""
    clock = _CLOCK.get()
    await (asyncio.sleep(seconds) if clock is None else clock.sleep(seconds))


async def sleep_watching(seconds: float, keep_waiting: Callable[[], Awaitable[bool]], every: float) -> None:
    """Sleep ``seconds``, but stop early once ``keep_waiting()`` (asked every ``every`` seconds) says no.

    On a substitute clock the sleep is one piece: its time jumps, so looking every ``every`` seconds of it
    would cost a look per jump without telling anything new.
    """
    if _CLOCK.get() is not None:
        await sleep(seconds)
        return
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        await asyncio.sleep(min(left, every))
        if left > every and not await keep_waiting():
            return


def substituted() -> bool:
    """Whether this context runs on a substitute clock (a test environment's), not the wall clock."""
    return _CLOCK.get() is not None


def use_clock(clock: Clock | None) -> contextvars.Token[Clock | None]:
    """Make ``clock`` the clock of this context (and of tasks started from it); undo with :func:`reset_clock`."""
    return _CLOCK.set(clock)


def reset_clock(token: contextvars.Token[Clock | None]) -> None:
    """Undo :func:`use_clock`."""
    _CLOCK.reset(token)
