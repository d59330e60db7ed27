"""Finding runs that nothing will move forward, and giving them the job they are missing.

Jobs are acked only after their effects are stored, so a crashed worker's job is delivered again and the
run goes on by itself. What that cannot cover is a job that was never enqueued: separate state and queue
backends (two commits), a process that died driving an inline run, or a queue that lost a message. Workers
sweep for such runs now and then. A duplicate job is harmless (claims are atomic, replays idempotent), so
the sweep errs on the side of enqueuing.
"""

from __future__ import annotations

from dataclasses import dataclass

from pikku._engine.engine import Engine
from pikku._engine.jobs import orchestrate_job, step_job
from pikku._errors import UnknownWorkflowError
from pikku._logcontext import get_logger
from pikku._records import RunRecord, StepRecord
from pikku._registry import WorkflowDef, get_workflow

log = get_logger("pikku.recovery")


@dataclass
class SweepCursor:
    """How far a worker's sweeps have got through the running runs (newest first): after run ``after``,
    or from the start when None."""

    after: str | None = None


async def recover(engine: Engine, *, stale_after: float, limit: int = 500, cursor: SweepCursor | None = None) -> int:
    """Enqueue the jobs missing for running runs with no activity for ``stale_after`` seconds.

    One sweep looks at one page of at most ``limit`` running runs, so its cost stays bounded however many
    runs sleep or wait. With a ``cursor`` (a worker keeps one), the next sweep takes the page after this one
    and starts over after the last: every running run is looked at in turn. Returns how many jobs were
    enqueued.
    """
    cursor = cursor if cursor is not None else SweepCursor()
    t = await engine.state.now()  # stored times are compared with the store's clock only
    cutoff = t - stale_after
    try:
        page = await engine.state.list_runs(status="running", limit=limit, before=cursor.after)
    except Exception:  # the anchor is gone or unreadable: start over rather than fail every sweep from here
        cursor.after = None
        raise
    enqueued = 0
    for run in page:
        if run.created_at > cutoff:
            continue
        try:
            wf = get_workflow(run.workflow)
        except UnknownWorkflowError:
            continue  # another deployment's workflow: its own workers recover it
        steps = await engine.state.get_steps(run.run_id)
        enqueued += await _recover_run(engine, wf, run, list(steps.values()), cutoff, t)
    # Moved on only once the page is done: a sweep that fails half-way looks at the same page next time.
    cursor.after = page[-1].run_id if len(page) >= limit else None
    if enqueued:
        log.info("recovery enqueued %d job(s) for stuck runs", enqueued)
    return enqueued


def _is_quiet(steps: list[StepRecord], cutoff: float, t: float) -> bool:
    """No step moved since ``cutoff`` and none waits for a delayed job (a sleep or a retry) at store time ``t``."""
    if any(s.updated_at > cutoff for s in steps):
        return False
    return not any(s.status == "scheduled" and s.wake_at is not None and s.wake_at > t for s in steps)


def _stranded(step: StepRecord, t: float) -> bool:
    """An rpc step whose job may be gone: queued, or running under a lease that ran out by store time ``t``."""
    if step.form != "rpc":
        return False
    return step.status == "scheduled" or (step.status == "running" and (step.lease_until or 0.0) <= t)


async def _recover_run(
    engine: Engine, wf: WorkflowDef, run: RunRecord, steps: list[StepRecord], cutoff: float, t: float
) -> int:
    if not _is_quiet(steps, cutoff, t):
        return 0
    enqueued = 0
    if wf.execution_mode == "remote":
        for step in (s for s in steps if _stranded(s, t)):
            await engine.put(step_job(wf, run.run_id, step.name, step.rpc_name or "", run.created_at, None))
            enqueued += 1
    await engine.put(orchestrate_job(wf, run.run_id, run.created_at))
    return enqueued + 1
