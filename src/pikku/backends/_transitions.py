"""The two ways a backend moves a run on: in one transaction, or write-then-enqueue.

:class:`SharedTransaction` is for a store that shares its database with the queue (opened as a pair by
one URL): the store writes the step and its hand-off job together. :class:`WriteThenEnqueue` is for a
store and a queue that live apart (mixed URLs, the file backend): the write first, then the enqueue, so a
crash in between leaves a settled step without its hand-off, which the step job's redelivery
(:meth:`resend_handoff`) and the recovery sweep repair. Both acknowledge a job given as ``ack`` after
the write; a backend that can do that inside the write too (PostgreSQL) refines :class:`SharedTransaction`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol, runtime_checkable

from pikku._records import Enqueue, ErrorInfo, Job, NewStep, RunRecord, SendResult, StepRecord, Take, TakenSettle
from pikku.backends._contract import JobQueue, StateStore


class _Base:
    def __init__(self, state: StateStore, queue: JobQueue) -> None:
        self.state = state
        self.queue = queue

    async def enqueue(self, job: Enqueue) -> None:
        """Put a job on its queue."""
        await self.queue.enqueue(job.queue, job.payload, delay=job.delay, priority=job.priority, key=job.key)

    async def _ack(self, job: Job | None) -> None:
        if job is not None:
            await self.queue.ack(job)

    async def release_run_lock(self, run_id: str, owner: str, *, ack: Job | None = None, waiting: bool = False) -> None:
        """Free the run lock (leaving the run ``waiting`` when asked), then acknowledge the job that drove the pass."""
        await self.state.release_run_lock(run_id, owner, waiting=waiting)
        await self._ack(ack)

    # Each way defines these two; the declined local hand-offs below are built on them.
    async def dispatch_step(self, step: NewStep, job: Enqueue) -> StepRecord:
        raise NotImplementedError

    async def settle_step(
        self,
        run_id: str,
        name: str,
        result_json: str,
        *,
        result_type: str | None = None,
        owner: str | None = None,
        handoff: Enqueue | None = None,
        ack: Job | None = None,
    ) -> bool:
        raise NotImplementedError

    async def settle_step_taking(
        self,
        run_id: str,
        name: str,
        result_json: str,
        *,
        result_type: str | None = None,
        owner: str | None = None,
        handoff: Enqueue,
        ack: Job | None = None,
        take: Take,
        lock_lease: float | None = None,
    ) -> TakenSettle:
        """Declined: settled as :meth:`settle_step` does it, the hand-off left on its queue, nothing locked."""
        stored = await self.settle_step(
            run_id, name, result_json, result_type=result_type, owner=owner, handoff=handoff, ack=ack
        )
        return TakenSettle(stored)

    async def release_run_lock_dispatching(
        self,
        run_id: str,
        owner: str,
        *,
        ack: Job | None = None,
        waiting: bool = False,
        step: NewStep,
        job: Enqueue,
        take: Take,
    ) -> tuple[StepRecord, Job | None]:
        """Declined: the step dispatched as :meth:`dispatch_step` does it, then the release and its ack."""
        rec = await self.dispatch_step(step, job)
        await self.release_run_lock(run_id, owner, ack=ack, waiting=waiting)
        return rec, None


class SharedTransaction(_Base):
    """State and queue in one database: each transition and its hand-off commit together."""

    async def create_run(
        self,
        run_id: str,
        workflow: str,
        input_json: str,
        *,
        first_job: Enqueue,
        lock_owner: str | None = None,
        lock_lease: float = 0.0,
        parent_run_id: str | None = None,
        forked_from: str | None = None,
    ) -> RunRecord:
        """The run and its first job in one write."""
        return await self.state.create_run(
            run_id, workflow, input_json, handoff=first_job, lock_owner=lock_owner, lock_lease=lock_lease,
            parent_run_id=parent_run_id, forked_from=forked_from,
        )  # fmt: skip

    async def dispatch_step(self, step: NewStep, job: Enqueue) -> StepRecord:
        """The step inserted ``scheduled`` together with its job (nothing if it existed)."""
        return await self.state.insert_step(replace(step, status="scheduled"), handoff=job)

    async def settle_step(
        self,
        run_id: str,
        name: str,
        result_json: str,
        *,
        result_type: str | None = None,
        owner: str | None = None,
        handoff: Enqueue | None = None,
        ack: Job | None = None,
    ) -> bool:
        """The result and the hand-off in one write, then the ack."""
        stored = await self.state.complete_step(
            run_id, name, result_json, result_type=result_type, handoff=handoff, owner=owner
        )
        await self._ack(ack)
        return stored

    async def fail_step(
        self,
        run_id: str,
        name: str,
        error: ErrorInfo,
        *,
        retry_at: float | None = None,
        owner: str | None = None,
        handoff: Enqueue | None = None,
        ack: Job | None = None,
    ) -> bool:
        """The failed attempt and the hand-off (a retry's job, or the replay) in one write, then the ack."""
        recorded = await self.state.fail_step(run_id, name, error, retry_at=retry_at, handoff=handoff, owner=owner)
        await self._ack(ack)
        return recorded

    async def send_event(
        self, run_id: str, name: str, payload_json: str, *, event_id: str | None, wake: Enqueue
    ) -> SendResult:
        """The event and the run's wake-up in one write."""
        return await self.state.send_event(run_id, name, payload_json, event_id=event_id, handoff=wake)

    async def resend_handoff(self, job: Enqueue) -> None:
        """Nothing to repair: the hand-off committed with the step's settle."""


@runtime_checkable
class TakingStore(Protocol):
    """A store that writes the local hand-offs itself, each in one write with its ack (see TakingTransaction)."""

    async def complete_step_taking(
        self,
        run_id: str,
        name: str,
        result_json: str,
        *,
        result_type: str | None,
        owner: str | None,
        handoff: Enqueue,
        ack: Job | None,
        take: Take,
        lock_lease: float | None = None,
    ) -> TakenSettle: ...

    async def release_run_lock_dispatching(
        self, run_id: str, owner: str, *, ack: Job | None, waiting: bool, step: NewStep, job: Enqueue, take: Take
    ) -> tuple[StepRecord, Job | None]: ...


class TakingTransaction(SharedTransaction):
    """:class:`SharedTransaction` over a store that takes its local hand-offs (a :class:`TakingStore`): the
    settle that takes the hand-off (and may lock the run) and the release that dispatches a step its worker
    takes are each one write of the store, acknowledgement included."""

    def __init__(self, state: StateStore, queue: JobQueue) -> None:
        super().__init__(state, queue)
        if not isinstance(state, TakingStore):
            raise TypeError(f"{type(state).__name__} does not write local hand-offs")
        self._taking: TakingStore = state

    async def settle_step_taking(
        self,
        run_id: str,
        name: str,
        result_json: str,
        *,
        result_type: str | None = None,
        owner: str | None = None,
        handoff: Enqueue,
        ack: Job | None = None,
        take: Take,
        lock_lease: float | None = None,
    ) -> TakenSettle:
        """Result, the hand-off written claimed by this worker, the ack (and the run lock): one write."""
        return await self._taking.complete_step_taking(
            run_id, name, result_json, result_type=result_type, owner=owner, handoff=handoff, ack=ack, take=take,
            lock_lease=lock_lease,
        )  # fmt: skip

    async def release_run_lock_dispatching(
        self,
        run_id: str,
        owner: str,
        *,
        ack: Job | None = None,
        waiting: bool = False,
        step: NewStep,
        job: Enqueue,
        take: Take,
    ) -> tuple[StepRecord, Job | None]:
        """The step and its job (both claimed by this worker), the ack and the release: one write."""
        return await self._taking.release_run_lock_dispatching(
            run_id, owner, ack=ack, waiting=waiting, step=step, job=job, take=take
        )


class WriteThenEnqueue(_Base):
    """State and queue apart: write, then enqueue, then ack (redelivery covers a crash in between)."""

    async def create_run(
        self,
        run_id: str,
        workflow: str,
        input_json: str,
        *,
        first_job: Enqueue,
        lock_owner: str | None = None,
        lock_lease: float = 0.0,
        parent_run_id: str | None = None,
        forked_from: str | None = None,
    ) -> RunRecord:
        """The run, then its first job (a run left without one is found by the recovery sweep)."""
        run = await self.state.create_run(
            run_id, workflow, input_json, lock_owner=lock_owner, lock_lease=lock_lease,
            parent_run_id=parent_run_id, forked_from=forked_from,
        )  # fmt: skip
        await self.enqueue(first_job)
        return run

    async def dispatch_step(self, step: NewStep, job: Enqueue) -> StepRecord:
        """Insert ``pending``, enqueue, then mark ``scheduled``: a crash in between leaves the step pending,
        and the next pass dispatches it again."""
        rec = await self.state.insert_step(replace(step, status="pending"))
        if rec.status != "pending":
            return rec
        await self.enqueue(job)
        await self.state.mark_step_scheduled(step.run_id, step.name)
        rec.status = "scheduled"
        return rec

    async def settle_step(
        self,
        run_id: str,
        name: str,
        result_json: str,
        *,
        result_type: str | None = None,
        owner: str | None = None,
        handoff: Enqueue | None = None,
        ack: Job | None = None,
    ) -> bool:
        """Store the result; only if it was stored, enqueue the hand-off; then the ack."""
        stored = await self.state.complete_step(run_id, name, result_json, result_type=result_type, owner=owner)
        if stored and handoff is not None:
            await self.enqueue(handoff)
        await self._ack(ack)
        return stored

    async def fail_step(
        self,
        run_id: str,
        name: str,
        error: ErrorInfo,
        *,
        retry_at: float | None = None,
        owner: str | None = None,
        handoff: Enqueue | None = None,
        ack: Job | None = None,
    ) -> bool:
        """Record the attempt and enqueue the hand-off, then the ack.

        A retry's job is enqueued before the write: a crash in between leaves a job for a step still held
        under our lease (it is claimed once the lease runs out), whereas the other order could leave a
        step scheduled for a retry that nothing will ever run. A final failure's replay goes after the
        write, and only if the write applied.
        """
        if retry_at is not None and handoff is not None:
            await self.enqueue(handoff)
            recorded = await self.state.fail_step(run_id, name, error, retry_at=retry_at, owner=owner)
        else:
            recorded = await self.state.fail_step(run_id, name, error, retry_at=retry_at, owner=owner)
            if recorded and handoff is not None:
                await self.enqueue(handoff)
        await self._ack(ack)
        return recorded

    async def send_event(
        self, run_id: str, name: str, payload_json: str, *, event_id: str | None, wake: Enqueue
    ) -> SendResult:
        """The event, then the run's wake-up unless it has settled (also after a duplicate: the first send
        may have died between its write and its enqueue)."""
        result = await self.state.send_event(run_id, name, payload_json, event_id=event_id)
        if result != "settled":
            await self.enqueue(wake)
        return result

    async def resend_handoff(self, job: Enqueue) -> None:
        """The worker that settled the step may have died before enqueuing: enqueue it (again)."""
        await self.enqueue(job)


__all__ = ["SharedTransaction", "WriteThenEnqueue"]
