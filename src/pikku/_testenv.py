"""``pikku.testing.WorkflowEnvironment``: fast tests of real workflows, with time that skips ahead.

The environment is the production engine and worker on the in-memory backend; only the clock differs.
With time skipping, a :class:`VirtualClock` stands in for the wall clock (through ``pikku._clock``, in
this environment's tasks only), and time jumps to the next timer -- a sleep's wake-up, a retry, a
durable timeout -- while the test awaits an environment call (:meth:`WorkflowEnvironment.result`,
:meth:`~WorkflowEnvironment.sleep`, :meth:`~WorkflowEnvironment.run`,
:meth:`~WorkflowEnvironment.until_waiting`) and every run is idle: no job due, none in flight. A test can
still act between timers (``until_waiting`` stops as soon as a run waits for an event, before its 3-day
timeout; then ``pikku.send_event``), and timers still fire in order.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

from pikku import _control
from pikku._clock import reset_clock, use_clock
from pikku._config import load_config
from pikku._duration import parse_duration
from pikku._engine.engine import Settings
from pikku._errors import ConfigError, WorkflowTimeoutError
from pikku._records import SETTLED_RUN_STATUSES
from pikku._runtime import Runtime, make_services, open_runtime, set_runtime
from pikku.worker import Worker

T = TypeVar("T")
TICK_S = 0.001  # real seconds the environment yields between looks, so workers and drivers make progress


class VirtualClock:
    """Time that moves only when told: by :meth:`advance`, or by the environment skipping to a timer."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        #: Tasks waiting in :meth:`sleep` right now (an inline driver between passes).
        self.parked = 0

    def now(self) -> float:
        """The virtual time, in epoch seconds."""
        return self._now

    async def sleep(self, seconds: float) -> None:
        """Wait until the virtual time has moved ``seconds`` on."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        done = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._seq), done))
        self.parked += 1
        try:
            await done
        finally:
            self.parked -= 1

    def advance(self, duration: str | float) -> None:
        """Move time forward by ``duration`` (``"2h"``, seconds): timers that come due fire in order."""
        self.move_to(self._now + parse_duration(duration))

    def move_to(self, moment: float) -> None:
        """Move time forward to ``moment`` (never back)."""
        self._now = max(self._now, moment)
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, done = heapq.heappop(self._sleepers)
            if not done.done():
                done.set_result(None)

    def next_wake(self) -> float | None:
        """When the earliest in-process sleeper wakes (None: nobody sleeps)."""
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)
        return self._sleepers[0][0] if self._sleepers else None


class _Services:
    """The app's services with per-test overrides on top (a mapping or an object underneath)."""

    def __init__(self, base: Any) -> None:
        self._base = base
        self._overrides: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        overrides = self.__dict__.get("_overrides", {})
        if name in overrides:
            return overrides[name]
        base = self.__dict__.get("_base")
        if isinstance(base, Mapping) and name in base:
            return base[name]
        if base is not None and not isinstance(base, Mapping):
            return getattr(base, name)
        raise AttributeError(name)


#: ``services=`` default: the app's own, from the factory ``[tool.pikku] services`` names (none without one).
APP_SERVICES: Any = object()


class WorkflowEnvironment:
    """``async with WorkflowEnvironment(time_skipping=True) as env:``: the in-memory backend, the app's
    services (``env.override_services(email=FakeEmail())``), and a worker in the test's own loop.

    ``schedules`` runs wired schedules in that worker (True: all; or their names), so ``env.sleep("1d")``
    starts each tick's run in turn; none by default."""

    def __init__(
        self,
        *,
        time_skipping: bool = True,
        services: Any = APP_SERVICES,
        settings: Settings | None = None,
        concurrency: int = 10,
        schedules: bool | Iterable[str] = False,
    ) -> None:
        self.clock: VirtualClock | None = VirtualClock() if time_skipping else None
        self._schedules = schedules if isinstance(schedules, bool) else list(schedules)
        self._base_services = services
        self._services = _Services(None)
        self._settings = settings or Settings(run_lock_lease=30.0, step_lease=30.0, lock_busy_delay=0.001)
        self._concurrency = concurrency
        self._runtime: Runtime | None = None
        self._worker: Worker | None = None
        self._task: asyncio.Task[None] | None = None
        self._stalled = 0
        self._drivers = 0  # env.run calls in progress

    async def __aenter__(self) -> WorkflowEnvironment:
        self._services._base = await _app_services() if self._base_services is APP_SERVICES else self._base_services
        self._clock_token = use_clock(self.clock)  # before the worker: its tasks inherit the clock
        self._runtime = await open_runtime(state_url="memory://", services=self._services, settings=self._settings)
        set_runtime(self._runtime)
        self._worker = Worker(
            self._runtime.engine,
            concurrency=self._concurrency,
            poll_interval=TICK_S,
            recovery_interval=None,
            schedules=self._schedules,
        )
        self._task = asyncio.ensure_future(self._worker.run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._worker is not None and self._task is not None:
            self._worker.stop()
            await self._task
        set_runtime(None)
        if self._runtime is not None:
            await self._runtime.close()
        reset_clock(self._clock_token)

    @property
    def runtime(self) -> Runtime:
        """The runtime the environment installed for this loop."""
        assert self._runtime is not None, "use the environment inside `async with`"
        return self._runtime

    def override_services(self, **services: Any) -> None:
        """Replace some of the app's services for this test (later calls add to or replace earlier ones)."""
        self._services._overrides.update(services)

    async def result(self, handle: Any, *, timeout: float = 30.0) -> Any:
        """Wait for the run behind ``handle`` to settle, skipping time while it is idle; its output (or
        the error ``handle.result()`` raises). ``timeout`` is in real seconds."""
        deadline = self._begin(timeout)

        async def settled() -> bool:
            return (await self.runtime.engine.state.get_run(handle.run_id)).status in SETTLED_RUN_STATUSES

        while not await settled():
            await self._tick(deadline, f"run {handle.run_id}", ready=settled)
        return await handle.result(timeout=0)

    async def sleep(self, duration: str | float, *, timeout: float = 30.0) -> None:
        """Let ``duration`` of the environment's time pass, running whatever comes due meanwhile."""
        if self.clock is None:
            await asyncio.sleep(parse_duration(duration))
            return
        target, deadline = self.clock.now() + parse_duration(duration), self._begin(timeout)
        while self.clock.now() < target:
            await self._tick(deadline, "env.sleep", until=target)

    async def until_waiting(self, handle: Any, event: str | None = None, *, timeout: float = 30.0) -> None:
        """Run the environment, skipping time while it is idle, until the run behind ``handle`` waits for the
        event ``event`` (any event when None) and nothing else can move: then send it (``pikku.send_event``).

        Time stops short of the wait's own timeout. WorkflowTimeoutError if the run settles first, or does
        not get there within ``timeout`` real seconds.
        """
        deadline = self._begin(timeout)
        what = f"run {handle.run_id} waiting for " + (f"event {event!r}" if event else "an event")

        async def arrived() -> bool:
            run = await _control.get_run(handle.run_id)
            if run.status in SETTLED_RUN_STATUSES:
                raise WorkflowTimeoutError(f"{what}: it is {run.status} already", hint="look at its steps")
            waits = event in run.waiting_for if event is not None else bool(run.waiting_for)
            return waits and self._idle_now()

        while not await arrived():
            await self._tick(deadline, what, ready=arrived)

    async def run(self, awaitable: Awaitable[T], *, timeout: float = 30.0) -> T:
        """Await ``awaitable`` (e.g. starting an inline run, which drives it to the end) with time skipping."""
        task = asyncio.ensure_future(awaitable)
        deadline = self._begin(timeout)
        self._drivers += 1
        try:
            while not task.done():
                await self._tick(deadline, "env.run", ready=_done(task))
        finally:
            self._drivers -= 1
        return task.result()

    def _begin(self, timeout: float) -> float:
        """The real-time deadline of an environment call; each call starts with no stall counted (one that
        raised for a run waiting on an event must not make the next call, after the send, raise at once)."""
        self._stalled = 0
        return time.monotonic() + timeout

    async def _tick(
        self,
        deadline: float,
        what: str,
        *,
        until: float | None = None,
        ready: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        """Let the environment run a moment, then, if everything is idle, skip time to the next timer --
        unless ``ready`` says what the caller waits for has come meanwhile (time must not pass it by)."""
        await asyncio.sleep(TICK_S)
        if time.monotonic() > deadline:
            raise WorkflowTimeoutError(f"{what} did not finish within the environment's real-time limit")
        if self.clock is None or not self._idle() or (ready is not None and await ready()):
            self._stalled = 0
            return
        timers = [t for t in (self._next_job_at(), self.clock.next_wake(), until) if t is not None]
        if not timers:
            # Idle with nothing scheduled: the caller looks once more (what it waits for may have just
            # finished); idle and unscheduled a second time in a row, nothing will ever move it.
            self._stalled += 1
            if self._stalled < 2:
                return
            raise WorkflowTimeoutError(
                f"{what} waits for something no timer brings (an event, or a queue no worker serves)",
                hint="send it, or advance the clock yourself with env.clock.advance(...)",
            )
        self._stalled = 0
        self.clock.move_to(min(timers))

    def _idle_now(self) -> bool:
        """Nothing can move without an event or time passing (also without time skipping)."""
        assert self._worker is not None
        if self.clock is None:
            due = self._next_job_at()
            return self._worker.in_flight == 0 and self._drivers == 0 and (due is None or due > time.time())
        return self._idle()

    def _idle(self) -> bool:
        assert self._worker is not None and self.clock is not None
        due = self._next_job_at()
        # The scheduler is busy unless it waits for its next tick (parked in the clock's sleep, then).
        scheduler = self._worker.scheduler
        ticking = scheduler is not None and not scheduler.sleeping
        parked = self.clock.parked - (1 if scheduler is not None and scheduler.sleeping else 0)
        # An inline driver mid-pass (awaiting real I/O, say) is busy; one parked in the clock's sleep is not.
        drivers_busy = self._drivers > parked
        idle = not ticking and not drivers_busy and self._worker.in_flight == 0
        return idle and (due is None or due > self.clock.now())

    def _next_job_at(self) -> float | None:
        """The next job the environment's worker can take (a job of a queue it does not serve never comes)."""
        assert self._worker is not None
        next_due_at = getattr(self.runtime.backend.queue, "next_due_at", None)
        return next_due_at(self._worker.queues) if next_due_at is not None else None


def _done(task: asyncio.Future[Any]) -> Callable[[], Awaitable[bool]]:
    async def done() -> bool:
        return task.done()

    return done


async def _app_services() -> Any:
    """The app's services from its config's factory; None outside a project or without a factory."""
    try:
        config = load_config(None)
    except ConfigError:
        return None
    return await make_services(config)


__all__ = ["APP_SERVICES", "VirtualClock", "WorkflowEnvironment"]
