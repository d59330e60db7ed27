"""Compensation: an rpc run as a recorded step when a step fails for good (``do(..., on_error=)``) or when
a run fails (``wire_workflow(..., on_failure=)``), so that it runs exactly once per failure.

Names: ``on_error:<step>`` for a step's compensation (a step fails for good once, so one name is enough;
its queue is the failed step's), and ``on_failure:<episode>`` for a run's, where the episode is
``resumes + 1``: a run that is resumed and fails again is a new episode, whose compensation is a step of
its own (all episodes share the queue ``workflow-<workflow>-on_failure``). Both receive
``{"error": {"message", "type", "code"}, "input": ...}`` (a run's also its ``run_id``).
"""

from __future__ import annotations

from typing import Any

from pikku._naming import ON_ERROR, ON_FAILURE
from pikku._records import ErrorInfo, RunRecord


def on_error_step(step: str) -> str:
    """The compensation step of ``step`` (``on_error:<step>``)."""
    return f"{ON_ERROR}{step}"


def on_failure_step(run: RunRecord) -> str:
    """The compensation step of the run's current failure episode (``on_failure:<resumes + 1>``)."""
    return f"{ON_FAILURE}{run.resumes + 1}"


def is_run_compensation(step: str) -> bool:
    """Whether ``step`` is an ``on_failure`` step: reached only on a failure path, never by replaying the
    workflow's code, so replays and patches do not count it among the steps they must reach."""
    return step.startswith(ON_FAILURE)


def error_payload(error: ErrorInfo | None) -> dict[str, Any]:
    """The ``error`` a compensation receives (no stack: it is for the log, not for the compensating rpc)."""
    if error is None:
        return {"message": "unknown failure", "type": "UnknownError", "code": None}
    return {"message": error.message, "type": error.type, "code": error.code}


__all__ = ["error_payload", "is_run_compensation", "on_error_step", "on_failure_step"]
