"""Operating runs: list them, read their steps, cancel them (``pikku.list_runs``, ``pikku.get_steps``,
``pikku.cancel_run``; the generated client and ``pikku runs`` use the same functions).

Everything here reads and writes through the store contract, so it works alike on every backend.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, get_args

from pikku._duration import parse_duration
from pikku._engine.fork import fork
from pikku._engine.history import export_history
from pikku._engine.jobs import orchestrate_job
from pikku._errors import ConfigError, InvalidInputError, RunNotFoundError
from pikku._logcontext import get_logger
from pikku._records import DeadJob, RunRecord, RunStatus, StepAttempt, StepForm, StepRecord, StepStatus
from pikku._registry import get_workflow
from pikku._runtime import get_runtime

log = get_logger("pikku.control")

#: Characters a caller-chosen run id may not hold: ``@`` names schedule ticks, ``/`` child runs.
RESERVED_IN_RUN_IDS = ("@", "/")
MAX_PAGE = 500
PRUNE_PAGE = 500


@dataclass(frozen=True, slots=True)
class RunSummary:
    """One run as listed: status, timing, and the error of a failed run (output as plain JSON)."""

    run_id: str
    workflow: str
    status: RunStatus
    created_at: float
    updated_at: float
    output: Any
    error_code: str | None
    error_message: str | None


@dataclass(frozen=True, slots=True)
class RunPage:
    """A page of runs, newest first; ``cursor`` fetches the next page (None: this was the last)."""

    runs: list[RunSummary]
    cursor: str | None


@dataclass(frozen=True, slots=True)
class StepView:
    """One step of a run as an operator reads it."""

    name: str
    form: StepForm
    rpc_name: str | None
    status: StepStatus
    attempts: list[StepAttempt]
    input: Any
    output: Any
    error: Any
    created_at: float
    #: Seconds from the first attempt's start to the last attempt's end (None while unfinished).
    duration: float | None


def check_run_id(run_id: str) -> str:
    """A caller-chosen run id, checked: non-empty, printable, without the reserved ``@`` and ``/``."""
    if not run_id or not run_id.isprintable() or any(c in run_id for c in RESERVED_IN_RUN_IDS):
        raise InvalidInputError(
            f"run id {run_id!r} cannot be chosen by a caller",
            hint="use a non-empty printable id without '@' (schedule runs) or '/' (child runs), e.g. 'order-42'",
        )
    return run_id


def check_status(status: str | None) -> RunStatus | None:
    """``status`` as a run status, or InvalidInputError naming the valid ones."""
    valid = get_args(RunStatus)
    if status is not None and status not in valid:
        raise InvalidInputError(f"unknown run status {status!r}", hint=f"use one of {', '.join(valid)}")
    return status  # type: ignore[return-value]


async def list_runs(
    workflow: str | None = None, status: str | None = None, limit: int = 50, cursor: str | None = None
) -> RunPage:
    """Runs newest first, one page per call (an index read, not a scan); pass ``cursor`` for the next."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInputError(f"limit {limit} is out of range", hint=f"use 1 to {MAX_PAGE}")
    runtime = await get_runtime()
    try:
        records = await runtime.engine.state.list_runs(
            workflow=workflow, status=check_status(status), limit=limit + 1, before=cursor
        )
    except RunNotFoundError:
        raise ConfigError(f"cursor {cursor!r} names no run", hint="start again without a cursor") from None
    more = len(records) > limit
    page = [_summary(r) for r in records[:limit]]
    return RunPage(page, page[-1].run_id if more and page else None)


async def get_run(run_id: str) -> RunSummary:
    """One run as :func:`list_runs` shows it; RunNotFoundError for an unknown id."""
    runtime = await get_runtime()
    return _summary(await runtime.engine.state.get_run(run_id))


async def get_steps(run_id: str) -> list[StepView]:
    """Every step of the run in the order it was first reached, with its attempts; RunNotFoundError."""
    runtime = await get_runtime()
    state = runtime.engine.state
    await state.get_run(run_id)  # RunNotFoundError before anything else
    steps = sorted((await state.get_steps(run_id)).values(), key=lambda s: (s.created_at, s.name))
    return [_step_view(step, await state.get_attempts(run_id, step.name)) for step in steps]


async def export_run(run_id: str) -> dict[str, Any]:
    """The run's full history as JSON-ready data (``pikku runs export``; ``pikku.testing.replay`` reads it)."""
    runtime = await get_runtime()
    state = runtime.engine.state
    run = await state.get_run(run_id)
    steps = sorted((await state.get_steps(run_id)).values(), key=lambda s: (s.created_at, s.name))
    attempts = {step.name: await state.get_attempts(run_id, step.name) for step in steps}
    return export_history(run, steps, attempts)


async def cancel_run(run_id: str, reason: str | None = None) -> bool:
    """End a running run as ``cancelled``. False (and nothing changes) when it had settled already.

    No new step is dispatched after this; a step body already running finishes, its result is stored,
    and the pass it hands off to finds the run settled. ``result()`` raises WorkflowCancelledError.
    """
    runtime = await get_runtime()
    state = runtime.engine.state
    await state.get_run(run_id)  # RunNotFoundError for an unknown id
    cancelled = await state.cancel_run(run_id)
    if cancelled:
        log.info("run %s cancelled%s", run_id, f": {reason}" if reason else "")
    return cancelled


async def resume_run(run_id: str) -> bool:
    """A ``failed`` or ``cancelled`` run becomes ``running`` again and a pass is queued: its done steps
    are kept, its failed step runs again with a fresh attempt budget, its error is cleared (also for
    failures with no failed step: non-determinism, an invalid output). False when the run is running
    already; InvalidInputError for a completed run (there is nothing left to do)."""
    runtime = await get_runtime()
    engine = runtime.engine
    run = await engine.state.get_run(run_id)
    if run.status == "completed":
        raise InvalidInputError(
            f"run {run_id!r} completed; a completed run cannot be resumed",
            hint="fork it from a step instead: pikku runs fork RUN_ID --from STEP",
        )
    if not await engine.state.resume_run(run_id):
        return False
    await engine.put(orchestrate_job(get_workflow(run.workflow), run_id, run.created_at))
    log.info("run %s resumed", run_id)
    return True


async def prune_runs(older_than: str | float, status: Sequence[str] = ("completed",)) -> int:
    """Delete settled runs (with their steps) whose last change is older than ``older_than`` ("30d"),
    page by page; returns how many. Running runs are never pruned."""
    statuses: list[RunStatus] = [checked for s in status if (checked := check_status(s)) is not None]
    if "running" in statuses:
        raise InvalidInputError("running runs are never pruned", hint="prune completed, failed or cancelled runs")
    seconds = parse_duration(older_than)
    runtime = await get_runtime()
    cutoff = await runtime.engine.state.now() - seconds  # updated_at is the store's time
    deleted = 0
    while True:
        page = await runtime.engine.state.delete_runs(before=cutoff, statuses=statuses, limit=PRUNE_PAGE)
        deleted += len(page)
        if len(page) < PRUNE_PAGE:
            return deleted


async def fork_run(run_id: str, from_step: str) -> str:
    """A new run of the same workflow and input that keeps the recorded results of the steps before
    ``from_step`` and runs from there ("re-run from here after fixing the bug"); its id.
    InvalidInputError listing the run's steps when it has no ``from_step``."""
    runtime = await get_runtime()
    return await fork(runtime.engine, run_id, from_step)


async def list_dead_jobs(limit: int = 100) -> list[DeadJob]:
    """Dead-lettered jobs, newest first (malformed, forged, or delivered too often)."""
    runtime = await get_runtime()
    return await runtime.engine.queue.list_dead(limit)


async def retry_dead_job(job_id: str) -> bool:
    """Put a dead job back on its queue; False if there is no such dead job."""
    runtime = await get_runtime()
    return await runtime.engine.queue.retry_dead(job_id)


async def drop_dead_job(job_id: str) -> bool:
    """Delete a dead job for good; False if there is no such dead job."""
    runtime = await get_runtime()
    return await runtime.engine.queue.drop_dead(job_id)


def _summary(record: RunRecord) -> RunSummary:
    output = json.loads(record.output_json) if record.output_json is not None else None
    error = record.error
    return RunSummary(
        record.run_id,
        record.workflow,
        record.status,
        record.created_at,
        record.updated_at,
        output,
        error.code if error else None,
        error.message if error else None,
    )


def _step_view(step: StepRecord, attempts: list[StepAttempt]) -> StepView:
    started = [a.started_at for a in attempts if a.started_at is not None]
    ended = [a.ended_at for a in attempts if a.ended_at is not None]
    finished = step.status in ("done", "failed")
    duration = max(ended) - min(started) if finished and started and ended else None
    return StepView(
        name=step.name,
        form=step.form,
        rpc_name=step.rpc_name,
        status=step.status,
        attempts=attempts,
        input=_json(step.data_json),
        output=_json(step.result_json),
        error=step.error,
        created_at=step.created_at,
        duration=duration,
    )


def _json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


__all__ = [
    "RunPage",
    "RunSummary",
    "StepView",
    "cancel_run",
    "check_run_id",
    "drop_dead_job",
    "export_run",
    "fork_run",
    "get_run",
    "get_steps",
    "list_dead_jobs",
    "list_runs",
    "prune_runs",
    "resume_run",
    "retry_dead_job",
]
