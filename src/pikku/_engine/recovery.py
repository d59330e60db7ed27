"""Finding runs that nothing will move forward, and giving them the job they are missing.

Jobs are acked only after their effects are stored, so a crashed worker's job is delivered again and the
run goes on by itself. What that cannot cover is a job that was never enqueued: separate state and queue
backends (two commits), a process that died driving an inline run, or a queue that lost a message. Workers
sweep for such runs now and then. A duplicate job is harmless (claims are atomic, replays idempotent), so
the sweep errs on the side of enqueuing -- except for ``waiting`` runs, which may wait for weeks: one gets
a pass only when what it waits for has come (a timer due, an event sent for it) and its wake-up may be lost.
"""

from __future__ import annotations

from dataclasses import dataclass

from pikku._engine.engine import Engine
from pikku._engine.events import awaited_events
from pikku._engine.jobs import orchestrate_job, step_job
from pikku._errors import UnknownWorkflowError
from pikku._logcontext import get_logger
from pikku._records import WAIT_FORMS, RunRecord, RunStatus, StepRecord
from pikku._registry import WorkflowDef, get_workflow

log = get_logger("pikku.recovery")


@dataclass
class SweepCursor:
    """How far a worker's sweeps have got through the running runs (newest first): after run ``after``,
    or from the start when None; and through the waiting runs (``after_waiting``)."""

    after: str | None = None
    after_waiting: str | None = None


async def recover(engine: Engine, *, stale_after: float, limit: int = 500, cursor: SweepCursor | None = None) -> int:
    """Enqueue the jobs missing for running and waiting runs with no activity for ``stale_after`` seconds.

    One sweep looks at one page of at most ``limit`` running runs and one of waiting runs, so its cost
    stays bounded however many runs sleep or wait. With a ``cursor`` (a worker keeps one), the next sweep
    takes the pages after these and starts over after the last: every such run is looked at in turn.
    Returns how many jobs were enqueued.
    """
    cursor = cursor if cursor is not None else SweepCursor()
    t = await engine.state.now()  # stored times are compared with the store's clock only
    cutoff = t - stale_after
    enqueued = 0
    for status in ("running", "waiting"):
        enqueued += await _sweep(engine, status, cursor, limit, cutoff, t)
    if enqueued:
        log.info("recovery enqueued %d job(s) for stuck runs", enqueued)
    return enqueued


async def _sweep(engine: Engine, status: RunStatus, cursor: SweepCursor, limit: int, cutoff: float, t: float) -> int:
    """One page of the runs of ``status`` after the cursor's place for them; the place moves on after it."""
    after = cursor.after if status == "running" else cursor.after_waiting
    try:
        page = await engine.state.list_runs(status=status, limit=limit, before=after)
    except Exception:  # the anchor is gone or unreadable: start over rather than fail every sweep from here
        _move(cursor, status, None)
        raise
    enqueued = 0
    for run in page:
        if run.created_at > cutoff:
            continue
        try:
            wf = get_workflow(run.workflow)
        except UnknownWorkflowError:
            continue  # another deployment's workflow: its own workers recover it
        steps = list((await engine.state.get_steps(run.run_id)).values())
        if status == "running":
            enqueued += await _recover_run(engine, wf, run, steps, cutoff, t)
        else:
            enqueued += await _recover_waiting(engine, wf, run, steps, cutoff, t)
    # Moved on only once the page is done: a sweep that fails half-way looks at the same page next time.
    _move(cursor, status, page[-1].run_id if len(page) >= limit else None)
    return enqueued


def _move(cursor: SweepCursor, status: RunStatus, after: str | None) -> None:
    if status == "running":
        cursor.after = after
    else:
        cursor.after_waiting = after


def _is_quiet(steps: list[StepRecord], cutoff: float, t: float) -> bool:
    """No step moved since ``cutoff`` and none waits for a delayed job (a sleep or a retry) at store time ``t``."""
    if any(s.updated_at > cutoff for s in steps):
        return False
    return not any(s.status == "scheduled" and s.wake_at is not None and s.wake_at > t for s in steps)


def _only_children_left(steps: list[StepRecord]) -> bool:
    """Whether every step not done yet is a child step (the run waits for child runs, nothing else)."""
    open_steps = [s for s in steps if s.status not in ("done", "failed")]
    return bool(open_steps) and all(s.form == "child" for s in open_steps)


def _stranded(step: StepRecord, t: float) -> bool:
    """An rpc step whose job may be gone: queued, or running under a lease that ran out by store time ``t``."""
    if step.form != "rpc":
        return False
    return step.status == "scheduled" or (step.status == "running" and (step.lease_until or 0.0) <= t)


async def _recover_waiting(
    engine: Engine, wf: WorkflowDef, run: RunRecord, steps: list[StepRecord], cutoff: float, t: float
) -> int:
    """A waiting run's pass, when it may have lost its wake-up: quiet since ``cutoff``, and a timer of its
    waits is due by store time ``t`` (a lost delayed job), an event one of them waits for is there untaken
    (a send that died between its write and its enqueue), or a child run it waits for has settled (a
    settle that died before its wake). A run waiting on nothing it knows of gets one too."""
    if any(s.updated_at > cutoff for s in steps):
        return 0
    waits = [s for s in steps if s.form in WAIT_FORMS and s.status not in ("done", "failed")]
    due = not waits or any(s.wake_at is not None and s.wake_at <= t for s in waits)
    names = awaited_events(waits)
    if not due and names:
        due = any(e.consumed_by is None and e.name in names for e in await engine.state.get_events(run.run_id))
    if not due:  # a child run it waits for has settled, and the settle's wake may be lost
        due = bool(await engine.children.settled_child_waiting(run, steps))
    if not due:
        return 0
    await engine.put(orchestrate_job(wf, run.run_id, run.created_at))
    return 1


async def _recover_run(
    engine: Engine, wf: WorkflowDef, run: RunRecord, steps: list[StepRecord], cutoff: float, t: float
) -> int:
    if not _is_quiet(steps, cutoff, t):
        return 0
    if _only_children_left(steps) and not await engine.children.settled_child_waiting(run, steps):
        return 0  # it waits for child runs still going: the settle of each wakes it
    enqueued = 0
    if wf.execution_mode == "remote":
        for step in (s for s in steps if _stranded(s, t)):
            await engine.put(step_job(wf, run.run_id, step.name, step.rpc_name or "", run.created_at, None))
            enqueued += 1
    await engine.put(orchestrate_job(wf, run.run_id, run.created_at))
    return enqueued + 1
