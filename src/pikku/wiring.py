"""What generated code imports: the public surface ``pikku prebuild``'s output is written against.

Every template imports from here and from nowhere else in pikku, so the generated packages depend on
this short, pinned list (``__all__``, checked by a test) rather than on whatever ``pikku`` exports.
"""

from __future__ import annotations

from pikku._client import WorkflowClient, WorkflowHandle
from pikku._registry import QueueWorker, StepInfo, WorkflowInfo, register_workflow_events, register_workflow_meta
from pikku._services import StepContext

__all__ = [
    "QueueWorker",
    "StepContext",
    "StepInfo",
    "WorkflowClient",
    "WorkflowHandle",
    "WorkflowInfo",
    "register_workflow_events",
    "register_workflow_meta",
]
