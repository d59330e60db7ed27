"""``lock_run_kept`` for stores with no cheaper way than reading every step: the lock and all steps as
:meth:`~pikku.backends.StateStore.lock_run` returns them, then only the waited-on steps when the count is
unchanged. Correct on any store; the stores whose passes are measured (SQLite, PostgreSQL) count and read
in the database instead, so a kept pass reads one step, not all of them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from pikku._records import RunRecord, StepRecord


def kept_steps(
    steps: dict[str, StepRecord] | None, step_count: int, names: Sequence[str]
) -> tuple[dict[str, StepRecord] | None, bool]:
    """From every step of a locked run (None: not locked), what ``lock_run_kept`` returns with the run."""
    if steps is None or len(steps) != step_count:
        return steps, True
    return {name: steps[name] for name in names if name in steps}, False


LockRun = Callable[[str, str, float], Awaitable[tuple[RunRecord, dict[str, StepRecord] | None]]]


async def lock_run_kept_by_reading(
    lock_run: LockRun, run_id: str, owner: str, lease_s: float, step_count: int, names: Sequence[str]
) -> tuple[RunRecord, dict[str, StepRecord] | None, bool]:
    """``lock_run_kept`` through the store's own ``lock_run``."""
    run, steps = await lock_run(run_id, owner, lease_s)
    kept, whole = kept_steps(steps, step_count, names)
    return run, kept, whole
