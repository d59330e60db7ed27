"""``StateStore.count_runs()``: runs by status, kept right through every transition, on every backend."""

from __future__ import annotations

import inspect
from typing import Any

from pikku._records import ErrorInfo
from pikku.backends._contract import StateStore


def _nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {status: n for status, n in counts.items() if n}


async def test_an_empty_store_counts_nothing(state: StateStore) -> None:
    """No runs: no status with runs."""
    assert _nonzero(await state.count_runs()) == {}


async def test_counts_follow_every_transition(state: StateStore) -> None:
    """Created runs count as running; settling, resuming and deleting move or remove them."""
    for i in range(6):
        await state.create_run(f"count-{i}", "wf-a" if i % 2 else "wf-b", "null")
    assert _nonzero(await state.count_runs()) == {"running": 6}
    await state.complete_run("count-0", "1")
    await state.complete_run("count-1", "1")
    await state.fail_run("count-2", ErrorInfo("boom", "RuntimeError"))
    await state.cancel_run("count-3")
    assert _nonzero(await state.count_runs()) == {"running": 2, "completed": 2, "failed": 1, "cancelled": 1}
    assert await state.resume_run("count-2")
    assert _nonzero(await state.count_runs()) == {"running": 3, "completed": 2, "cancelled": 1}
    deleted = await state.delete_runs(before=float("inf"), statuses=["completed"], limit=10)
    assert sorted(deleted) == ["count-0", "count-1"]
    assert _nonzero(await state.count_runs()) == {"running": 3, "cancelled": 1}


async def test_a_status_the_code_does_not_know_is_counted(state: StateStore) -> None:
    """A run the store's own settle path moved to a status added later (``waiting``) is counted under it,
    without any code naming that status."""
    await state.create_run("count-new-1", "wf", "null")
    await state.create_run("count-new-2", "wf", "null")
    private: Any = state
    result = private._settle("count-new-1", "waiting", None, None)  # the path every status change takes
    if inspect.isawaitable(result):
        await result
    assert _nonzero(await state.count_runs()) == {"running": 1, "waiting": 1}
