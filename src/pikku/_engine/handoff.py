"""Local hand-offs: a worker that writes a job for a queue it serves takes the job itself.

A queued step hands off to its run's next pass, and a pass dispatches the run's next step: each is a job
written for some worker to claim. When the worker writing it serves that queue, the transition writes the
job already claimed by that worker (:class:`~pikku._records.Take`) and the worker goes on with it in the
same slot: no claim statement, no wait for a notice, and the next pass meets the workflow this worker kept
(:mod:`pikku._engine.kept`). The job is as durable as any other: if the worker dies, its lease runs out and
another worker claims it. Workers that do not serve the queue, and backends that decline, leave the job on
its queue as before (``Settings.local_handoff`` turns it off).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from pikku._engine.kept import KeptRun
from pikku._records import Enqueue, Job, NewStep, RunRecord, StepRecord, Take


@dataclass(frozen=True, slots=True)
class Opened:
    """The run as the settle that took its hand-off locked it (``Transitions.settle_step_taking`` with
    ``lock_lease``): its next pass goes on with the workflow kept here without a lock read of its own."""

    run: RunRecord
    #: The run's step count in the store, and the step just settled, as stored.
    step_count: int
    step: StepRecord
    #: The kept workflow the settle was made for.
    kept: KeptRun

    def fits(self, kept: KeptRun | None) -> bool:
        """Whether this is what ``kept``'s next pass would have read: the same kept workflow (no pass here
        took it since), the step count it knew, waiting on this step, in the episode it paused in."""
        return (
            kept is self.kept
            and kept.step_count == self.step_count
            and kept.ctx.waiting_on == self.step.name
            and kept.still_valid(self.run)
        )


@dataclass(frozen=True, slots=True)
class Taken:
    """A job this worker wrote claimed by itself, to process next in the same slot.

    What :meth:`Engine.handle_job` returns when the job it handled is finished (acknowledged) and its work
    wrote the next one taken. ``step``: the step claimed together with a taken step job. ``opened``: the
    run locked together with a taken hand-off.
    """

    job: Job
    step: StepRecord | None = None
    opened: Opened | None = None
    #: When the write that took it began (``time.monotonic``): its leases (the job's, the step's claim, the
    #: run lock) run from about then, so what it holds is trusted only while most of a lease is left.
    taken_at: float = 0.0

    def fresh(self, lease: float) -> bool:
        """Whether less than a third of ``lease`` has passed since the take: a lease keeper started now, whose
        first renewal comes a third of a lease later, renews it before it runs out."""
        return time.monotonic() - self.taken_at < lease / 3


@dataclass(frozen=True, slots=True)
class Deferred:
    """A dispatch a pass will write with its lock's release: the step, its job, and the take for it."""

    step: NewStep
    job: Enqueue
    take: Take


class PassTakes:
    """What one pass may take: at most one job it writes (a slot goes on with one), for a queue served here.

    Only a step the workflow reached alone is taken (:meth:`take_for`): from the pass's own task with no
    task it spawned alive, so the pause that follows ends the pass at once. That step's job is not written
    when the workflow reaches it but with the release of the run lock (:meth:`defer`): this worker runs the
    step right after the pass, and the pass ends with one write instead of two. A step reached while other
    work of the pass goes on (a fan-out) is dispatched at once, to its queue, for any slot to run.
    """

    def __init__(self, serves: Callable[[str], bool], take: Take) -> None:
        self._serves = serves
        self._take = take
        #: The dispatch to write with the release, if any.
        self.pending: Deferred | None = None
        #: The job this pass took, if any.
        self.taken: Taken | None = None

    def take_for(self, queue: str, alone: bool) -> Take | None:
        """The take for a step job on ``queue``, or None: the step was not reached ``alone``, one was taken
        already, or ``queue`` is not served here."""
        if not alone or self.taken is not None or self.pending is not None or not self._serves(queue):
            return None
        return self._take

    def defer(self, step: NewStep, job: Enqueue, take: Take) -> StepRecord:
        """Keep the dispatch for the release; the step as the pass knows it meanwhile (dispatched)."""
        self.pending = Deferred(step, job, take)
        return StepRecord(
            step.run_id, step.name, step.form, "scheduled", step.rpc_name, step.data_json,
            max_attempts=step.max_attempts,
        )  # fmt: skip

    def took(self, job: Job | None, step: StepRecord | None, taken_at: float) -> None:
        """Record what the transition that began at ``taken_at`` returned (None: it declined, or wrote nothing)."""
        if job is not None:
            self.taken = Taken(job, step, taken_at=taken_at)


__all__ = ["Deferred", "Opened", "PassTakes", "Taken"]
