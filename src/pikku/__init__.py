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
    get_run,
    get_steps,
    list_runs,
    prune_runs,
    resume_run,
    send_event,
)
from pikku._engine.engine import Settings, current_step
from pikku._errors import (
    BackendUnavailableError,
    ChildWorkflowCancelledError,
    ChildWorkflowFailedError,
    ConfigError,
    CorruptStateError,
    DataFolderError,
    InvalidEventPayloadError,
    InvalidInputError,
    InvalidOutputError,
    InvalidStepNameError,
    NonDeterminismError,
    PayloadTooLargeError,
    PikkuError,
    RunIdInUseError,
    RunNotFoundError,
    RunSettledError,
    RunTimeoutError,
    StepFailedError,
    StepNotFoundError,
    StepSerializationError,
    UnknownEventError,
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
from pikku._schedule_control import (
    ScheduleView,
    list_schedules,
    pause_schedule,
    resume_schedule,
    trigger_schedule,
)
from pikku._schedules import wire_schedule
from pikku._services import Services, StepContext, invocation_id
from pikku.worker import Worker

__all__ = [
    "BackendUnavailableError",
    "ChildWorkflowCancelledError",
    "ChildWorkflowFailedError",
    "ConfigError",
    "CorruptStateError",
    "DataFolderError",
    "ErrorInfo",
    "InvalidEventPayloadError",
    "InvalidInputError",
    "InvalidOutputError",
    "InvalidStepNameError",
    "NonDeterminismError",
    "PayloadTooLargeError",
    "PikkuError",
    "RunIdInUseError",
    "RunNotFoundError",
    "RunPage",
    "RunSettledError",
    "RunSummary",
    "RunTimeoutError",
    "Runtime",
    "ScheduleView",
    "Services",
    "Settings",
    "StepContext",
    "StepFailedError",
    "StepNotFoundError",
    "StepSerializationError",
    "StepView",
    "UnknownEventError",
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
    "get_run",
    "get_runtime",
    "get_steps",
    "invocation_id",
    "list_runs",
    "list_schedules",
    "open_runtime",
    "pause_schedule",
    "pikku_func",
    "prune_runs",
    "resume_run",
    "resume_schedule",
    "send_event",
    "trigger_schedule",
    "wire_schedule",
    "wire_workflow",
]
