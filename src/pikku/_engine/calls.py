"""What the step runner and a pass exchange: one step call, where it runs, and how an attempt ended.

A leaf module (it imports no engine module), so the workflow context can name these without importing
the runner or the services it calls.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pikku._engine.jobs import orchestrate_job, step_job
from pikku._records import Enqueue, ErrorInfo, StepForm, TakenSettle
from pikku._registry import WorkflowDef

Where = Literal["queue", "local", "inline"]


@dataclass(slots=True)  # not frozen: a frozen dataclass pays a setattr per field, once per step
class StepCall:
    """One step of one run, as the workflow reached it (or as its queue job names it)."""

    wf: WorkflowDef
    run_id: str
    name: str
    form: StepForm
    rpc_name: str | None
    #: The inline step's function; None for an rpc step (the rpc name says what to call).
    fn: Callable[[], Any] | None
    data_json: str | None
    max_attempts: int
    retry_delay: float | None
    #: The run's start time: every job of a run carries it, so runs in flight go first.
    priority: float | None

    def step_job(self, delay: float = 0.0) -> Enqueue:
        """This step's queue job, due after ``delay`` (a retry)."""
        job = step_job(self.wf, self.run_id, self.name, self.rpc_name or "", self.priority, self.retry_delay)
        return Enqueue(job.queue, job.payload, delay, job.priority)

    def replay_job(self) -> Enqueue:
        """The orchestrator job that replays this step's run."""
        return orchestrate_job(self.wf, self.run_id, self.priority)


@dataclass(slots=True)
class StepOutcome:
    """How one attempt ended.

    ``done`` with the decoded ``value``; ``retry`` at ``retry_at``; ``failed`` for good with ``error``;
    ``lost`` when the step is not (or no longer) this runner's: another holds it (a pass looks again at
    ``retry_at``, when that hold can have lapsed).
    """

    kind: Literal["done", "retry", "failed", "lost"]
    value: Any = None
    error: ErrorInfo | None = None
    retry_at: float | None = None
    #: The job passed as ``ack`` was acknowledged with the attempt's settle or failure.
    acked: bool = False
    #: What a settle with ``take`` (of :meth:`StepRunner.run`) did: the hand-off it took, the run it locked.
    handoff: TakenSettle | None = None
    #: When that settle began (``time.monotonic``): the leases it took run from about then.
    settle_began: float = 0.0
    #: The attempt's settle changed nothing (settled elsewhere, or its reply was lost): see ``_refused``.
    refused: bool = False


def return_type(fn: Callable[..., Any]) -> Any:
    """The return annotation of an inline step function, or None (lambdas have none).

    Read from ``__annotations__`` rather than ``inspect.signature``: this runs for every inline step.
    """
    annotation = getattr(fn, "__annotations__", {}).get("return")
    if isinstance(annotation, str):
        return _resolve_string(annotation, getattr(fn, "__module__", None) or "")
    return annotation


@functools.lru_cache(maxsize=512)
def _resolve_string(annotation: str, module: str) -> Any:
    """A postponed (string) annotation evaluated in its module, or None when it does not resolve."""
    try:
        return eval(annotation, vars(sys.modules[module]))  # the module's own annotation text
    except Exception:
        return None


__all__ = ["StepCall", "StepOutcome", "Where", "return_type"]
