"""Fan-out of "a job may be due on queue X" notices to tasks blocked in ``JobQueue.wait``.

The PostgreSQL (LISTEN/NOTIFY) and Redis (pub/sub) queues each run one listener task per queue object
that feeds :meth:`Wakeups.notify`; any number of local tasks can wait on it. A notice that arrives after
the last claim and before a wait starts is not lost: that wait returns at once (the usual gap between a
claim that found nothing and the next wait).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from time import monotonic

#: A job delayed at least this long (seconds) is enqueued without a wake-up notice, and a wait looks at
#: the next due time again at least this often, so such a job is still claimed on time. Without it every
#: inline run's watchdog job (due in a minute) and every long retry or sleep would wake every idle worker
#: of the fleet into a claim that finds nothing.
QUIET_DELAY_S = 5.0


def wakes(delay: float) -> bool:
    """Whether enqueueing a job with this delay should notify waiting workers."""
    return delay < QUIET_DELAY_S


class Wakeups:
    """Waiters keyed by the queues they care about, woken by queue-name notices."""

    def __init__(self) -> None:
        self._waiters: list[tuple[frozenset[str] | None, asyncio.Event]] = []
        self._notices: dict[str, float] = {}
        self._any_notice = 0.0
        self._seen = monotonic()

    def claimed(self) -> None:
        """A claim just looked at the queues: earlier notices are accounted for."""
        self._seen = monotonic()

    def notify(self, queue: str | None) -> None:
        """A job may be due on ``queue`` (None: on any queue, e.g. after the listener reconnected)."""
        t = monotonic()
        if queue is None:
            self._any_notice = t
        else:
            self._notices[queue] = t
        for wanted, event in self._waiters:
            if queue is None or wanted is None or queue in wanted:
                event.set()

    def _pending(self, wanted: frozenset[str] | None) -> bool:
        if self._any_notice > self._seen:
            return True
        if wanted is None:
            return any(t > self._seen for t in self._notices.values())
        return any(self._notices.get(q, 0.0) > self._seen for q in wanted)

    async def wait(self, queues: Sequence[str] | None, timeout: float) -> None:
        """Until a notice for ``queues`` arrives (or arrived since the last claim) or ``timeout`` passes."""
        wanted = None if queues is None else frozenset(queues)
        try:
            if self._pending(wanted) or timeout <= 0:
                return
            entry = (wanted, asyncio.Event())
            self._waiters.append(entry)
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(entry[1].wait(), timeout)
            finally:
                self._waiters.remove(entry)
        finally:
            self._seen = monotonic()
