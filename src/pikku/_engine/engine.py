"""The engine: starts runs, replays them under the run lock, executes steps, hands off between workers.

Remote mode: the orchestrator job replays the run; an RPC step not done yet is inserted, its job enqueued
and the step marked scheduled, then the pass pauses. The step worker claims the step, runs the rpc, and
stores the result together with the orchestrator hand-off (one transaction where the backend allows).
Inline mode: the caller of ``start`` drives the passes itself and every step runs in its process.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

from pikku import _serde
from pikku._backend import Backend
from pikku._clock import now
from pikku._engine import retry as retry_policy
from pikku._engine.context import BackendFault, WorkflowContext, return_type
from pikku._engine.jobs import orchestrate_job, step_job
from pikku._engine.leases import LeaseKeeper
from pikku._errors import (
    RunNotFoundError,
    StepFailedError,
    StepNotFoundError,
    UnknownRPCError,
    UnknownWorkflowError,
    WorkflowAsyncException,
)
from pikku._records import (
    SETTLED_RUN_STATUSES,
    Enqueue,
    ErrorInfo,
    Job,
    NewStep,
    RunRecord,
    StepForm,
    StepRecord,
)
from pikku._registry import WorkflowDef, get_function, get_workflow
from pikku._services import RPC, Services, StepContext, call_function, validate_input

log = logging.getLogger("pikku.engine")

#: Whether the worker running a pass serves a queue (so it can run that queue's steps itself).
Serves = Callable[[str], bool]

_CURRENT_STEP: contextvars.ContextVar[StepContext | None] = contextvars.ContextVar("pikku_step", default=None)


def current_step() -> StepContext | None:
    """The step execution running in this task (inline steps and rpc steps alike), if any."""
    return _CURRENT_STEP.get()


@dataclass(slots=True)
class Settings:
    """Engine timings and limits; defaults suit production, tests shorten them."""

    run_lock_lease: float = 30.0
    step_lease: float = 30.0
    lock_busy_delay: float = 0.05
    inline_watchdog: float = 60.0
    default_retries: int = retry_policy.DEFAULT_RETRIES
    payload_limit: int = _serde.DEFAULT_PAYLOAD_LIMIT
    #: A worker that serves a remote rpc step's queue runs the step itself, inside the pass that reached
    #: it, instead of a queue job and a hand-off (see :meth:`Engine.run_rpc_here`). Off: every remote
    #: step goes through its queue.
    local_steps: bool = True


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one orchestration attempt ended."""

    kind: Literal["completed", "failed", "paused", "settled", "busy", "missing"]
    wake_at: float | None = None
    #: The job that drove the pass was acknowledged with the run lock's release (``ack=`` of orchestrate).
    acked: bool = False


#: What :meth:`Engine.handle_job` returns when the job was acknowledged inside the transition that ended
#: its work (a store with ``supports_ack``): the worker must not ack or release it again.
ACKED: Final = "acked"
#: How a job ended: None (ack it), seconds (release it for another look after that delay), or ACKED.
Disposition = float | Literal["acked"] | None


class Engine:
    """Runs workflows against one backend with one set of app services."""

    def __init__(
        self,
        backend: Backend,
        app_services: Any = None,
        settings: Settings | None = None,
        owner: str | None = None,
    ) -> None:
        self.backend = backend
        self.state = backend.state
        self.queue = backend.queue
        self.app = app_services
        self.settings = settings or Settings()
        self.owner = owner or f"pikku-{uuid.uuid4().hex[:12]}"
        self.rpc = RPC(app_services)
        # Runs with a pass in progress in this engine. The run lock is re-entrant for its owner (renewals,
        # an inline driver), so without this two hand-offs of one run claimed by one worker would replay
        # it at the same time under the same owner.
        self._passing: set[str] = set()

    def max_attempts(self, wf: WorkflowDef, retries: int | None) -> int:
        """The one resolved attempt budget: step setting, else workflow default, else engine default."""
        for value in (retries, wf.retries, self.settings.default_retries):
            if value is not None:
                return max(0, value) + 1
        return 1

    # -- starting -------------------------------------------------------------------------------------
    async def start(self, workflow: str, data: Any, *, run_id: str | None = None) -> str:
        """Validate input, create the run, and queue it (remote) or drive it to the end (inline)."""
        wf = get_workflow(workflow)
        value = validate_input(wf.function, data)
        input_json = _serde.encode(
            value, wf.function.input_type, what=f"input of workflow {workflow!r}", limit=self.settings.payload_limit
        )
        run_id = run_id or uuid.uuid4().hex
        # Remote: the orchestrator job. Inline: a delayed watchdog job, so that a worker finishes the run
        # if this process dies while driving it (it finds the run settled and does nothing otherwise).
        delay = self.settings.inline_watchdog if wf.execution_mode == "inline" else 0.0
        first = orchestrate_job(wf, run_id, now(), delay)
        # An inline run is created already locked by its driver: one round trip fewer per run.
        owner = self.owner if wf.execution_mode == "inline" else None
        lease = self.settings.run_lock_lease
        handoff = first if self.state.supports_handoff else None
        created = await self.state.create_run(
            run_id, workflow, input_json, handoff=handoff, lock_owner=owner, lock_lease=lease
        )
        if handoff is None:
            await self.put(first)
        if wf.execution_mode == "inline":
            await self.drive_inline(run_id, fresh=created)
        return run_id

    async def drive_inline(self, run_id: str, *, fresh: RunRecord | None = None) -> Outcome:
        """Replay until the run settles, sleeping in-process through durable sleeps and retry delays."""
        while True:
            outcome = await self.orchestrate(run_id, fresh=fresh)
            fresh = None
            if outcome.kind in ("completed", "failed", "settled", "missing"):
                return outcome
            if outcome.kind == "busy":
                await asyncio.sleep(self.settings.lock_busy_delay)
            elif outcome.wake_at is not None:
                await asyncio.sleep(max(0.0, outcome.wake_at - now()))
            else:  # waiting on a step someone else runs (the run was started in remote mode)
                await asyncio.sleep(0.1)

    # -- orchestration ---------------------------------------------------------------------------------
    async def orchestrate(
        self, run_id: str, *, fresh: RunRecord | None = None, serves: Serves | None = None, ack: Job | None = None
    ) -> Outcome:
        """One replay pass under the run lock; settled runs are left alone without taking the lock.

        ``fresh`` is the record of a run this engine has just created holding its lock: it has no steps
        yet, so the first pass skips taking the lock and reading the run and its steps. ``serves`` tells
        which step queues the calling worker serves: their rpc steps run inside this pass. ``ack`` (a store
        with ``supports_ack``) is the job driving the pass: a pass that pauses with nothing to wake it
        acknowledges it with the lock's release (``Outcome.acked``).
        """
        if run_id in self._passing:
            return Outcome("busy")
        self._passing.add(run_id)
        try:
            return await self._orchestrate(run_id, fresh, serves, ack)
        finally:
            self._passing.discard(run_id)

    async def _orchestrate(
        self, run_id: str, fresh: RunRecord | None, serves: Serves | None, ack: Job | None
    ) -> Outcome:
        lease = self.settings.run_lock_lease
        steps: dict[str, StepRecord] | None
        try:
            if fresh is not None:
                run, steps = fresh, {}
            else:  # the lock, the run and all its steps: one round trip where the backend allows
                run, steps = await self.state.lock_run(run_id, self.owner, lease)
        except RunNotFoundError:
            return Outcome("missing")
        if run.status in SETTLED_RUN_STATUSES:
            return Outcome("settled")
        if steps is None:
            return Outcome("busy")
        renewer = LeaseKeeper(
            lambda: self.state.renew_run_lock(run_id, self.owner, lease), lease, f"run lock of {run_id}"
        )
        outcome, passed = Outcome("paused"), False
        try:
            outcome = await self._pass(run, steps, serves)
            passed = True
        finally:
            renewer.cancel()
            if outcome.kind not in ("completed", "failed"):  # settling the run released the lock
                # A pass that pauses with a wake-up job still to put keeps its job until that is put.
                merge = passed and ack is not None and outcome.kind == "paused" and outcome.wake_at is None
                await self.state.release_run_lock(run_id, self.owner, ack=ack if merge else None)
                if merge:
                    outcome = Outcome(outcome.kind, outcome.wake_at, acked=True)
        if outcome.kind == "paused" and outcome.wake_at is not None:
            wf = get_workflow(run.workflow)
            await self.put(orchestrate_job(wf, run_id, run.created_at, max(0.0, outcome.wake_at - now())))
        return outcome

    async def put(self, job: Enqueue) -> None:
        """Enqueue a job (for hand-offs the store cannot take itself)."""
        await self.queue.enqueue(job.queue, job.payload, delay=job.delay, priority=job.priority)

    async def _pass(
        self, run: RunRecord, steps: dict[str, StepRecord] | None = None, serves: Serves | None = None
    ) -> Outcome:
        wf = get_workflow(run.workflow)
        if steps is None:
            steps = await self.state.get_steps(run.run_id)
        local = serves if self.settings.local_steps else None
        ctx = WorkflowContext(self, wf, run, steps, local)
        services = Services(self.app, rpc=self.rpc, workflow=ctx)
        try:
            data = _serde.decode(run.input_json, wf.function.input_type)
            output = await _call(wf.func, services, data, wf.function.takes_data)
            output_json = _serde.encode(
                output,
                wf.function.output_type,
                what=f"output of workflow {wf.name!r}",
                limit=self.settings.payload_limit,
            )
        except WorkflowAsyncException:
            await _join_siblings(ctx)
            return Outcome("paused", ctx.wake_at)
        except BackendFault as fault:
            # The store or queue failed under the workflow: not the workflow's failure. The run stays
            # running and the job that drove this pass is tried again.
            await _join_siblings(ctx)
            raise fault.error from fault
        except Exception as exc:
            await _join_siblings(ctx)
            await self.state.fail_run(run.run_id, _run_error(exc))
            return Outcome("failed")
        await _join_siblings(ctx)
        await self.state.complete_run(run.run_id, output_json)
        return Outcome("completed")

    # -- steps dispatched to queue workers ------------------------------------------------------------
    async def dispatch_step(
        self,
        wf: WorkflowDef,
        run_id: str,
        name: str,
        rpc_name: str,
        data_json: str | None,
        attempts: int,
        retry_delay: float | None = None,
        priority: float | None = None,
    ) -> StepRecord:
        """Put the step and its job in place: one write where state and queue share a database.

        Otherwise insert (pending), enqueue, then mark scheduled, in that order: a crash in between leaves
        the step pending and the next pass dispatches it again.
        """
        get_function(rpc_name)  # an unknown rpc fails the pass here, not later on a worker
        job = step_job(wf, run_id, name, rpc_name, priority, retry_delay)
        if self.state.supports_handoff:
            new = NewStep(run_id, name, "rpc", rpc_name, data_json, "scheduled", max_attempts=attempts)
            rec = await self.state.insert_step(new, handoff=job)
        else:
            new = NewStep(run_id, name, "rpc", rpc_name, data_json, "pending", max_attempts=attempts)
            rec = await self.state.insert_step(new)
        if rec.status != "pending":
            return rec
        await self.put(job)
        await self.state.mark_step_scheduled(run_id, name)
        rec.status = "scheduled"
        return rec

    async def run_step_job(self, payload: dict[str, Any], *, ack: Job | None = None) -> Disposition:
        """Execute a queued rpc step once; returns None to ack the job or a delay to look again later.

        With ``ack`` (a store with ``supports_ack``) the step's settle acknowledges that job too: ACKED."""
        run_id, name = payload["run_id"], payload["step"]
        wf = get_workflow(payload["workflow"])
        try:
            # Refused (None) for a settled run, so a cancelled run's steps never start.
            rec = await self.state.claim_step(run_id, name, self.owner, self.settings.step_lease)
        except (RunNotFoundError, StepNotFoundError):
            log.warning("step job for missing run or step %s/%s dropped", run_id, name)
            return None
        if rec is None:
            return await self._unclaimable(wf, run_id, name, payload.get("priority"))
        handoff = orchestrate_job(wf, run_id, payload.get("priority"))
        step = StepContext(run_id, wf.name, name, rec.attempts)
        renewer = self._renew_step(run_id, name)
        try:
            fn = get_function(rec.rpc_name or "")
            value = await self._invoke(fn.rpc_name, rec.data_json, step)
            result_json = _serde.encode(
                value, fn.output_type, what=f"step {name!r} of run {run_id!r}", limit=self.settings.payload_limit
            )
        except Exception as exc:
            renewer.cancel()
            await self._step_failed(wf, rec, exc, payload, handoff, ack)
            return None if ack is None else ACKED
        finally:  # also on cancellation (a stopping worker): never renew a lease nobody works under
            renewer.cancel()
        await self._store_result(run_id, name, result_json, None, handoff, ack)
        return None if ack is None else ACKED

    def _renew_step(self, run_id: str, name: str) -> LeaseKeeper:
        lease = self.settings.step_lease
        return LeaseKeeper(
            lambda: self.state.renew_step_lease(run_id, name, self.owner, lease), lease, f"step {name} of {run_id}"
        )

    async def run_rpc_here(
        self,
        ctx: WorkflowContext,
        name: str,
        rpc_name: str,
        data: Any,
        rec: StepRecord | None,
        attempts: int,
        retry_delay: float | None,
    ) -> Any:
        """Run a remote rpc step in this worker, inside the pass, and return its value to the workflow.

        Only for a worker that serves the step's queue: it would claim the step's job itself anyway. Here
        there is no job and no hand-off: the step is inserted and claimed, run, and its result stored, and
        the pass goes on (no replay from the top). Durable all the same: the orchestrator job of this pass
        stays leased, so if the process dies, the job is delivered again and that replay finds the step
        ``running`` under a lease that runs out, and runs it again (see ``WorkflowContext._remote``).
        """
        fn = get_function(rpc_name)  # an unknown rpc fails the pass here
        claimed: StepRecord | None = None
        if rec is None:  # inserted already claimed: one write. Under the run lock, and with one pass per
            # run in this engine (see orchestrate), nobody else inserts it meanwhile: a record running
            # under our owner with one attempt is the one this call made.
            data_json = _serde.encode(data, what=f"input of step {name!r}")
            new = NewStep(
                ctx.run_id,
                name,
                "rpc",
                rpc_name,
                data_json,
                "running",
                max_attempts=attempts,
                lease_owner=self.owner,
                lease_s=self.settings.step_lease,
            )
            rec = await self.state.insert_step(new)
            ctx.record(rec)
            if rec.status == "running" and rec.lease_owner == self.owner and rec.attempts == 1:
                claimed = rec
        if claimed is None:
            claimed = await self.state.claim_step(ctx.run_id, name, self.owner, self.settings.step_lease)
        if claimed is None:  # taken by a job's worker meanwhile: its hand-off replays the run
            raise WorkflowAsyncException(ctx.run_id, f"step {name!r} is held elsewhere")
        step = StepContext(ctx.run_id, ctx.workflow_name, name, claimed.attempts)
        renewer = self._renew_step(ctx.run_id, name)
        try:
            value = await self._invoke(rpc_name, claimed.data_json, step)
            result_json = _serde.encode(
                value, fn.output_type, what=f"step {name!r} of run {ctx.run_id!r}", limit=self.settings.payload_limit
            )
        except Exception as exc:
            renewer.cancel()
            raise await self._local_failed(ctx, claimed, exc, retry_delay) from exc
        finally:
            renewer.cancel()
        if not await self.state.complete_step(ctx.run_id, name, result_json, owner=self.owner):
            raise WorkflowAsyncException(ctx.run_id, f"step {name!r} was taken over")
        return _serde.decode(result_json, fn.output_type)

    async def _local_failed(
        self, ctx: WorkflowContext, rec: StepRecord, exc: Exception, retry_delay: float | None
    ) -> BaseException:
        """Record a failed local attempt; what to raise into the workflow: the failure, or a pause.

        A retry goes through the step's queue like any remote retry: a delayed step job, whose hand-off
        replays the run when it is done.
        """
        error = retry_policy.error_info(exc)
        run_id, name = rec.run_id, rec.name
        delay = retry_policy.next_delay(exc, rec.attempts, rec.max_attempts, retry_delay)
        if delay is None:
            if await self.state.fail_step(run_id, name, error, owner=self.owner):
                return StepFailedError(run_id, name, error)
            return WorkflowAsyncException(run_id, f"step {name!r} was taken over")
        job = step_job(ctx.workflow_def, run_id, name, rec.rpc_name or "", ctx.priority, retry_delay)
        again = Enqueue(job.queue, job.payload, delay, job.priority)
        if self.state.supports_handoff:
            await self.state.fail_step(run_id, name, error, retry_at=now() + delay, handoff=again, owner=self.owner)
        else:  # the job first: a crash in between leaves a job for a step still running under our lease
            await self.put(again)
            await self.state.fail_step(run_id, name, error, retry_at=now() + delay, owner=self.owner)
        return WorkflowAsyncException(run_id, f"step {name!r} failed; retrying")

    async def _unclaimable(self, wf: WorkflowDef, run_id: str, name: str, priority: float | None) -> float | None:
        current = await self.state.get_step(run_id, name)
        if current.status == "running" and current.lease_until is not None:
            # Held by a worker that may have died: look again once its lease can have expired.
            return max(0.05, current.lease_until - now() + 0.05)
        if current.status in ("done", "failed") and not self.state.supports_handoff:
            # The worker that settled it may have died between storing and enqueuing the hand-off
            # (separate state and queue backends): send it again; a spare replay is harmless.
            await self.put(orchestrate_job(wf, run_id, priority))
        return None

    async def _invoke(self, rpc_name: str, data_json: str | None, step: StepContext) -> Any:
        fn = get_function(rpc_name)
        data = _serde.decode(data_json or "null")
        token = _CURRENT_STEP.set(step)
        try:
            return await call_function(fn, Services(self.app, rpc=self.rpc, step=step), data)
        finally:
            _CURRENT_STEP.reset(token)

    async def _step_failed(
        self,
        wf: WorkflowDef,
        rec: StepRecord,
        exc: Exception,
        payload: dict[str, Any],
        handoff: Enqueue,
        ack: Job | None,
    ) -> None:
        error = retry_policy.error_info(exc)
        delay = retry_policy.next_delay(exc, rec.attempts, rec.max_attempts, payload.get("retry_delay"))
        if delay is not None:
            again = Enqueue(wf.step_queue(rec.name), payload, delay, payload.get("priority"))
            await self._transition(self.state.fail_step, rec.run_id, rec.name, error, now() + delay, again, ack)
        else:
            await self._transition(self.state.fail_step, rec.run_id, rec.name, error, None, handoff, ack)

    async def _store_result(
        self,
        run_id: str,
        name: str,
        result_json: str,
        result_type: str | None,
        handoff: Enqueue,
        ack: Job | None = None,
    ) -> None:
        # owner=: if another worker took the step over (our lease ran out), our result is not stored.
        if self.state.supports_handoff:
            stored = await self.state.complete_step(
                run_id, name, result_json, result_type=result_type, handoff=handoff, owner=self.owner, ack=ack
            )
        elif stored := await self.state.complete_step(
            run_id, name, result_json, result_type=result_type, owner=self.owner
        ):
            await self.put(handoff)
        if not stored:
            log.warning("step %s of run %s was taken over or settled elsewhere; result not stored", name, run_id)

    async def _transition(
        self,
        fail_step: Callable[..., Any],
        run_id: str,
        name: str,
        error: ErrorInfo,
        retry_at: float | None,
        handoff: Enqueue,
        ack: Job | None = None,
    ) -> None:
        if self.state.supports_handoff:
            await fail_step(run_id, name, error, retry_at=retry_at, handoff=handoff, owner=self.owner, ack=ack)
        elif await fail_step(run_id, name, error, retry_at=retry_at, owner=self.owner):
            await self.put(handoff)

    # -- steps executed in the orchestrator -----------------------------------------------------------
    async def execute_here(
        self,
        ctx: WorkflowContext,
        name: str,
        form: StepForm,
        target: str | Callable[[], Any],
        data: Any,
        rec: StepRecord | None,
        attempts: int,
        fixed_delay: float | None,
    ) -> Any:
        """Run an inline-form step (or any step in inline mode) in this process and store its result."""
        rpc_name = target if isinstance(target, str) else None
        if rec is not None:
            claimed = await self.state.claim_step(ctx.run_id, name, self.owner, self.settings.step_lease)
            if claimed is None:
                raise WorkflowAsyncException(ctx.run_id, f"step {name!r} is held elsewhere")
            rec = claimed
        attempt = rec.attempts if rec is not None else 1
        step = StepContext(ctx.run_id, ctx.workflow_name, name, attempt)
        data_json = _serde.encode(data, what=f"input of step {name!r}") if rpc_name else None
        try:
            value, tp = await self._run_here(target, data_json, step)
            tag = _serde.type_tag(value) if _serde.is_any(tp) else None
            result_json = _serde.encode(
                value, tp, what=f"step {name!r} of run {ctx.run_id!r}", limit=self.settings.payload_limit
            )
        except WorkflowAsyncException:
            raise
        except Exception as exc:
            new = NewStep(ctx.run_id, name, form, rpc_name, data_json, max_attempts=attempts)
            await self._inline_failed(ctx, rec, new, exc, fixed_delay)
            raise AssertionError("unreachable") from exc
        if rec is None:
            new = NewStep(
                ctx.run_id,
                name,
                form,
                rpc_name,
                data_json,
                "done",
                attempts,
                result_json=result_json,
                result_type=tag,
            )
            ctx.record(await self.state.insert_step(new))
        else:
            await self.state.complete_step(ctx.run_id, name, result_json, result_type=tag, owner=self.owner)
        return _serde.decode(result_json, tp, tag)

    async def _run_here(
        self, target: str | Callable[[], Any], data_json: str | None, step: StepContext
    ) -> tuple[Any, Any]:
        if isinstance(target, str):
            return await self._invoke(target, data_json, step), get_function(target).output_type
        token = _CURRENT_STEP.set(step)
        try:
            value = target()
            if inspect.isawaitable(value):
                value = await value
        finally:
            _CURRENT_STEP.reset(token)
        return value, return_type(target)

    async def _inline_failed(
        self, ctx: WorkflowContext, rec: StepRecord | None, new: NewStep, exc: Exception, fixed: float | None
    ) -> None:
        if rec is None:  # first attempt ran before any write: record it now (one attempt, started + failed)
            await self.state.insert_step(new)
            rec = await self.state.claim_step(ctx.run_id, new.name, self.owner, self.settings.step_lease)
            assert rec is not None
        error = retry_policy.error_info(exc)
        delay = retry_policy.next_delay(exc, rec.attempts, rec.max_attempts, fixed)
        retry_at = None if delay is None else now() + delay
        await self.state.fail_step(ctx.run_id, new.name, error, retry_at=retry_at, owner=self.owner)
        if retry_at is not None:
            raise ctx.pause_for_retry(new.name, retry_at) from exc
        raise StepFailedError(ctx.run_id, new.name, error) from exc

    # -- queue jobs -----------------------------------------------------------------------------------
    async def handle_job(self, job: Job, serves: Serves | None = None) -> Disposition:
        """Process one job; None means ack it, a number means release it for another look after that delay,
        :data:`ACKED` that it was acknowledged already, with the write that ended its work.

        ``serves``: the queues the calling worker serves (see :meth:`orchestrate`).
        """
        kind = job.payload.get("kind")
        ack = job if self.state.supports_ack and self.state.supports_handoff else None
        try:
            if kind == "orchestrate":
                outcome = await self.orchestrate(job.payload["run_id"], serves=serves, ack=ack)
                if outcome.kind == "busy":  # back off: the holder may be in a long inline step
                    return min(5.0, self.settings.lock_busy_delay * 2.0 ** max(0, job.attempts - 1))
                return ACKED if outcome.acked else None
            if kind == "step":
                return await self.run_step_job(job.payload, ack=ack)
        except (UnknownWorkflowError, UnknownRPCError) as exc:
            # Nothing can handle it in this process; another deployment might, so do not drop it.
            log.error("job %s on %s cannot be handled here: %s", job.id, job.queue, exc)
            return 5.0
        log.error("job %s on %s has an unknown kind %r; dropped", job.id, job.queue, kind)
        return None


async def _call(func: Callable[..., Any], services: Services, data: Any, takes_data: bool) -> Any:
    result = func(services, data) if takes_data else func(services)
    if inspect.isawaitable(result):
        result = await result
    return result


async def _join_siblings(ctx: WorkflowContext) -> None:
    """Wait for tasks the workflow spawned that still reach steps, so none outlives the run lock."""
    me = asyncio.current_task()
    while pending := [t for t in ctx.tasks if t is not me and not t.done()]:
        await asyncio.gather(*pending, return_exceptions=True)


def _run_error(exc: Exception) -> ErrorInfo:
    if isinstance(exc, StepFailedError):
        err = step_error_info(exc)
        return ErrorInfo(f"step {exc.step!r} failed: {err.message}", err.type, err.stack, err.code)
    return retry_policy.error_info(exc)


def step_error_info(exc: StepFailedError) -> ErrorInfo:
    """The stored error of the failed step behind ``exc``."""
    return exc.error if isinstance(exc.error, ErrorInfo) else ErrorInfo(str(exc.error), "UnknownError")


__all__ = ["ACKED", "Engine", "Outcome", "Settings", "current_step"]
