"""pikku: durable workflows for Python.

Write plain functions, wire some as workflows, run ``pikku prebuild``, import the generated typed client
(``from pikku_gen.workflow.map import workflows``) and run ``pikku worker``.

``__all__`` lists what applications use. What only generated code needs is in :mod:`pikku.wiring`;
engine internals (``WorkflowAsyncException``, ``set_runtime``) live in their private modules.
"""

from pikku._client import WorkflowHandle, WorkflowRun
from pikku._control import (
    RunPage,
    RunSummary,
    StepView,
    cancel_run,
    fork_run,
    get_steps,
    list_runs,
    prune_runs,
    resume_run,
)
from pikku._engine.engine import Settings, current_step
from pikku._errors import (
    BackendUnavailableError,
    ConfigError,
    CorruptStateError,
    DataFolderError,
    InvalidInputError,
    InvalidOutputError,
    InvalidStepNameError,
    NonDeterminismError,
    PayloadTooLargeError,
    PikkuError,
    RunIdInUseError,
    RunNotFoundError,
    RunTimeoutError,
    StepFailedError,
    StepNotFoundError,
    StepSerializationError,
    UnknownRPCError,
    UnknownWorkflowError,
    WorkflowCancelled,
    WorkflowCancelledError,
    WorkflowFailedError,
    WorkflowTimeoutError,
)
from pikku._records import ErrorInfo
from pikku._registry import pikku_func, wire_workflow
from pikku._runtime import Runtime, configure, get_runtime, open_runtime
from pikku._services import Services, StepContext, invocation_id
from pikku.worker import Worker

__all__ = [
    "BackendUnavailableError",
    "ConfigError",
    "CorruptStateError",
    "DataFolderError",
    "ErrorInfo",
    "InvalidInputError",
    "InvalidOutputError",
    "InvalidStepNameError",
    "NonDeterminismError",
    "PayloadTooLargeError",
    "PikkuError",
    "RunIdInUseError",
    "RunNotFoundError",
    "RunPage",
    "RunSummary",
    "RunTimeoutError",
    "Runtime",
    "Services",
    "Settings",
    "StepContext",
    "StepFailedError",
    "StepNotFoundError",
    "StepSerializationError",
    "StepView",
    "UnknownRPCError",
    "UnknownWorkflowError",
    "Worker",
    "WorkflowCancelled",
    "WorkflowCancelledError",
    "WorkflowFailedError",
    "WorkflowHandle",
    "WorkflowRun",
    "WorkflowTimeoutError",
    "cancel_run",
    "configure",
    "current_step",
    "fork_run",
    "get_runtime",
    "get_steps",
    "invocation_id",
    "list_runs",
    "open_runtime",
    "pikku_func",
    "prune_runs",
    "resume_run",
    "wire_workflow",
]
