"""A queue job is untrusted input: before the engine acts on one, its payload must have the shape the
engine writes and it must sit on the queue its workflow and step route to. One that does not is never
acted on (it is dead-lettered by the engine); the stored state then has the last word (a step job
claims only an rpc step: ``claim_step(form="rpc")``)."""

from __future__ import annotations

from typing import Any

from pikku._errors import UnknownWorkflowError
from pikku._records import Job
from pikku._registry import get_workflow

_FIELDS: dict[str, tuple[str, ...]] = {
    "orchestrate": ("run_id", "workflow"),
    "step": ("run_id", "workflow", "step"),
}


def problem_with(job: Job) -> str | None:
    """Why ``job`` cannot be one of the engine's own jobs (malformed, or on another queue), or None.

    An unknown workflow is not a problem here: another deployment may know it (UnknownWorkflowError
    is raised when the job is handled, and the delivery cap ends an endless loop).
    """
    payload: Any = job.payload
    shape = _shape_problem(payload)
    if shape is not None:
        return shape
    kind = payload["kind"]
    try:
        wf = get_workflow(payload["workflow"])
    except UnknownWorkflowError:
        return None
    expected = wf.orchestrator_queue if kind == "orchestrate" else wf.step_queue(payload["step"])
    if job.queue != expected:
        return f"a {kind} job of workflow {wf.name!r} on queue {job.queue!r} (its queue is {expected!r})"
    return None


def _shape_problem(payload: Any) -> str | None:
    if not isinstance(payload, dict):
        return f"payload is a {type(payload).__name__}, not an object"
    kind = payload.get("kind")
    if kind not in _FIELDS:
        return f"unknown job kind {kind!r}"
    missing = [f for f in _FIELDS[kind] if not isinstance(payload.get(f), str) or not payload[f]]
    if missing:
        return f"{kind} job without a valid {missing[0]!r}"
    # pikku never makes an id or name with a control character (NUL cannot even be stored on PostgreSQL)
    unprintable = [f for f in _FIELDS[kind] if not payload[f].isprintable()]
    if unprintable:
        return f"{kind} job whose {unprintable[0]!r} holds a control character"
    bad = [
        f for f in ("priority", "retry_delay") if payload.get(f) is not None and not isinstance(payload[f], int | float)
    ]
    return f"{bad[0]!r} is not a number" if bad else None


__all__ = ["problem_with"]
