"""Schedules (``wire_schedule``): each tick's run started once, catch-up, overlap, pause/resume/trigger, and
pruned tick runs never started again.

The environment's tests let ``WorkflowEnvironment(schedules=[...])`` skip time through the ticks with its
worker; the others drive :class:`~pikku._engine.schedules.Scheduler` by hand on a virtual clock, one
``handle_due`` per look, so "no worker ran for five hours" and "a worker restarted" are exact.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import pikku
from pikku import ConfigError, InvalidInputError, wire_schedule, wire_workflow
from pikku._clock import reset_clock, use_clock
from pikku._cron import Cron, tick_run_id
from pikku._engine.schedules import Scheduler
from pikku._runtime import Runtime
from pikku._schedules import get_schedule
from pikku.testing import VirtualClock, WorkflowEnvironment, memory_runtime
from pikku.wiring import WorkflowClient
from pikku.worker import Worker

CALLS: collections.Counter[str] = collections.Counter()
HOURLY = Cron("0 * * * *")


@pytest.fixture(autouse=True)
def _reset() -> None:
    CALLS.clear()


async def report_wf(services: Any, data: dict[str, str]) -> str:
    CALLS[data["kind"]] += 1
    return data["kind"]


async def long_wf(services: Any, data: dict[str, str]) -> str:
    await services.workflow.sleep("90m", name="long")
    return data["kind"]


async def inline_wf(services: Any, data: None) -> str:
    return str(await services.workflow.do("count", lambda: CALLS.update(["inline"])))


wire_workflow(name="sch-report", func=report_wf)
wire_workflow(name="sch-long", func=long_wf)
wire_workflow(name="sch-inline", func=inline_wf, execution_mode="inline")
wire_schedule(name="sch-hourly", cron="0 * * * *", workflow="sch-report", input={"kind": "hourly"})
wire_schedule(name="sch-skip", cron="0 * * * *", workflow="sch-long", input={"kind": "skip"})
wire_schedule(name="sch-allow", cron="0 * * * *", workflow="sch-long", input={"kind": "allow"}, overlap="allow")
wire_schedule(name="sch-inline", cron="30 * * * *", workflow="sch-inline")
for mode in ("latest", "all", "none"):  # overlap allowed: catch-up alone decides which missed ticks run
    wire_schedule(
        name=f"sch-catchup-{mode}",
        cron="0 * * * *",
        workflow="sch-report",
        input={"kind": mode},
        catchup=mode,
        overlap="allow",
    )
wire_schedule(name="sch-all-skip", cron="0 * * * *", workflow="sch-report", input={"kind": "x"}, catchup="all")


def _hours_after(moment: float, n: int) -> list[float]:
    ticks, at = [], moment
    for _ in range(n):
        at = HOURLY.next_after(at)
        ticks.append(at)
    return ticks


async def _tick_runs(runtime: Runtime, schedule: str) -> list[str]:
    """The ids of the schedule's tick runs, oldest first."""
    runs = await runtime.engine.state.list_runs(limit=500)
    return sorted(r.run_id for r in runs if r.run_id.startswith(f"{schedule}@"))


# -- in the time-skipping environment ---------------------------------------------------------------------


async def test_each_tick_starts_one_run_named_by_its_tick() -> None:
    """Three hours of an hourly schedule: three runs, ``sch-hourly@<UTC tick>Z``, each with the schedule's
    input, each run once; the stored last tick is the third tick and its run the last run."""
    async with WorkflowEnvironment(schedules=["sch-hourly"]) as env:
        ticks = _hours_after(env.clock.now(), 3)
        await env.sleep(ticks[-1] - env.clock.now() + 60)
        expected = [tick_run_id("sch-hourly", t) for t in ticks]
        assert await _tick_runs(env.runtime, "sch-hourly") == expected
        for run_id in expected:
            assert (await env.runtime.engine.state.get_run(run_id)).output_json == '"hourly"'
        assert CALLS["hourly"] == 3
        state = await env.runtime.engine.state.get_schedule("sch-hourly")
        assert (state.last_tick, state.last_run_id) == (ticks[-1], expected[-1])


async def test_an_inline_workflow_tick_is_run_by_a_worker() -> None:
    """A tick of an inline workflow does not block the scheduler: the run is queued and a worker runs it
    (all its steps in that pass), once."""
    async with WorkflowEnvironment(schedules=["sch-inline"]) as env:
        tick = Cron("30 * * * *").next_after(env.clock.now())
        await env.sleep(tick - env.clock.now() + 60)
        [run_id] = await _tick_runs(env.runtime, "sch-inline")
        assert (await env.runtime.engine.state.get_run(run_id)).status == "completed"
        assert CALLS["inline"] == 1


async def test_overlap_skip_skips_a_tick_while_the_previous_run_goes_on() -> None:
    """Runs take 90 minutes: with ``overlap="skip"`` the tick 60 minutes after a start is skipped (no
    run), and the tick after that, once the run has finished, starts one."""
    async with WorkflowEnvironment(schedules=["sch-skip"]) as env:
        ticks = _hours_after(env.clock.now(), 3)
        await env.sleep(ticks[-1] - env.clock.now() + 60)
        assert await _tick_runs(env.runtime, "sch-skip") == [tick_run_id("sch-skip", t) for t in (ticks[0], ticks[2])]
        state = await env.runtime.engine.state.get_schedule("sch-skip")
        assert state.last_tick == ticks[2]


async def test_overlap_allow_starts_every_tick() -> None:
    """With ``overlap="allow"`` each tick starts its run although the previous one is still sleeping."""
    async with WorkflowEnvironment(schedules=["sch-allow"]) as env:
        ticks = _hours_after(env.clock.now(), 3)
        await env.sleep(ticks[-1] - env.clock.now() + 60)
        assert await _tick_runs(env.runtime, "sch-allow") == [tick_run_id("sch-allow", t) for t in ticks]


async def test_pause_resume_and_trigger() -> None:
    """Paused: ticks pass without runs (the last tick still moves), and a trigger still starts a run (its id
    the trigger time with microseconds). Resumed: the next tick runs. Pausing twice or resuming a running
    schedule says nothing changed."""
    async with WorkflowEnvironment(schedules=["sch-hourly"]) as env:
        assert await pikku.pause_schedule("sch-hourly") is True
        assert await pikku.pause_schedule("sch-hourly") is False
        ticks = _hours_after(env.clock.now(), 3)
        await env.sleep(ticks[1] - env.clock.now() + 60)
        assert await _tick_runs(env.runtime, "sch-hourly") == []
        assert (await env.runtime.engine.state.get_schedule("sch-hourly")).last_tick == ticks[1]

        triggered = await pikku.trigger_schedule("sch-hourly")
        assert triggered.startswith("sch-hourly@") and triggered.endswith("Z") and "." in triggered
        await env.result(WorkflowClient("sch-report").handle(triggered))
        assert CALLS["hourly"] == 1

        assert await pikku.resume_schedule("sch-hourly") is True
        assert await pikku.resume_schedule("sch-hourly") is False
        await env.sleep(ticks[2] - env.clock.now() + 60)
        assert await _tick_runs(env.runtime, "sch-hourly") == sorted([triggered, tick_run_id("sch-hourly", ticks[2])])
        [view] = [v for v in await pikku.list_schedules() if v.name == "sch-hourly"]
        assert (view.paused, view.last_tick, view.last_run_status) == (False, ticks[2], "completed")
        assert view.next_tick == HOURLY.next_after(env.clock.now())


async def test_unknown_schedule_names_are_invalid_input() -> None:
    """pause, resume and trigger of a name no wire_schedule made: InvalidInputError listing the schedules."""
    async with WorkflowEnvironment():
        for op in (pikku.pause_schedule, pikku.resume_schedule, pikku.trigger_schedule):
            with pytest.raises(InvalidInputError, match="unknown schedule 'nope'") as info:
                await op("nope")
            assert "sch-hourly" in (info.value.hint or "")


async def test_a_worker_runs_no_schedule_unless_asked() -> None:
    """``Worker(...)`` alone (as in an app's own process) starts no tick: only ``schedules=`` (or ``pikku
    worker``) does."""
    async with WorkflowEnvironment() as env:
        await env.sleep("3h")
        assert await _tick_runs(env.runtime, "sch-hourly") == []


# -- a scheduler driven look by look on a virtual clock -------------------------------------------------------

START = 1_767_225_600.0 + 1800  # 2026-01-01 00:30 UTC


@pytest.fixture
def clock() -> Iterator[VirtualClock]:
    """A virtual clock at START, the clock of this test's context."""
    virtual = VirtualClock(START)
    token = use_clock(virtual)
    yield virtual
    reset_clock(token)


@pytest.fixture
async def rt(clock: VirtualClock) -> AsyncIterator[Runtime]:
    """An in-memory runtime (its store stamps times with the virtual clock)."""
    async with memory_runtime() as runtime:
        yield runtime


def _scheduler(rt: Runtime, *names: str, **kwargs: Any) -> Scheduler:
    """A new scheduler, as a worker (re)starting makes one."""
    return Scheduler(rt.engine, [get_schedule(n) for n in names], **kwargs)


@pytest.mark.parametrize(("mode", "expected_hours"), [("latest", [5]), ("all", [1, 2, 3, 4, 5]), ("none", [])], ids=str)
async def test_catch_up_after_no_worker_ran(
    rt: Runtime, clock: VirtualClock, mode: str, expected_hours: list[int]
) -> None:
    """A worker sees the schedule at 00:30, then none runs until 05:40: the five missed ticks (01:00 to
    05:00) give the latest one (``latest``), each (``all``) or none (``none``); either way the last tick is
    05:00 and the 06:00 tick then runs on time."""
    name = f"sch-catchup-{mode}"
    assert await _scheduler(rt, name).handle_due() == []  # first seen: earlier ticks are history
    clock.move_to(START + 5 * 3600 + 600)
    started = await _scheduler(rt, name).handle_due()
    hours = _hours_after(START, 6)
    assert started == [tick_run_id(name, hours[h - 1]) for h in expected_hours]
    assert (await rt.engine.state.get_schedule(name)).last_tick == hours[4]
    clock.move_to(hours[5])
    assert await _scheduler(rt, name).handle_due() == [tick_run_id(name, hours[5])]


async def test_catch_up_of_every_tick_still_skips_overlapping_ones(rt: Runtime, clock: VirtualClock) -> None:
    """``catchup="all"`` with ``overlap="skip"``: the first missed tick starts a run, and the later missed
    ticks are skipped while it is still going (nobody ran it yet), as ticks on time would be."""
    await _scheduler(rt, "sch-all-skip").handle_due()
    clock.move_to(START + 3 * 3600 + 600)
    hours = _hours_after(START, 3)
    assert await _scheduler(rt, "sch-all-skip").handle_due() == [tick_run_id("sch-all-skip", hours[0])]
    assert (await rt.engine.state.get_schedule("sch-all-skip")).last_tick == hours[2]


async def test_a_tick_just_due_is_not_missed_even_without_catch_up(rt: Runtime, clock: VirtualClock) -> None:
    """A worker restarting 30 s after a tick (within the grace) still runs it, with ``catchup="none"``."""
    await _scheduler(rt, "sch-catchup-none").handle_due()
    hour = _hours_after(START, 1)[0]
    clock.move_to(hour + 30)
    assert await _scheduler(rt, "sch-catchup-none").handle_due() == [tick_run_id("sch-catchup-none", hour)]


async def test_pruned_tick_runs_are_never_started_again(rt: Runtime, clock: VirtualClock) -> None:
    """Tick runs completed and pruned: a restarted worker (any catch-up mode) starts none of those ticks
    again, because the stored last tick, not the runs, says how far the schedule got."""
    await _scheduler(rt, "sch-catchup-all").handle_due()
    hours = _hours_after(START, 3)
    for hour in hours:
        clock.move_to(hour)
        await _scheduler(rt, "sch-catchup-all").handle_due()
    for run_id in await _tick_runs(rt, "sch-catchup-all"):
        await rt.engine.state.complete_run(run_id, '"done"')
    clock.advance("10m")
    assert await pikku.prune_runs(older_than="1m") == 3
    assert await _scheduler(rt, "sch-catchup-all").handle_due() == []
    assert await _tick_runs(rt, "sch-catchup-all") == []


async def test_a_tick_whose_run_started_before_a_crash_is_not_started_twice(rt: Runtime, clock: VirtualClock) -> None:
    """A worker that started the tick's run and died before moving the last tick: the next one finds the run
    (the idempotent start creates nothing), moves the last tick on, and reports no new run."""
    await _scheduler(rt, "sch-hourly").handle_due()
    hour = _hours_after(START, 1)[0]
    clock.move_to(hour)
    await rt.engine.start_run("sch-report", {"kind": "hourly"}, run_id=tick_run_id("sch-hourly", hour))
    assert await _scheduler(rt, "sch-hourly").handle_due() == []
    assert await _tick_runs(rt, "sch-hourly") == [tick_run_id("sch-hourly", hour)]
    assert (await rt.engine.state.get_schedule("sch-hourly")).last_tick == hour


async def test_schedulers_racing_in_one_process_start_one_run_per_tick(rt: Runtime, clock: VirtualClock) -> None:
    """Five schedulers looking at once, tick after tick: every tick has exactly one run, and together they
    report each created run once."""
    schedulers = [_scheduler(rt, "sch-catchup-all") for _ in range(5)]
    await asyncio.gather(*(s.handle_due() for s in schedulers))
    created: list[str] = []
    for hour in _hours_after(START, 4):
        clock.move_to(hour)
        for started in await asyncio.gather(*(s.handle_due() for s in schedulers)):
            created += started
    expected = [tick_run_id("sch-catchup-all", h) for h in _hours_after(START, 4)]
    assert sorted(created) == expected == await _tick_runs(rt, "sch-catchup-all")


async def test_resume_does_not_run_ticks_that_fell_due_while_paused(rt: Runtime, clock: VirtualClock) -> None:
    """Paused, with no worker running for three hours, then resumed: those ticks are not caught up (the
    schedule says ``catchup="all"``, but they were paused, not missed); the next tick runs."""
    await _scheduler(rt, "sch-catchup-all").handle_due()
    await pikku.pause_schedule("sch-catchup-all")
    clock.advance("3h")
    assert await pikku.resume_schedule("sch-catchup-all") is True
    assert await _scheduler(rt, "sch-catchup-all").handle_due() == []
    nxt = HOURLY.next_after(clock.now())
    clock.move_to(nxt)
    assert await _scheduler(rt, "sch-catchup-all").handle_due() == [tick_run_id("sch-catchup-all", nxt)]


async def test_a_worker_refuses_a_schedule_it_cannot_run(rt: Runtime) -> None:
    """A schedule of an unknown workflow, or whose input the workflow refuses: the worker says so when it
    starts (ConfigError naming the schedule), not at the first tick."""
    wire_schedule(name="sch-bad-workflow", cron="0 * * * *", workflow="sch-missing")
    wire_schedule(name="sch-bad-input", cron="0 * * * *", workflow="sch-report", input={"nope": 1, "kind": 2})
    for name, why in (("sch-bad-workflow", "sch-missing"), ("sch-bad-input", "kind")):
        worker = Worker(rt.engine, schedules=[name])
        with pytest.raises(ConfigError, match=f"schedule '{name}' cannot start runs") as info:
            await worker.run()
        assert why in info.value.message


def test_wire_schedule_checks_what_it_is_given() -> None:
    """A bad name, cron expression, timezone, catch-up or overlap mode is a ConfigError naming the schedule
    and the argument; wiring one name twice differently too, while the same call again (a re-import) is
    fine."""
    good: dict[str, Any] = {"name": "sch-x", "cron": "0 3 * * *", "workflow": "sch-report"}
    bad = [
        ({"name": "a@b"}, "name"),
        ({"name": "a/b"}, "name"),
        ({"name": ""}, "name"),
        ({"cron": "61 * * * *"}, "cron"),
        ({"cron": "* * *"}, "cron"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": "../../etc/passwd"}, "timezone"),
        ({"catchup": "some"}, "catchup"),
        ({"overlap": "queue"}, "overlap"),
    ]
    for change, what in bad:
        with pytest.raises(ConfigError, match=what):
            wire_schedule(**(good | change))
    first = wire_schedule(**good)
    assert wire_schedule(**good) == first
    with pytest.raises(ConfigError, match="wired twice"):
        wire_schedule(**(good | {"cron": "0 4 * * *"}))
