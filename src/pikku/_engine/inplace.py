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
import contextvars
import inspect
from collections.abc import Coroutine, Generator
from typing import Any

from pikku._errors import WorkflowAsyncException

_WAIT_IN_PLACE = object()
_UNSET = object()


class WorkflowDriver:
    """Drives a workflow coroutine inside the awaiting pass's task until it returns (``await`` gives True,
    the value in :attr:`result`) or waits in place (False, the coroutine left suspended for a later
    driver); its exceptions propagate to the pass.

    A driver made to keep its workflow (``keeps``) runs it in a context of its own, as a task would, so
    that what the workflow sets in context variables (a token it resets later, a tenant id) lives on from
    pass to pass; :meth:`follow` brings in what the pass itself changed (its log fields, its trace span).
    """

    def __init__(self, coro: Coroutine[Any, Any, Any], *, keeps: bool = False) -> None:
        self.coro = coro
        self.result: Any = None
        self._throw: BaseException | None = None  # raised into the coroutine where it waits, first (an unwind)
        self.context = contextvars.copy_context() if keeps else None
        self._pass_values = dict(self.context.items()) if self.context is not None else {}

    def follow(self) -> None:
        """In a later pass's task: set in the workflow's context every variable the pass's context holds
        with another value than the last pass's (values the workflow set itself stay as they are)."""
        if self.context is None:
            return
        now = contextvars.copy_context()
        for var, value in now.items():
            if self._pass_values.get(var, _UNSET) is not value:
                self.context.run(var.set, value)
        self._pass_values = dict(now.items())

    def __await__(self) -> Generator[Any, Any, bool]:
        send: Any = None
        throw, self._throw = self._throw, None
        context = self.context
        while True:
            try:
                if context is None:
                    yielded = self.coro.send(send) if throw is None else self.coro.throw(throw)
                elif throw is None:
                    yielded = context.run(self.coro.send, send)
                else:
                    yielded = context.run(self.coro.throw, throw)
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

    async def unwind(self, run_id: str) -> None:
        """Drive a dropped workflow to its end from where it waits: it raises the pause there (and at every
        workflow call after, its context says so); whatever it raises in the end is moot."""
        if self.ended:
            return
        self._throw = WorkflowAsyncException(run_id, "the kept workflow was dropped")
        with contextlib.suppress(BaseException):
            await self


class WaitInPlace:
    """Awaited by a workflow that waits in place: its driver returns to the pass, leaving it suspended."""

    def __await__(self) -> Generator[Any, Any, None]:
        yield _WAIT_IN_PLACE
