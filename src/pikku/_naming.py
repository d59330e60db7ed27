"""Queue names: the one place that spells them.

The code generator (``pikku.cli.render``) writes these names into the generated workers and metadata,
and the runtime (``pikku._registry``) routes jobs by them, so both must build them the same way. This
module imports nothing from pikku so either side can use it without pulling in the other.
"""

from __future__ import annotations

__all__ = ["ON_ERROR", "ON_FAILURE", "ON_FAILURE_QUEUE_STEP", "orchestrator_queue", "routed_step", "step_queue"]

#: Prefixes of compensation steps: ``on_error:<step>`` (``do(..., on_error=)``) and ``on_failure:<episode>``
#: (``wire_workflow(..., on_failure=)``).
ON_ERROR = "on_error:"
ON_FAILURE = "on_failure:"
#: The step every ``on_failure`` episode of a workflow is routed by: queue ``workflow-<workflow>-on_failure``.
ON_FAILURE_QUEUE_STEP = "on_failure"


def step_queue(workflow: str, step: str) -> str:
    """The queue of an RPC step: ``workflow-<workflow>-<step>``."""
    return f"workflow-{workflow}-{step}"


def orchestrator_queue(workflow: str) -> str:
    """The queue of a workflow's replays: ``workflow-<workflow>-orchestrator``."""
    return f"workflow-{workflow}-orchestrator"


def routed_step(step: str) -> str:
    """The step name a step's queue is chosen by: a compensation step goes where its failed step went
    (``on_error:<step>``), every run episode's to ``on_failure``; any other step by its own name."""
    if step.startswith(ON_ERROR):
        return step[len(ON_ERROR) :]
    if step.startswith(ON_FAILURE):
        return ON_FAILURE_QUEUE_STEP
    return step
