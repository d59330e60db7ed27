"""Operating schedules: list them, pause, resume and trigger them (``pikku.list_schedules`` and friends;
``pikku schedules`` uses the same functions). State goes through the store contract, so it works alike on
every backend and every worker sees it at its next tick.
"""

from __future__ import annotations

from dataclasses import dataclass

from pikku._clock import now
from pikku._cron import trigger_run_id
from pikku._errors import RunNotFoundError
from pikku._logcontext import get_logger
from pikku._runtime import get_runtime
from pikku._schedules import ScheduleDef, get_schedule, schedules

log = get_logger("pikku.schedules")


@dataclass(frozen=True, slots=True)
class ScheduleView:
    """One schedule as an operator reads it: its definition, its next tick, and how far it got.

    ``last_tick`` is the latest tick handled (started, or skipped while paused or overlapping); the run of
    the latest tick that started one is ``last_run_id``, with its status (None once pruned). Times are
    epoch seconds.
    """

    name: str
    workflow: str
    cron: str
    timezone: str
    catchup: str
    overlap: str
    paused: bool
    next_tick: float
    last_tick: float | None
    last_run_id: str | None
    last_run_status: str | None


async def list_schedules() -> list[ScheduleView]:
    """Every wired schedule, by name, with its stored state."""
    return [await _view(schedule) for schedule in schedules().values()]


async def get_schedule_view(name: str) -> ScheduleView:
    """One schedule as :func:`list_schedules` shows it; InvalidInputError for an unknown name."""
    return await _view(get_schedule(name))


async def _view(schedule: ScheduleDef) -> ScheduleView:
    runtime = await get_runtime()
    state = await runtime.engine.state.get_schedule(schedule.name)
    status = None
    if state.last_run_id is not None:
        try:
            status = (await runtime.engine.state.get_run(state.last_run_id)).status
        except RunNotFoundError:
            status = None
    return ScheduleView(
        name=schedule.name,
        workflow=schedule.workflow,
        cron=schedule.cron.expression,
        timezone=schedule.cron.timezone,
        catchup=schedule.catchup,
        overlap=schedule.overlap,
        paused=state.paused,
        next_tick=schedule.cron.next_after(now()),
        last_tick=state.last_tick,
        last_run_id=state.last_run_id,
        last_run_status=status,
    )


async def pause_schedule(name: str) -> bool:
    """Stop the schedule's ticks from starting runs (in every worker, from its next tick); False when it
    was paused already. Runs already started go on."""
    get_schedule(name)  # InvalidInputError for an unknown name
    runtime = await get_runtime()
    paused = await runtime.engine.state.set_schedule_paused(name, True)
    if paused:
        log.info("schedule %s paused", name)
    return paused


async def resume_schedule(name: str) -> bool:
    """Let the schedule's ticks start runs again, from its next tick: ticks that fell due while it was
    paused are not run (none is caught up). False when it was not paused."""
    schedule = get_schedule(name)
    store = (await get_runtime()).engine.state
    if not (await store.get_schedule(name)).paused:
        return False
    # Still paused: move the last tick over the paused ticks first, so no worker takes them for missed ones.
    latest = schedule.cron.latest_at_or_before(now())
    while True:
        last = (await store.get_schedule(name)).last_tick
        if last is not None and last >= latest:
            break
        if await store.advance_schedule(name, expected=last, tick=latest, run_id=None):
            break
    resumed = await store.set_schedule_paused(name, False)
    if resumed:
        log.info("schedule %s resumed", name)
    return resumed


async def trigger_schedule(name: str) -> str:
    """Start a run of the schedule's workflow with its input now, outside its ticks (paused or not); the
    run's id, ``<schedule>@<now, with microseconds>Z``. The schedule's ticks are left as they were."""
    schedule = get_schedule(name)
    runtime = await get_runtime()
    run_id = trigger_run_id(name, now())
    await runtime.engine.start_run(schedule.workflow, schedule.input, run_id=run_id, drive=False)
    log.info("schedule %s triggered: run %s", name, run_id)
    return run_id


__all__ = [
    "ScheduleView",
    "get_schedule_view",
    "list_schedules",
    "pause_schedule",
    "resume_schedule",
    "trigger_schedule",
]
