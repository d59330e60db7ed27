"""The one step runner: every step attempt (a queue job's, a local rpc step's, an inline step's) is
claimed, kept leased, invoked, encoded, and then settled, or failed and retried, here.

Where a step runs changes only a :class:`Placement`: how it is claimed, and what its settle hands off to.

* ``queue``: a worker took the step's job. Claimed from the store; the settle hands off to the
  orchestrator (a replay) and acknowledges the job, in one write where the backend allows.
* ``local``: a worker that serves the step's queue reached the rpc step inside a pass. Inserted already
  claimed (one write); no hand-off: the pass goes on with the value.
* ``inline``: an inline-form step, or any step of an inline-mode run, run inside the pass. A first attempt
  runs before anything is written and is stored with one insert when it succeeds.

A retry of an rpc step always goes through its queue (a delayed step job); an inline step's retry is the
pass's own wake-up. A step that fails for good hands off to the orchestrator (queue) or raises into the
workflow (local, inline), where it can be caught.
"""

from __future__ import annotations

import contextvars
import inspect
import time
from collections.abc import Callable
from typing import Any, Literal

from pikku import _serde
from pikku._engine import retry as retry_policy
from pikku._engine.calls import StepCall, StepOutcome, Where, return_type
from pikku._engine.leases import LeaseKeeper
from pikku._errors import RunNotFoundError, StepNotFoundError
from pikku._logcontext import CURRENT_STEP, get_logger
from pikku._records import Job, NewStep, StepRecord, Take, TakenSettle
from pikku._registry import get_function
from pikku._services import RPC, Services, StepContext, call_function
from pikku.backends import StateStore, Transitions

log = get_logger("pikku.engine")

_CURRENT_STEP: contextvars.ContextVar[StepContext | None] = CURRENT_STEP


#: A queued step's take for its hand-off, and the run lock's lease to take with it (see StepRunner.run).
_Take = tuple[Take | None, float | None]


def current_step() -> StepContext | None:
    """The step execution running in this task (inline steps and rpc steps alike), if any."""
    return _CURRENT_STEP.get()


class StepRunner:
    """Runs step attempts for one engine (one owner) against one backend."""

    def __init__(
        self, state: StateStore, transitions: Transitions, app: Any, owner: str, lease: float, payload_limit: int
    ) -> None:
        self.state = state
        self.transitions = transitions
        self.app = app
        self.rpc = RPC(app)
        self.owner = owner
        self.lease = lease
        self.payload_limit = payload_limit

    async def run(
        self,
        call: StepCall,
        rec: StepRecord | None,
        where: Where,
        *,
        ack: Job | None = None,
        take: Take | None = None,
        lock_lease: float | None = None,
    ) -> StepOutcome:
        """One attempt of ``call`` placed ``where``: claim, invoke under a kept lease, settle or fail.

        ``rec`` is the stored step (None: not stored yet; for ``queue``, the record :meth:`claim_queued`
        returned, already claimed); ``ack`` the queue job to acknowledge with the
        settle (``queue`` only): acknowledged whenever the attempt got as far as a settle or a failure,
        untouched when the outcome is ``lost`` before that (the caller decides what becomes of the job).
        ``take`` (``queue`` only): a success's hand-off is written claimed by this worker where the backend
        can, and with ``lock_lease`` the run locked for its next pass (``StepOutcome.handoff``).
        """
        if rec is None and where == "inline":  # run first, write once: a success is one insert
            return await self._attempt(call, None, where, ack, (None, None))
        if where == "local":
            get_function(call.rpc_name or "")  # an unknown rpc fails the pass here, before anything is written
        claimed = rec if where == "queue" else await self._claim(call, rec, where)
        if claimed is None:  # settled, or held under a live lease: nothing was written, ``ack`` is untouched
            return await self._lost()
        outcome = await self._attempt(call, claimed, where, ack, (take, lock_lease))
        outcome.acked = ack is not None
        return outcome

    async def claim_queued(self, run_id: str, name: str) -> StepRecord | None:
        """Take the step a queue job names; None when it is settled (or its run is), or held under a live
        lease. RunNotFoundError / StepNotFoundError when the job names nothing stored."""
        return await self.state.claim_step(run_id, name, self.owner, self.lease, form="rpc")

    async def _claim(self, call: StepCall, rec: StepRecord | None, where: Where) -> StepRecord | None:
        if rec is None:  # local: inserted already claimed, one write. Under the run lock and one pass per run
            # in this engine, nobody inserts it meanwhile: running under our owner at attempt 1 is ours.
            rec = await self.state.insert_step(self._new(call, "running"))
            if rec.status == "running" and rec.lease_owner == self.owner and rec.attempts == 1:
                return rec
        return await self.state.claim_step(call.run_id, call.name, self.owner, self.lease)

    def _new(
        self,
        call: StepCall,
        status: Literal["running", "done"],
        result_json: str | None = None,
        result_type: str | None = None,
    ) -> NewStep:
        return NewStep(
            call.run_id,
            call.name,
            call.form,
            call.rpc_name,
            call.data_json,
            status,
            call.max_attempts,
            result_json=result_json,
            result_type=result_type,
            lease_owner=self.owner if status == "running" else None,
            lease_s=self.lease,
        )

    async def _attempt(
        self, call: StepCall, rec: StepRecord | None, where: Where, ack: Job | None, take: _Take
    ) -> StepOutcome:
        step = StepContext(call.run_id, call.wf.name, call.name, rec.attempts if rec is not None else 1)
        keeper = self._keep_lease(call) if rec is not None else None
        # The current step: services.step for the code, and the run fields of every log record meanwhile.
        token = _CURRENT_STEP.set(step)
        try:
            try:
                result_json, tag, value = await self._invoke(call, step)
            finally:  # also on cancellation (a stopping worker): never renew a lease nobody works under
                if keeper is not None:
                    keeper.cancel()
        except Exception as exc:
            outcome = await self._failed(call, rec, where, exc, ack)
        else:
            if rec is None:  # an inline first attempt that succeeded: the step goes in done, one write
                await self.state.insert_step(self._new(call, "done", result_json, tag))
                outcome = StepOutcome("done", value)
            else:
                began = time.monotonic()
                settled = await self._settle(call, where, result_json, tag, ack, take)
                if settled.stored:
                    outcome = StepOutcome("done", value, handoff=settled, settle_began=began)
                else:
                    outcome = await self._refused(call)
                    outcome.refused = True
        finally:
            _CURRENT_STEP.reset(token)
        return outcome

    def _keep_lease(self, call: StepCall) -> LeaseKeeper:
        run_id, name, owner, lease = call.run_id, call.name, self.owner, self.lease
        return LeaseKeeper(
            lambda: self.state.renew_step_lease(run_id, name, owner, lease), lease, f"step {name} of {run_id}"
        )

    async def _invoke(self, call: StepCall, step: StepContext) -> tuple[str, str | None, Any]:
        """Run the step's code; its result encoded (with a type tag where the type is open), and the value
        read back from that text: what every replay will see, and what this attempt hands on."""
        if call.fn is not None:
            value, tp = await _call_inline(call.fn), return_type(call.fn)
        else:
            fn = get_function(call.rpc_name or "")
            data = _serde.decode(call.data_json or "null")
            value, tp = await call_function(fn, Services(self.app, rpc=self.rpc, step=step), data), fn.output_type
        tag = _serde.type_tag(value) if call.fn is not None and _serde.is_any(tp) else None
        what = f"step {call.name!r} of run {call.run_id!r}"
        text, replayed = _serde.encode_checked(value, tp, tag, what=what, limit=self.payload_limit)
        return text, tag, replayed

    async def _settle(
        self, call: StepCall, where: Where, result_json: str, tag: str | None, ack: Job | None, take: _Take
    ) -> TakenSettle:
        """Store the result (with the hand-off for a queued step, taken by this worker with a take)."""
        handoff = call.replay_job() if where == "queue" else None
        # owner=: if another worker took the step over (our lease ran out), our result is not stored.
        if handoff is not None and take[0] is not None:
            return await self.transitions.settle_step_taking(
                call.run_id, call.name, result_json, result_type=tag, owner=self.owner, handoff=handoff, ack=ack,
                take=take[0], lock_lease=take[1],
            )  # fmt: skip
        stored = await self.transitions.settle_step(
            call.run_id, call.name, result_json, result_type=tag, owner=self.owner, handoff=handoff, ack=ack
        )
        return TakenSettle(stored)

    async def _refused(self, call: StepCall) -> StepOutcome:
        """Our settle or failure of the step we claimed changed nothing: what the stored step says holds.

        Either the write did apply and only its reply was lost (the server went away after the commit, and
        the driver's retry of the same write found it done), or another worker took the step over after our
        lease ran out. A step stored done or failed is an outcome like any: the pass goes on with the stored
        value (what every replay will return), or the stored failure. Only a step held or open elsewhere is
        ``lost``: treating a lost reply as lost paused the pass with nothing left to wake the run.
        """
        try:
            stored = await self.state.get_step(call.run_id, call.name)
        except (RunNotFoundError, StepNotFoundError):
            return StepOutcome("lost")
        if stored.status == "done" and stored.result_json is not None:
            tp = get_function(call.rpc_name or "").output_type if call.fn is None else return_type(call.fn)
            return StepOutcome("done", _serde.decode(stored.result_json, tp, stored.result_type))
        if stored.status == "failed":
            return StepOutcome("failed", error=stored.error)
        log.warning("step %s of run %s was taken over by another worker; result not stored", call.name, call.run_id)
        return await self._lost()

    async def _lost(self) -> StepOutcome:
        """The step is held elsewhere. A pass looks again once a lease taken now would have run out: by then
        the holder has settled it (its hand-off or its own pass moved the run on, and this look is a spare
        replay), or the hold has lapsed (a dead holder, or our own claim whose reply was lost) and the step
        is claimed again. Without the look, nothing might ever wake the run."""
        return StepOutcome("lost", retry_at=await self.state.now() + self.lease)

    async def _failed(
        self, call: StepCall, rec: StepRecord | None, where: Where, exc: Exception, ack: Job | None
    ) -> StepOutcome:
        """The one failure path: record the attempt, then retry (delayed) or fail for good."""
        if rec is None:  # an inline first attempt that failed: record it, claimed by us, then fail it
            rec = await self._claim(call, None, where)
            if rec is None:
                return await self._lost()
        error = retry_policy.error_info(exc)
        delay = retry_policy.next_delay(exc, rec.attempts, rec.max_attempts, call.retry_delay)
        if delay is None:
            handoff = call.replay_job() if where == "queue" else None
            recorded = await self.transitions.fail_step(
                call.run_id, call.name, error, owner=self.owner, handoff=handoff, ack=ack
            )
            return StepOutcome("failed", error=error) if recorded else await self._refused(call)
        retry_at = await self.state.now() + delay  # a stored due time: the store's clock, not ours
        # An rpc step retries through its queue; an inline step is run again by the pass that wakes then.
        retry_job = call.step_job(delay) if call.form == "rpc" and where != "inline" else None
        await self.transitions.fail_step(
            call.run_id, call.name, error, retry_at=retry_at, owner=self.owner, handoff=retry_job, ack=ack
        )
        return StepOutcome("retry", error=error, retry_at=retry_at)


async def _call_inline(fn: Callable[[], Any]) -> Any:
    value = fn()
    if inspect.isawaitable(value):
        value = await value
    return value


__all__ = ["StepRunner", "current_step"]
