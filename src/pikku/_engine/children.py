"""Child runs: a step that runs another wired workflow (``workflow.call_workflow`` waits for its output,
``workflow.start_workflow`` does not).

A child's run id is ``<parent run id>/<step>``, so starting it is idempotent: a replay or a crash never
starts it twice. The child run is created first (with its first job), then the parent's ``child`` step is
recorded, so a recorded step always has its child (one that is gone was pruned, not never started).

A parent waiting for a child holds no worker and no lock: its pass pauses without a timer. The child's
settle wakes the parent (its orchestrator job, keyed by the parent), and every pass of the parent reads the
child it waits for: a wake lost to a crash between the child's settle and the enqueue is made up by the
next pass, which the recovery sweep gives a parent whose child has settled.

Cancelling a run cancels its running descendants, and a child's own pass cancels it if its parent was
cancelled (a child a racing pass of the parent created after the cancel listed the children).
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from pikku import _serde
from pikku._clock import now
from pikku._engine.jobs import orchestrate_job
from pikku._errors import (
    ChildWorkflowCancelledError,
    ChildWorkflowFailedError,
    NonDeterminismError,
    RunNotFoundError,
    StepNotFoundError,
    UnknownWorkflowError,
)
from pikku._logcontext import get_logger
from pikku._records import SETTLED_RUN_STATUSES, Enqueue, ErrorInfo, NewStep, RunRecord, StepRecord, StepStatus
from pikku._registry import get_workflow
from pikku.backends import StateStore, Transitions

log = get_logger("pikku.engine")


class _Engine(Protocol):
    """What child runs need of the engine (its store can be swapped: read it on every use)."""

    @property
    def state(self) -> StateStore: ...

    @property
    def transitions(self) -> Transitions: ...

    async def put(self, job: Enqueue) -> None: ...


#: ``result_type`` of a ``start_workflow`` step (done at once, its result the child's run id): a replay
#: tells it from a ``call_workflow`` step of the same child, whose result is the child's output.
STARTED = "pikku:started"
#: ``type`` of the error a ``call_workflow`` step stores when its child was cancelled.
CANCELLED_TYPE = "ChildWorkflowCancelledError"


def child_run_id(parent_run_id: str, step: str) -> str:
    """The run id of the child a step starts: ``<parent run id>/<step>``."""
    return f"{parent_run_id}/{step}"


def cascade_reason(parent_run_id: str) -> str:
    """The cancel reason of a child cancelled with its parent (a resume of the parent resumes it)."""
    return f"parent run {parent_run_id!r} was cancelled"


def cancelled_error(child: RunRecord) -> ErrorInfo:
    """What a ``call_workflow`` step stores when its child was cancelled."""
    why = f": {child.cancel_reason}" if child.cancel_reason else ""
    message = f"child run {child.run_id!r} was cancelled{why}"
    return ErrorInfo(message, CANCELLED_TYPE, "", ChildWorkflowCancelledError.code)


def child_error(run_id: str, rec: StepRecord) -> ChildWorkflowFailedError:
    """The error a failed ``call_workflow`` step raises in the parent, read off the step's record alone
    (a replay raises what the first pass raised): cancelled when the step stored :func:`cancelled_error`
    of its own child, else failed with the child's error."""
    child = child_run_id(run_id, rec.name)
    error = rec.error or ErrorInfo("unknown failure", "UnknownError")
    mine = error.message.startswith(f"child run {child!r} was cancelled")
    if error.type == CANCELLED_TYPE and error.code == ChildWorkflowCancelledError.code and mine:
        return ChildWorkflowCancelledError(run_id, rec.name, child, error)
    return ChildWorkflowFailedError(run_id, rec.name, child, error)


def child_output(rec: StepRecord, workflow: str) -> Any:
    """The output of a completed child, decoded as the child workflow's output type."""
    return _serde.decode(rec.result_json or "null", get_workflow(workflow).function.output_type)


class Children:
    """The engine's side of child runs: start them, read how they ended, wake and cancel across runs."""

    def __init__(self, engine: _Engine) -> None:
        self._engine = engine

    async def start(
        self, parent: RunRecord, step: str, workflow: str, input_json: str, *, detached: bool
    ) -> StepRecord:
        """Create the child run (once) and record the parent's step: ``scheduled`` while a ``call_workflow``
        waits, ``done`` for a ``start_workflow`` (its result the child's run id). ``input_json`` is the
        child's input, validated and encoded as its workflow's input type."""
        child = child_run_id(parent.run_id, step)
        await self._create(parent.run_id, step, workflow, child, input_json)
        status: StepStatus = "done" if detached else "scheduled"
        result = json.dumps(child) if detached else None
        new = NewStep(parent.run_id, step, "child", workflow, input_json, status, result_json=result)
        new.result_type = STARTED if detached else None
        return await self._engine.state.insert_step(new)

    async def _create(self, parent: str, step: str, workflow: str, child: str, input_json: str) -> None:
        engine = self._engine
        first = orchestrate_job(get_workflow(workflow), child, now())
        try:
            await engine.transitions.create_run(child, workflow, input_json, first_job=first, parent_run_id=parent)
        except ValueError:  # created by an earlier pass that died before it recorded the step
            existing = await engine.state.get_run(child)
            if existing.parent_run_id != parent or existing.workflow != workflow:
                recorded = f"a child run {child!r} of workflow {existing.workflow!r}"
                raise NonDeterminismError(parent, step, recorded, f"a child step running {workflow!r}") from None
            if existing.status == "running" and not await engine.state.get_steps(child):
                await engine.put(first)  # its first job may be lost (write-then-enqueue): keyed, it merges
            return
        log.info("run %s started child run %s of workflow %s", parent, child, workflow)

    async def outcome(self, run_id: str, step: str, *, retry: bool = False) -> StepRecord | None:
        """The parent's step, settled from its child when the child has settled; None while it runs.

        ``retry``: the step is ``pending`` again because the parent was resumed after the child failed or
        was cancelled; the child is resumed too (the step waits for it again), a completed child gives its
        output.
        """
        state, child_id = self._engine.state, child_run_id(run_id, step)
        try:
            child = await state.get_run(child_id)
        except RunNotFoundError:
            gone = ErrorInfo(f"child run {child_id!r} no longer exists (pruned?)", "RunNotFoundError")
            gone.code = RunNotFoundError.code
            await state.fail_step(run_id, step, gone)
            return await state.get_step(run_id, step)
        if retry:
            await state.mark_step_scheduled(run_id, step)
            if child.status in ("failed", "cancelled") and await state.resume_run(child_id):
                log.info("run %s resumed: its child run %s is resumed with it", run_id, child_id)
                await self._engine.put(orchestrate_job(get_workflow(child.workflow), child_id, child.created_at))
                return None
        if child.status not in SETTLED_RUN_STATUSES:
            return None
        if child.status == "completed":
            await state.complete_step(run_id, step, child.output_json or "null")
        elif child.status == "failed":
            await state.fail_step(run_id, step, child.error or ErrorInfo("unknown failure", "UnknownError"))
        else:
            await state.fail_step(run_id, step, cancelled_error(child))
        return await state.get_step(run_id, step)

    async def wake_parent(self, child: RunRecord) -> None:
        """After ``child`` settled: a replay of its parent, if the parent still waits for it."""
        parent_id = child.parent_run_id
        if parent_id is None:
            return
        state, step = self._engine.state, child.run_id[len(parent_id) + 1 :]
        try:
            rec = await state.get_step(parent_id, step)
            if rec.status in ("done", "failed"):  # a start_workflow child, or settled already: nobody waits
                return
        except StepNotFoundError:
            pass  # the parent's pass created the child and has not recorded the step yet: wake it anyway
        except RunNotFoundError:
            return
        parent = await state.get_run(parent_id)
        if parent.status in SETTLED_RUN_STATUSES:
            return
        try:
            wf = get_workflow(parent.workflow)
        except UnknownWorkflowError:
            return  # another deployment's workflow: its recovery sweep finds the settled child
        await self._engine.put(orchestrate_job(wf, parent_id, parent.created_at))

    async def cancel(self, run_id: str, reason: str | None) -> bool:
        """Cancel the run and, depth first, every running run below it; True when this call cancelled it.

        Its descendants are looked at even when it had settled already, so cancelling again finishes a
        cascade a crash cut short.
        """
        state = self._engine.state
        cancelled = await state.cancel_run(run_id, reason)
        if cancelled:
            log.info("run %s cancelled%s", run_id, f": {reason}" if reason else "")
            run = await state.get_run(run_id)
            if run.parent_run_id is not None:
                await self.wake_parent(run)
        for child in await state.list_children(run_id):
            await self.cancel(child.run_id, cascade_reason(run_id))
        return cancelled

    async def parent_cancelled(self, run: RunRecord) -> bool:
        """Whether ``run`` is a child whose parent was cancelled (a cascade it missed)."""
        if run.parent_run_id is None:
            return False
        try:
            return (await self._engine.state.get_run(run.parent_run_id)).status == "cancelled"
        except RunNotFoundError:
            return False

    async def resume_cascaded(self, run_id: str) -> list[str]:
        """After ``run_id`` was resumed: resume the children its cancel cancelled (recursively); their ids."""
        resumed: list[str] = []
        for child in await self._engine.state.list_children(run_id):
            cascaded = child.status == "cancelled" and child.cancel_reason == cascade_reason(run_id)
            if cascaded and await self._engine.state.resume_run(child.run_id):
                wf = get_workflow(child.workflow)
                await self._engine.put(orchestrate_job(wf, child.run_id, child.created_at))
                resumed += [child.run_id, *await self.resume_cascaded(child.run_id)]
        return resumed

    async def settled_child_waiting(self, run: RunRecord, steps: list[StepRecord]) -> bool | None:
        """For the recovery sweep: None when the run waits for no child; else whether a child it waits for
        has settled (or is gone), so that its wake may have been lost."""
        waiting = [s for s in steps if s.form == "child" and s.status not in ("done", "failed")]
        if not waiting:
            return None
        for step in waiting:
            try:
                child = await self._engine.state.get_run(child_run_id(run.run_id, step.name))
            except RunNotFoundError:
                return True
            if child.status in SETTLED_RUN_STATUSES:
                return True
        return False


__all__ = [
    "CANCELLED_TYPE",
    "STARTED",
    "Children",
    "cancelled_error",
    "cascade_reason",
    "child_error",
    "child_output",
    "child_run_id",
]
