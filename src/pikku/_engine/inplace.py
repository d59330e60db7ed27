"""Waiting in place: how a kept run's workflow (:mod:`pikku._engine.kept`) stays suspended between passes.

The pass does not run the workflow in a task of its own but drives its coroutine through a
:class:`WorkflowDriver`, which forwards everything the coroutine awaits to the pass's task (as ``await
coro`` would) except one marker, :class:`WaitInPlace`: there the driver returns to the pass and leaves the
coroutine suspended. The next pass drives the same coroutine in its own task, so it runs with that pass's
context (its log fields, its trace span), and a pass costs no extra task or loop turn. A leaf module: the
workflow context awaits the marker, the engine drives.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Coroutine, Generator
from typing import Any

from pikku._errors import WorkflowAsyncException

_WAIT_IN_PLACE = object()


class WorkflowDriver:
    """Drives a workflow coroutine inside the awaiting pass's task until it returns (``await`` gives True,
    the value in :attr:`result`) or waits in place (False, the coroutine left suspended for a later
    driver); its exceptions propagate to the pass."""

    def __init__(self, coro: Coroutine[Any, Any, Any], *, throw: BaseException | None = None) -> None:
        self.coro = coro
        self.result: Any = None
        self._throw = throw  # raised into the coroutine where it waits, first (an unwind)

    def __await__(self) -> Generator[Any, Any, bool]:
        send: Any = None
        throw, self._throw = self._throw, None
        while True:
            try:
                yielded = self.coro.send(send) if throw is None else self.coro.throw(throw)
            except StopIteration as stop:
                self.result = stop.value
                return True
            if yielded is _WAIT_IN_PLACE:
                return False
            send, throw = None, None
            try:
                send = yield yielded  # a future the coroutine awaits: the pass's task waits on it
            except GeneratorExit:
                self.coro.close()
                raise
            except BaseException as exc:
                throw = exc

    @property
    def ended(self) -> bool:
        """Whether the workflow coroutine has ended (returned, raised, or unwound)."""
        return inspect.getcoroutinestate(self.coro) == inspect.CORO_CLOSED

    async def unwind(self) -> None:
        """Drive a dropped workflow to its end from where it waits: it raises the pause there (and at every
        workflow call after, its context says so); whatever it raises in the end is moot."""
        with contextlib.suppress(BaseException):
            await WorkflowDriver(self.coro, throw=WorkflowAsyncException("", "the kept workflow was dropped"))


class WaitInPlace:
    """Awaited by a workflow that waits in place: its driver returns to the pass, leaving it suspended."""

    def __await__(self) -> Generator[Any, Any, None]:
        yield _WAIT_IN_PLACE
