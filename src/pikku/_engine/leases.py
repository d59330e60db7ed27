"""Keeping leases alive while work runs: run locks, step leases and job leases.

Most work (a step, a pass, a job) ends long before a third of its lease has passed, so a keeper starts
as a timer (``loop.call_later``) and only becomes a renewing task when the work outlives that: one task
per step was measurable on the hot path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from pikku._logcontext import get_logger

log = get_logger("pikku.engine")

Renew = Callable[[], Awaitable[bool]]


async def keep_renewing(renew: Renew, lease: float, what: str, *, first_now: bool = False) -> bool:
    """Renew a lease every third of it until cancelled or refused (then False); a failed renewal is tried
    again.

    ``first_now``: renew at once, then every third (a keeper whose timer already waited the first third).
    """
    wait = not first_now
    while True:
        if wait:
            await asyncio.sleep(lease / 3)
        wait = True
        try:
            if not await renew():
                log.warning("lost the lease of the %s", what)
                return False
        except Exception as exc:  # a blip in the backend: the lease still has two thirds to go
            log.warning("renewing the lease of the %s failed (%s); trying again", what, exc)


class LeaseKeeper:
    """Renews a lease every third of it from a third of it on, until :meth:`cancel`."""

    def __init__(self, renew: Renew, lease: float, what: str) -> None:
        self._renew, self._lease, self._what = renew, lease, what
        self._task: asyncio.Task[bool] | None = None
        self._timer = asyncio.get_running_loop().call_later(lease / 3, self._start)

    def _start(self) -> None:
        self._task = asyncio.ensure_future(keep_renewing(self._renew, self._lease, self._what, first_now=True))

    @property
    def renewing(self) -> bool:
        """Whether the work outlived the first third and a renewing task runs."""
        return self._task is not None and not self._task.done()

    @property
    def lost(self) -> bool:
        """Whether a renewal was refused: the lease is another owner's now."""
        task = self._task
        return task is not None and task.done() and not task.cancelled() and task.result() is False

    def cancel(self) -> None:
        """Stop renewing (idempotent): the work is over, or no longer ours."""
        self._timer.cancel()
        if self._task is not None:
            self._task.cancel()


__all__ = ["LeaseKeeper", "keep_renewing"]
