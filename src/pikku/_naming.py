"""Queue names: the one place that spells them.

The code generator (``pikku.cli.render``) writes these names into the generated workers and metadata,
and the runtime (``pikku._registry``) routes jobs by them, so both must build them the same way. This
module imports nothing from pikku so either side can use it without pulling in the other.
"""

from __future__ import annotations

__all__ = ["orchestrator_queue", "step_queue"]


def step_queue(workflow: str, step: str) -> str:
    """The queue of an RPC step: ``workflow-<workflow>-<step>``."""
    return f"workflow-{workflow}-{step}"


def orchestrator_queue(workflow: str) -> str:
    """The queue of a workflow's replays: ``workflow-<workflow>-orchestrator``."""
    return f"workflow-{workflow}-orchestrator"
