"""The scheduler: starts each tick's run of every schedule (``wire_schedule``) exactly once, in any number
of workers and across restarts.

Every worker runs one :class:`Scheduler` (``pikku worker``; ``--no-schedules`` turns it off). At a tick each
of them reads the schedule's stored state (``StateStore.get_schedule``), starts the tick's run through the
idempotent start (run id ``<schedule>@<UTC tick>Z``: one run however many workers start it) and then moves
the stored last tick on with a compare-and-set (``advance_schedule``), which exactly one of them wins. The
run is started before the last tick moves, so a worker dying in between leaves the tick due, and the next
worker's start finds the run there. A tick at or before the stored last tick is never started again, even
once its run is pruned.

A tick more than :data:`CATCHUP_GRACE_S` old when a worker first handles it was missed (no worker ran, or
none could reach the store): the schedule's ``catchup`` decides (``latest``: run the latest missed tick
only; ``all``: each in turn; ``none``: none). ``overlap="skip"`` skips a tick while the run of the last
tick that started one is still going; a paused schedule's ticks pass without a run. Time comes from
:mod:`pikku._clock`, so the time-skipping test environment drives the ticks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from pikku import _clock, _serde
from pikku._clock import now
from pikku._cron import iso_utc, tick_run_id
from pikku._engine.engine import Engine
from pikku._errors import ConfigError, PikkuError, RunIdInUseError, RunNotFoundError
from pikku._logcontext import get_logger
from pikku._records import SETTLED_RUN_STATUSES, ScheduleState
from pikku._registry import get_workflow
from pikku._schedules import ScheduleDef
from pikku._services import validate_input

log = get_logger("pikku.schedules")

#: A tick this many seconds old when first handled counts as missed: ``catchup`` decides whether it runs.
CATCHUP_GRACE_S = 60.0
#: On the wall clock the scheduler looks again at least this often (a clock step, a resumed schedule).
MAX_SLEEP_S = 60.0
#: After a failure (the store unreachable, say) the next look comes this much later.
ERROR_DELAY_S = 5.0
#: Ticks one look handles for one schedule at most (``catchup="all"`` after a long outage goes on next look).
MAX_TICKS_PER_LOOK = 10_000


def check_schedules(schedules: Sequence[ScheduleDef], payload_limit: int = _serde.DEFAULT_PAYLOAD_LIMIT) -> None:
    """ConfigError for a schedule whose workflow is not wired or refuses its input: a worker says so when
    it starts, not at the first tick (which may be a month away)."""
    for schedule in schedules:
        what = f"schedule {schedule.name!r}"
        try:
            wf = get_workflow(schedule.workflow)
            value = validate_input(wf.function, schedule.input)
            _serde.encode(value, wf.function.input_type, what=f"input of {what}", limit=payload_limit)
        except PikkuError as exc:
            raise ConfigError(f"{what} cannot start runs: {exc.message}", hint=exc.hint) from exc


class Scheduler:
    """Starts the runs of ``schedules`` on ``engine``'s backend, tick by tick (see the module's docstring)."""

    def __init__(
        self,
        engine: Engine,
        schedules: Sequence[ScheduleDef],
        *,
        grace: float = CATCHUP_GRACE_S,
        max_sleep: float = MAX_SLEEP_S,
        error_delay: float = ERROR_DELAY_S,
    ) -> None:
        self.engine = engine
        self.schedules = list(schedules)
        self.grace = grace
        self.max_sleep = max_sleep
        self.error_delay = error_delay
        #: True while the loop waits for the next tick (the test environment's idle check reads it).
        self.sleeping = False

    def check(self) -> None:
        """See :func:`check_schedules`."""
        check_schedules(self.schedules, self.engine.settings.payload_limit)

    async def run(self, stopping: asyncio.Event) -> None:
        """Handle due ticks, sleep until the next one, until ``stopping`` is set."""
        while not stopping.is_set():
            try:
                await self.handle_due()
                delay = self.next_tick() - now()
            except Exception:
                log.exception("schedules: handling due ticks failed; trying again in %.0fs", self.error_delay)
                delay = self.error_delay
            if not _clock.substituted():
                delay = min(delay, self.max_sleep)
            await self._sleep(max(delay, 0.0), stopping)

    def next_tick(self) -> float:
        """The earliest next tick of any schedule (paused ones too: a look costs little)."""
        moment = now()
        return min((s.cron.next_after(moment) for s in self.schedules), default=moment + self.max_sleep)

    async def _sleep(self, seconds: float, stopping: asyncio.Event) -> None:
        self.sleeping = True
        sleeper = asyncio.ensure_future(_clock.sleep(seconds))
        stopper = asyncio.ensure_future(stopping.wait())
        try:
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.sleeping = False
            for task in (sleeper, stopper):
                task.cancel()

    async def handle_due(self) -> list[str]:
        """Handle every schedule's ticks due now; the ids of the runs this call created."""
        moment = now()
        started: list[str] = []
        for schedule in self.schedules:
            started += await self.advance(schedule, moment)
        return started

    async def advance(self, schedule: ScheduleDef, moment: float) -> list[str]:
        """Handle ``schedule``'s ticks up to ``moment``, each once; the ids of the runs this call created."""
        store, cron, name = self.engine.state, schedule.cron, schedule.name
        started: list[str] = []
        for _ in range(MAX_TICKS_PER_LOOK):
            state = await store.get_schedule(name)
            if state.last_tick is None:  # a new schedule: ticks from before it was first seen are history
                await store.advance_schedule(name, expected=None, tick=cron.latest_at_or_before(moment), run_id=None)
                continue  # read it again (whoever won the race set it)
            tick = cron.next_after(state.last_tick)
            if tick > moment:
                break
            missed_before = moment - self.grace
            if tick <= missed_before and schedule.catchup != "all":
                latest = cron.latest_at_or_before(missed_before)
                if schedule.catchup == "none":
                    if await store.advance_schedule(name, expected=state.last_tick, tick=latest, run_id=None):
                        log.info("schedule %s: missed ticks up to %s not run (catchup none)", name, iso_utc(latest))
                    continue
                tick = latest  # catchup latest: the latest missed tick stands for them all
            created = await self._tick(schedule, state, tick)
            if created is not None:
                started.append(created)
        return started

    async def _tick(self, schedule: ScheduleDef, state: ScheduleState, tick: float) -> str | None:
        """Start ``tick``'s run (unless paused or overlapping) and move the last tick on; the run's id if this
        call created it."""
        name = schedule.name
        why_not = "paused" if state.paused else await self._overlapping(schedule, state)
        run_id, created = None, False
        if why_not is None:
            run_id = tick_run_id(name, tick)
            try:
                started = await self.engine.start_run(schedule.workflow, schedule.input, run_id=run_id, drive=False)
                created = started.created
            except RunIdInUseError as exc:  # a run of another workflow holds the id: never retried
                log.error("schedule %s: tick %s not run: %s", name, iso_utc(tick), exc.message)
                run_id = None
        moved = await self.engine.state.advance_schedule(name, expected=state.last_tick, tick=tick, run_id=run_id)
        if moved and why_not is not None:
            log.info("schedule %s: tick %s skipped (%s)", name, iso_utc(tick), why_not)
        elif created:
            log.info("schedule %s: tick %s started run %s", name, iso_utc(tick), run_id)
        return run_id if created else None

    async def _overlapping(self, schedule: ScheduleDef, state: ScheduleState) -> str | None:
        """Why the tick must not start a run under ``overlap="skip"`` (the last tick's run still going)."""
        if schedule.overlap != "skip" or state.last_run_id is None:
            return None
        try:
            last = await self.engine.state.get_run(state.last_run_id)
        except RunNotFoundError:  # pruned: long settled
            return None
        if last.status in SETTLED_RUN_STATUSES:
            return None
        return f"run {state.last_run_id} of the previous tick is still {last.status}"
