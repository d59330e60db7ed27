"""What the API answers about runs, as JSON-ready data, and the version number of a run's state.

``GET /runs/{id}`` is ``{"run": ..., "steps": [...], "version": N}``: the run as :func:`pikku.list_runs`
shows it, each step as :class:`pikku.StepView` (with its attempts) plus when it last changed, in the
order the run first reached them.

The version. Stores keep no counter per run, so the version is derived from what they do keep: the
latest change the run shows, in integer microseconds since the epoch (the run's ``updated_at``, each step's
``updated_at``, and the start and end of every attempt). Every transition writes its time into one of
those, so every transition moves the version, except two within the same microsecond or a wall clock
stepped back; the stream compares whole states too and never misses such a change (see ``_sse``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from pikku import _control
from pikku._records import SETTLED_RUN_STATUSES, StepAttempt, StepRecord
from pikku._runtime import get_runtime


def micros(ts: float | None) -> int:
    """A stored time as integer microseconds (0 for none)."""
    return round(ts * 1_000_000) if ts else 0


async def run_detail(run_id: str) -> dict[str, Any]:
    """The run, its steps with their attempts, and its version; RunNotFoundError for an unknown id."""
    run = await _control.get_run(run_id)
    state = (await get_runtime()).engine.state
    records = sorted((await state.get_steps(run_id)).values(), key=lambda s: (s.created_at, s.name))
    attempts = await state.get_run_attempts(run_id)
    steps = [_step(record, attempts.get(record.name, [])) for record in records]
    return {"run": jsonable(run), "steps": steps, "version": version(run.updated_at, records, attempts)}


def _step(record: StepRecord, attempts: list[StepAttempt]) -> dict[str, Any]:
    # One view of a step, as `pikku runs show` prints it, plus when it last changed and its budget.
    view: dict[str, Any] = dataclasses.asdict(_control._step_view(record, attempts))
    view["updated_at"] = record.updated_at
    view["max_attempts"] = record.max_attempts
    view["wake_at"] = record.wake_at
    return view


def version(run_updated_at: float, steps: list[StepRecord], attempts: dict[str, list[StepAttempt]]) -> int:
    """The latest change of the run and its steps and attempts, in microseconds."""
    latest = micros(run_updated_at)
    for step in steps:
        latest = max(latest, micros(step.updated_at), micros(step.created_at))
    for each in attempts.values():
        for attempt in each:
            latest = max(latest, micros(attempt.started_at), micros(attempt.ended_at))
    return latest


def is_settled(detail: dict[str, Any]) -> bool:
    """Whether the run of a :func:`run_detail` has settled (nothing will change it but a resume)."""
    return detail["run"]["status"] in SETTLED_RUN_STATUSES


def list_page(page: _control.RunPage) -> dict[str, Any]:
    """``GET /runs``: the runs of one page and the cursor of the next (None: the last page)."""
    return {"runs": [jsonable(r) for r in page.runs], "cursor": page.cursor}


def list_version(page: _control.RunPage) -> int:
    """The latest change among the runs of a page, in microseconds."""
    return max((micros(r.updated_at) for r in page.runs), default=0)


def fingerprint(value: Any) -> str:
    """A digest of JSON-ready data: equal states have equal fingerprints."""
    return hashlib.blake2b(dumps(value).encode(), digest_size=16).hexdigest()


def dumps(value: Any) -> str:
    """JSON text of API data (keys in a fixed order, non-ASCII kept)."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def jsonable(value: Any) -> Any:
    """A dataclass (RunSummary, StepView, ErrorInfo...) as plain JSON-ready data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value
