"""PostgreSQL's transitions: the step's settle, its hand-off job and the acknowledgement of the job that
did the work commit in one statement (the jobs table lives in the same schema)."""

from __future__ import annotations

from pikku._records import Enqueue, ErrorInfo, Job, NewStep, StepRecord, Take, TakenSettle
from pikku.backends._transitions import SharedTransaction
from pikku.backends.postgres.store import PostgresStateStore


class PostgresTransitions(SharedTransaction):
    """:class:`SharedTransaction` with the ack inside the same statement: one round trip fewer per job."""

    state: PostgresStateStore

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
        """Result, hand-off and ack: one statement."""
        return await self.state.complete_step(
            run_id, name, result_json, result_type=result_type, handoff=handoff, owner=owner, ack=ack
        )

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
        """Failed attempt, hand-off and ack: one statement."""
        return await self.state.fail_step(run_id, name, error, retry_at=retry_at, handoff=handoff, owner=owner, ack=ack)

    async def release_run_lock(self, run_id: str, owner: str, *, ack: Job | None = None, waiting: bool = False) -> None:
        """The lock's release (and the run left waiting) and the ack of the job that drove the pass: one statement."""
        await self.state.release_run_lock(run_id, owner, ack=ack, waiting=waiting)

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
        """Result, the hand-off written claimed by this worker, the ack (and the run lock): one statement."""
        return await self.state.complete_step_taking(
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
        """The step and its job (both claimed by this worker), the release and the ack: one statement."""
        return await self.state.release_run_lock_dispatching(
            run_id, owner, ack=ack, waiting=waiting, step=step, job=job, take=take
        )
