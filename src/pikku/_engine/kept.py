"""Kept runs: a paused workflow kept alive on the engine that ran its pass (Temporal calls this a sticky
cache), so that the run's next pass here goes on from where it paused instead of replaying every step.

Replay re-runs the workflow from the top at every pass, which makes a run whose steps each pause the pass
(every step through its queue, ``local_steps = false``) quadratic in its steps: its 1,000th pass replays
999 steps. A kept run's next pass reads the run with its lock and only the step it waits on
(``StateStore.lock_run_kept``), checks that the run's step count is the one it knew (a pass elsewhere
would have recorded more) and that it was not resumed meanwhile, and sends the workflow on. Anything else
drops the kept workflow (it unwinds where it waits, touching nothing) and the pass replays as always, so
a kept run is only ever a shortcut: never the only copy of anything.

Bounded: at most ``capacity`` runs are kept, each for at most ``idle_s`` seconds between two passes; the
oldest go first.

How a kept workflow waits between passes: :mod:`pikku._engine.inplace`.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from pikku._engine.context import WorkflowContext
from pikku._engine.inplace import WorkflowDriver
from pikku._records import RunRecord


@dataclass(slots=True)
class KeptRun:
    """A paused workflow waiting in place for its run's next pass on this engine."""

    ctx: WorkflowContext
    #: The workflow function's coroutine, suspended where it waits.
    driver: WorkflowDriver
    #: The run's step count the workflow knew when it paused, and the run's resume count then.
    step_count: int
    resumes: int
    #: The run's start: a run id used again after a purge is another run.
    created_at: float
    kept_at: float = field(default_factory=time.monotonic)

    def still_valid(self, run: RunRecord) -> bool:
        """Whether the run as just locked is the one the workflow paused in (not resumed since)."""
        return run.resumes == self.resumes and run.created_at == self.created_at


class KeptRuns:
    """The engine's kept runs, by run id, oldest first."""

    def __init__(self, capacity: int, idle_s: float) -> None:
        self.capacity = capacity
        self.idle_s = idle_s
        self._runs: OrderedDict[str, KeptRun] = OrderedDict()
        self._dropping: set[asyncio.Task[None]] = set()

    @property
    def enabled(self) -> bool:
        """Whether this engine keeps runs at all (``Settings.kept_runs`` > 0)."""
        return self.capacity > 0

    def __len__(self) -> int:
        return len(self._runs)

    def take(self, run_id: str) -> KeptRun | None:
        """The kept run for a pass about to start (removed: the pass keeps it again, or drops it); None
        for one kept longer than ``idle_s`` (dropped)."""
        kept = self._runs.pop(run_id, None) if self._runs else None
        if kept is not None and time.monotonic() - kept.kept_at > self.idle_s:
            self.drop(kept)
            return None
        return kept

    def peek(self, run_id: str) -> KeptRun | None:
        """The run's kept workflow, left kept (None: none)."""
        return self._runs.get(run_id)

    def holds(self, kept: KeptRun) -> bool:
        """Whether ``kept``'s workflow is kept (again, by the pass that took it)."""
        held = self._runs.get(kept.ctx.run_id)
        return held is not None and held.driver is kept.driver

    def discard(self, run_id: str) -> None:
        """Drop the run's kept workflow, if one is kept."""
        kept = self._runs.pop(run_id, None)
        if kept is not None:
            self.drop(kept)

    def expire(self) -> None:
        """Drop the runs kept longer than ``idle_s`` (a worker with nothing to do calls this)."""
        cutoff = time.monotonic() - self.idle_s
        while self._runs and next(iter(self._runs.values())).kept_at < cutoff:
            self.drop(self._runs.popitem(last=False)[1])

    def keep(self, run_id: str, kept: KeptRun) -> None:
        """Keep a paused workflow; the oldest kept runs beyond the capacity or the idle time are dropped."""
        self._runs[run_id] = kept
        cutoff = kept.kept_at - self.idle_s
        while self._runs:
            oldest = next(iter(self._runs.values()))
            if len(self._runs) <= self.capacity and oldest.kept_at >= cutoff:
                break
            self.drop(self._runs.popitem(last=False)[1])

    def drop(self, kept: KeptRun) -> None:
        """Unwind a kept workflow, in a task of its own (awaited by :meth:`close`): it raises the pause where
        it waits, and every workflow call it makes after that raises at once (it holds no lock)."""
        if kept.ctx.unwinding:  # dropped already (drops are idempotent: one unwind per workflow)
            return
        kept.ctx.unwinding = True
        if kept.driver.ended:
            return
        task = asyncio.ensure_future(kept.driver.unwind(kept.ctx.run_id))
        self._dropping.add(task)
        task.add_done_callback(self._dropping.discard)

    async def unwound(self, timeout: float | None = None) -> None:
        """Wait until every dropped workflow has unwound (at most ``timeout`` seconds: a workflow's own
        ``finally`` that awaits for ever must not hold a stopping worker)."""
        if self._dropping:
            await asyncio.wait(set(self._dropping), timeout=timeout)

    async def close(self, timeout: float = 10.0) -> None:
        """Drop every kept run and wait until their workflows have unwound (at most ``timeout`` seconds)."""
        while self._runs:
            self.drop(self._runs.popitem()[1])
        await self.unwound(timeout)
