"""The public surface is pinned: what applications import from ``pikku`` (generated code uses
``pikku.wiring``, pinned in test_wiring.py)."""

from __future__ import annotations

import pikku

APPLICATION_NAMES = [
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


def test_pikku_all_is_pinned() -> None:
    """Adding or removing a public name is a deliberate change to this list."""
    assert pikku.__all__ == APPLICATION_NAMES


def test_engine_internals_and_wiring_names_are_not_public() -> None:
    """WorkflowAsyncException and set_runtime are engine internals; generated-code names live in pikku.wiring."""
    internal = ("WorkflowAsyncException", "set_runtime", "register_workflow_meta", "register_workflow_events")
    for name in (*internal, "QueueWorker", "WorkflowClient"):
        assert name not in pikku.__all__


def test_every_public_name_exists_and_has_a_docstring() -> None:
    """Each name in __all__ resolves, and each class or function says what it is for."""
    for name in pikku.__all__:
        obj = getattr(pikku, name)
        if callable(obj):
            assert (obj.__doc__ or "").strip(), f"pikku.{name} has no docstring"
