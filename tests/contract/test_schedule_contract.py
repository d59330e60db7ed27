"""Contract: the stored state of schedules (``wire_schedule``), on every backend.

A schedule's state is how far its ticks were handled (``last_tick``), the run of its latest started tick and
a pause flag. ``advance_schedule`` is a compare-and-set: of any number of workers (or processes) handling
one tick, exactly one moves the schedule on.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pikku._records import ScheduleState
from pikku.backends import open_backend
from pikku.backends._contract import StateStore

T0, T1, T2 = 1_767_229_200.0, 1_767_232_800.0, 1_767_236_400.0  # 2026-01-01 01:00, 02:00, 03:00 UTC


async def test_a_schedule_never_stored_reads_as_fresh(state: StateStore) -> None:
    """No tick handled, no run, not paused; reading it creates nothing (a later CAS from None still wins)."""
    assert await state.get_schedule("nightly") == ScheduleState("nightly")
    assert await state.advance_schedule("nightly", expected=None, tick=T0, run_id=None) is True


async def test_advance_is_a_compare_and_set_on_the_last_tick(state: StateStore) -> None:
    """From None, then from each tick in turn; a stale ``expected`` (None, an older or another tick)
    changes nothing and says so."""
    assert await state.advance_schedule("s", expected=None, tick=T0, run_id="s@T0") is True
    assert await state.advance_schedule("s", expected=None, tick=T1, run_id="s@T1") is False
    assert await state.advance_schedule("s", expected=T1, tick=T2, run_id="s@T2") is False
    assert await state.get_schedule("s") == ScheduleState("s", T0, "s@T0", False)
    assert await state.advance_schedule("s", expected=T0, tick=T1, run_id="s@T1") is True
    assert await state.advance_schedule("s", expected=T0, tick=T2, run_id="s@T2") is False
    assert await state.get_schedule("s") == ScheduleState("s", T1, "s@T1", False)


async def test_advance_without_a_run_keeps_the_last_run(state: StateStore) -> None:
    """A tick skipped (overlap, pause, no catch-up) moves the last tick but keeps the run of the last tick
    that started one: the overlap check still looks at it."""
    await state.advance_schedule("s", expected=None, tick=T0, run_id="s@T0")
    assert await state.advance_schedule("s", expected=T0, tick=T1, run_id=None) is True
    assert await state.get_schedule("s") == ScheduleState("s", T1, "s@T0", False)


async def test_advance_from_a_tick_never_creates_a_schedule(state: StateStore) -> None:
    """``expected`` set on a schedule with no state: False, and it still reads as never stored."""
    assert await state.advance_schedule("ghost", expected=T0, tick=T1, run_id="x") is False
    assert await state.get_schedule("ghost") == ScheduleState("ghost")


async def test_pause_and_unpause_say_whether_they_changed_anything(state: StateStore) -> None:
    """Pausing a never-stored schedule creates it paused; pausing again, or unpausing a schedule that is not
    paused, changes nothing (False). The flag leaves the ticks alone."""
    assert await state.set_schedule_paused("s", False) is False
    assert await state.get_schedule("s") == ScheduleState("s")
    assert await state.set_schedule_paused("s", True) is True
    assert await state.set_schedule_paused("s", True) is False
    assert await state.get_schedule("s") == ScheduleState("s", None, None, True)
    assert await state.advance_schedule("s", expected=None, tick=T0, run_id="s@T0") is True  # a paused row
    assert await state.get_schedule("s") == ScheduleState("s", T0, "s@T0", True)
    assert await state.set_schedule_paused("s", False) is True
    assert await state.set_schedule_paused("s", False) is False
    assert await state.get_schedule("s") == ScheduleState("s", T0, "s@T0", False)


async def test_schedules_are_kept_apart_by_name(state: StateStore) -> None:
    """Names with spaces, unicode, colons and a prefix of another name are distinct schedules."""
    names = ["a", "a b", "a:b", "ab", "yö-raportti", "x" * 200]
    for i, name in enumerate(names):
        assert await state.advance_schedule(name, expected=None, tick=T0 + i, run_id=f"{name}@{i}")
    await state.set_schedule_paused("a:b", True)
    for i, name in enumerate(names):
        assert await state.get_schedule(name) == ScheduleState(name, T0 + i, f"{name}@{i}", name == "a:b")


async def test_fractional_ticks_compare_exactly(state: StateStore) -> None:
    """A tick with a fraction of a second (a schedule with seconds, a trigger time) is matched by the value
    read back: what a store returns is what the next compare-and-set expects."""
    tick = 1_767_229_200.123456
    await state.advance_schedule("s", expected=None, tick=tick, run_id=None)
    read = (await state.get_schedule("s")).last_tick
    assert read == tick
    assert await state.advance_schedule("s", expected=read, tick=T1, run_id=None) is True


async def test_many_workers_racing_in_one_process_move_a_schedule_once(state: StateStore) -> None:
    """20 concurrent compare-and-sets of one tick: exactly one wins."""
    await state.advance_schedule("s", expected=None, tick=T0, run_id=None)
    won = await asyncio.gather(*(state.advance_schedule("s", expected=T0, tick=T1, run_id=f"w{i}") for i in range(20)))
    assert sum(won) == 1
    winner = next(f"w{i}" for i, ok in enumerate(won) if ok)
    assert await state.get_schedule("s") == ScheduleState("s", T1, winner, False)


async def test_schedule_state_survives_reopening(shared_url: str) -> None:
    """What one connection stored, another (a restarted worker) reads."""
    first = await open_backend(shared_url)
    try:
        await first.state.advance_schedule("s", expected=None, tick=T0, run_id="s@T0")
        await first.state.set_schedule_paused("s", True)
    finally:
        await first.close()
    second = await open_backend(shared_url)
    try:
        assert await second.state.get_schedule("s") == ScheduleState("s", T0, "s@T0", True)
    finally:
        await second.close()


def _advance_in_child(url: str, barrier: Any, out: Any) -> None:
    """Child process: wait for everyone, then try to move schedule ``s`` from T0 to T1 and ``fresh`` from
    nothing to T0. Reports which of the two it won."""

    async def main() -> list[str]:
        opened = await open_backend(url)
        try:
            barrier.wait(timeout=60)
            won = []
            if await opened.state.advance_schedule("s", expected=T0, tick=T1, run_id="by-child"):
                won.append("s")
            if await opened.state.advance_schedule("fresh", expected=None, tick=T0, run_id=None):
                won.append("fresh")
            return won
        finally:
            await opened.close()

    out.put(asyncio.run(main()))


async def test_advance_race_between_processes(state: StateStore, shared_url: str, race_processes: Any) -> None:
    """4 processes handling the same tick (and initialising the same new schedule): one winner each."""
    await state.advance_schedule("s", expected=None, tick=T0, run_id=None)
    won = [name for names in race_processes(_advance_in_child, shared_url) for name in names]
    assert sorted(won) == ["fresh", "s"]
    assert await state.get_schedule("s") == ScheduleState("s", T1, "by-child", False)
    assert (await state.get_schedule("fresh")).last_tick == T0
