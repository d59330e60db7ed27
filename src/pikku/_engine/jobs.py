"""The two kinds of queue job the engine makes: a replay of a run, and one rpc step of it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pikku._records import Enqueue
from pikku._registry import WorkflowDef

#: The W3C traceparent of the current span, put on every job (``pikku._telemetry`` sets it when tracing).
TRACEPARENT: Callable[[], str | None] | None = None


def orchestrate_job(wf: WorkflowDef, run_id: str, priority: float | None, delay: float = 0.0) -> Enqueue:
    """A replay of the run. ``priority`` is the run's start time: runs in flight go before new ones.

    Keyed by the run: while one replay of a run waits, a hand-off, a timer or a resume adds none (the
    waiting one becomes due at the earlier time), so a run never has two replays waiting.
    """
    payload: dict[str, Any] = {"kind": "orchestrate", "run_id": run_id, "workflow": wf.name}
    if TRACEPARENT is not None:
        _trace(payload, TRACEPARENT)
    return Enqueue(wf.orchestrator_queue, payload, delay, priority, key=run_id)


def _trace(payload: dict[str, Any], traceparent: Callable[[], str | None]) -> None:
    if value := traceparent():
        payload["traceparent"] = value


def step_job(
    wf: WorkflowDef, run_id: str, name: str, rpc_name: str, priority: float | None, retry_delay: float | None
) -> Enqueue:
    """The queue job of an rpc step; carries the run's priority for the hand-off it will make."""
    payload: dict[str, Any] = {"kind": "step", "run_id": run_id, "workflow": wf.name, "step": name, "rpc": rpc_name}
    if priority is not None:
        payload["priority"] = priority
    if retry_delay is not None:
        payload["retry_delay"] = retry_delay
    if TRACEPARENT is not None:
        _trace(payload, TRACEPARENT)
    return Enqueue(wf.step_queue(name), payload, 0.0, priority)
