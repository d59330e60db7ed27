"""Redis's transitions: a worker's local hand-offs (the settle that takes its hand-off and may lock the run,
the release that dispatches a step its worker takes) are one script each, acknowledgement included."""

from __future__ import annotations

from pikku._records import Enqueue, Job, NewStep, StepRecord, Take, TakenSettle
from pikku.backends._transitions import SharedTransaction
from pikku.backends.redis.store import RedisStateStore


class RedisTransitions(SharedTransaction):
    """:class:`SharedTransaction` whose local hand-offs are taken (one script each)."""

    state: RedisStateStore

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
        """Result, the hand-off written claimed by this worker, the ack (and the run lock): one script."""
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
        """The step and its job (both claimed by this worker), the ack and the release: one script."""
        return await self.state.release_run_lock_dispatching(
            run_id, owner, ack=ack, waiting=waiting, step=step, job=job, take=take
        )
