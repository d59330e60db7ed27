"""The store's clock as one replay pass sees it.

Every stored time (a sleep's ``wake_at``, a retry's due time, a lease's end, a run's ``updated_at``) was
written by the store with its own clock (:meth:`~pikku.backends.StateStore.now`), so the engine compares
them only with that clock, never with the worker's: a worker whose clock is an hour off neither wakes a
sleep early nor leaves it an hour late. A pass reads the store's clock once, when it first needs it (one
round trip, and only in a pass that meets a timer), and carries it forward on a clock that no wall-clock
correction moves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pikku import _clock


class PassClock:
    """The store's time for the length of one pass: read at most once."""

    __slots__ = ("_base", "_read")

    def __init__(self, read: Callable[[], Awaitable[float]]) -> None:
        self._read = read
        self._base: tuple[float, float] | None = None

    async def now(self) -> float:
        """The store's clock now (epoch seconds)."""
        if self._base is None:
            self._base = (await self._read(), _clock.monotonic())
        store_then, local_then = self._base
        return store_then + (_clock.monotonic() - local_then)

    async def left(self, moment: float) -> float:
        """Seconds until the stored time ``moment`` by the store's clock (0 once it has come)."""
        return max(0.0, moment - await self.now())


__all__ = ["PassClock"]
