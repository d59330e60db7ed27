"""``StateStore.now()``: the store's clock, the one its stamps come from, and not the caller's."""

from __future__ import annotations

import asyncio
import time

from pikku._clock import reset_clock, use_clock
from pikku._records import NewStep
from pikku.backends._contract import StateStore


class _HourAhead:
    """A caller whose clock is an hour ahead."""

    def now(self) -> float:
        return time.time() + 3600.0

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def test_now_brackets_the_stores_own_stamps(state: StateStore) -> None:
    """A run created and a step claimed between two readings of ``now()`` carry times between them: the
    engine can compare stored times with ``now()``."""
    before = await state.now()
    run = await state.create_run("clock-1", "wf", "null")
    await state.insert_step(NewStep("clock-1", "s", "rpc", "f", "null"))
    claimed = await state.claim_step("clock-1", "s", "w", 10.0)
    after = await state.now()
    assert claimed is not None and claimed.lease_until is not None
    assert before <= run.created_at <= after
    assert before + 10.0 <= claimed.lease_until <= after + 10.0


async def test_now_moves_forward(state: StateStore) -> None:
    """Two readings a moment apart: the second is later."""
    first = await state.now()
    await asyncio.sleep(0.02)
    assert await state.now() > first


async def test_a_callers_skewed_clock_moves_neither_now_nor_stamps(state: StateStore) -> None:
    """A caller whose clock is an hour ahead (set after the store was opened) sees the store's own time,
    and the store stamps its writes with that time, not the caller's."""
    token = use_clock(_HourAhead())
    try:
        now = await state.now()
        run = await state.create_run("clock-2", "wf", "null")
    finally:
        reset_clock(token)
    true_time = time.time()  # the servers in these tests run on this host
    assert abs(now - true_time) < 60.0
    assert abs(run.created_at - true_time) < 60.0


async def test_a_caller_an_hour_ahead_steals_no_lease(state: StateStore) -> None:
    """A step claimed for 30 s and a run lock held for 30 s stay held against a caller whose clock is an
    hour ahead: the store judges leases by its own clock."""
    await state.create_run("clock-3", "wf", "null")
    await state.insert_step(NewStep("clock-3", "s", "rpc", "f", "null"))
    assert await state.claim_step("clock-3", "s", "first", 30.0) is not None
    _, steps = await state.lock_run("clock-3", "first", 30.0)
    assert steps is not None
    token = use_clock(_HourAhead())
    try:
        stolen_step = await state.claim_step("clock-3", "s", "skewed", 30.0)
        _, stolen_lock = await state.lock_run("clock-3", "skewed", 30.0)
    finally:
        reset_clock(token)
    assert stolen_step is None
    assert stolen_lock is None
