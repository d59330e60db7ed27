"""PostgreSQL's transitions: the step's settle, its hand-off job and the acknowledgement of the job that
did the work commit in one statement (the jobs table lives in the same schema)."""

from __future__ import annotations

from pikku._records import Enqueue, ErrorInfo, Job
from pikku.backends._transitions import TakingTransaction
from pikku.backends.postgres.store import PostgresStateStore


class PostgresTransitions(TakingTransaction):
    """:class:`TakingTransaction` with the ack inside every statement: one round trip fewer per job."""

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
