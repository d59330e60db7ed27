"""Pydantic models that describe the API's answers in its OpenAPI schema.

Routes build their JSON themselves (from the dataclasses of :mod:`pikku._control`); these models only tell
clients its shape, and name each workflow's output model in the schema (``RunStarted[Invoice]``).
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

O = TypeVar("O")  # noqa: E741 - the conventional name for an output type


class ErrorBody(BaseModel):
    """Every error answer: pikku's error code, a message naming the fix, and details (hint, known names)."""

    code: str = Field(examples=["PIKKU_RUN_NOT_FOUND"])
    message: str
    detail: Any = None


class StoredError(BaseModel):
    """An error as stored with a failed run, step or attempt (``stack`` is the traceback text as stored)."""

    message: str
    type: str
    stack: str = ""
    code: str | None = None


class RunStarted(BaseModel, Generic[O]):
    """The answer to a start: the run's id and status; with ``?wait=`` its output or error once settled."""

    run_id: str
    status: str
    created: bool
    output: O | None = None
    error: StoredError | None = None


class RunSummaryModel(BaseModel):
    """One run as listed."""

    run_id: str
    workflow: str
    status: str
    created_at: float
    updated_at: float
    output: Any = None
    error_code: str | None = None
    error_message: str | None = None


class AttemptModel(BaseModel):
    """One execution of a step."""

    attempt: int
    started_at: float
    ended_at: float | None = None
    error: StoredError | None = None


class StepModel(BaseModel):
    """One step of a run: status, input, output, error and every attempt."""

    name: str
    form: str
    rpc_name: str | None = None
    status: str
    attempts: list[AttemptModel]
    input: Any = None
    output: Any = None
    error: StoredError | None = None
    created_at: float
    updated_at: float
    duration: float | None = None
    max_attempts: int
    wake_at: float | None = None


class RunDetail(BaseModel):
    """``GET /runs/{id}`` and each event of its stream: the run, its steps, and its version."""

    run: RunSummaryModel
    steps: list[StepModel]
    version: int = Field(description="Moves with every change of the run; the SSE id of its stream.")


class RunPageModel(BaseModel):
    """A page of runs, newest first; pass ``cursor`` for the next (None: the last page)."""

    runs: list[RunSummaryModel]
    cursor: str | None = None


class WorkflowModel(BaseModel):
    """A workflow the API can start, from the generated metadata."""

    name: str
    description: str | None = None
    execution_mode: str
    steps: list[str]


class ForkBody(BaseModel):
    """Fork a run: a new run that keeps the results of the steps before ``from_step``."""

    from_step: str


class Forked(BaseModel):
    """The run a fork made."""

    run_id: str
    forked_from: str


class Changed(BaseModel):
    """The answer of cancel and resume: the run and its status now."""

    run_id: str
    status: str


class EventAccepted(BaseModel):
    """An event handed to a run."""

    run_id: str
    event: str
    accepted: bool = True


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can answer with."""
    return {status: {"model": ErrorBody} for status in statuses}
