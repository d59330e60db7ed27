"""The coded error tree.

Every error pikku raises on purpose is a :class:`PikkuError` with a stable ``code`` so callers, logs and
UIs can match on it without parsing messages. Messages name the thing, the consequence and the fix.
"""

from __future__ import annotations

from typing import Any


class PikkuError(Exception):
    """Base of every deliberate pikku error; ``code`` is stable and documented."""

    code: str = "PIKKU_ERROR"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message} (hint: {hint})" if hint else message)


class ConfigError(PikkuError):
    """The project configuration (``[tool.pikku]`` or environment) is missing or wrong."""

    code = "PIKKU_CONFIG"


class BackendURLError(ConfigError):
    """A state or queue URL has a scheme or form pikku does not know."""

    code = "PIKKU_BACKEND_URL"


class BackendUnavailableError(PikkuError):
    """A store or queue could not be reached; transient, the operation may be retried."""

    code = "PIKKU_BACKEND_UNAVAILABLE"


class DataFolderError(BackendUnavailableError):
    """The folder a file or SQLite backend keeps its data in cannot be written (permissions, a read-only
    mount, a file where a folder belongs). Retried like any unavailable backend, so work resumes once the
    folder is fixed."""

    code = "PIKKU_DATA_FOLDER"

    def __init__(self, folder: str, reason: str) -> None:
        self.folder = folder
        super().__init__(
            f"cannot write to the data folder {folder}: {reason}",
            hint="make the folder writable by the user pikku runs as (chown/chmod it, remount it read-write), "
            "or point the state URL at a folder that is",
        )


class RunNotFoundError(PikkuError):
    """No run with this id exists in the state store."""

    code = "PIKKU_RUN_NOT_FOUND"

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        super().__init__(f"workflow run {run_id!r} does not exist", hint="check the run id and PIKKU_STATE_URL")


class StepNotFoundError(PikkuError):
    """The run exists but has no step of this name."""

    code = "PIKKU_STEP_NOT_FOUND"

    def __init__(self, run_id: str, step: str) -> None:
        self.run_id = run_id
        self.step = step
        super().__init__(f"run {run_id!r} has no step {step!r}")


class CorruptStateError(PikkuError):
    """Stored state could not be read back; names where it lives so it can be inspected."""

    code = "PIKKU_CORRUPT_STATE"

    def __init__(self, location: str, reason: str) -> None:
        self.location = location
        super().__init__(
            f"stored state at {location} is unreadable: {reason}",
            hint="inspect or remove that record; other runs are unaffected",
        )


class UnknownWorkflowError(PikkuError):
    """No workflow of this name is registered (is the generated wirings module imported?)."""

    code = "PIKKU_WORKFLOW_NOT_FOUND"

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        listed = ", ".join(sorted(known)) or "none"
        super().__init__(
            f"no workflow named {name!r} is registered (known: {listed})",
            hint="check the name, run `pikku prebuild`, and import the generated wirings",
        )


class UnknownRPCError(PikkuError):
    """No ``@pikku_func`` is registered under this rpc name."""

    code = "PIKKU_RPC_NOT_FOUND"

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f"no function is registered under the rpc name {name!r}",
            hint="decorate it with @pikku_func(name=...) and make sure its module is imported",
        )


class InvalidInputError(PikkuError):
    """Input to a workflow or rpc failed validation against its declared model."""

    code = "PIKKU_INVALID_INPUT"


class RunIdInUseError(PikkuError):
    """A caller-chosen run id already names a run of another workflow."""

    code = "PIKKU_RUN_ID_IN_USE"

    def __init__(self, run_id: str, existing: str, wanted: str) -> None:
        self.run_id = run_id
        super().__init__(
            f"run id {run_id!r} already names a run of workflow {existing!r}, not of {wanted!r}",
            hint="run ids are unique across workflows: choose another id (e.g. prefix it with the workflow)",
        )


class RunTimeoutError(PikkuError):
    """A run went on longer than its workflow's ``timeout=``; the run fails (resume restarts its clock)."""

    code = "PIKKU_RUN_TIMEOUT"

    def __init__(self, run_id: str, workflow: str, timeout: float) -> None:
        self.run_id = run_id
        super().__init__(
            f"run {run_id!r} of workflow {workflow!r} did not finish within its timeout of {timeout:g}s",
            hint="find the step it waited on (pikku runs show RUN_ID); raise timeout= or resume the run",
        )


class InvalidOutputError(PikkuError):
    """A workflow returned a value that does not match its declared output type; the run fails."""

    code = "PIKKU_INVALID_OUTPUT"


class InvalidStepNameError(PikkuError):
    """A step name uses a character pikku reserves (``#`` numbers the repeats of a name in a loop)."""

    code = "PIKKU_INVALID_STEP_NAME"


class WorkflowCancelled(PikkuError):
    """Raised by a workflow to end its own run as ``cancelled`` (upstream Pikku's
    ``WorkflowCancelledException``): the run settles cancelled, not failed."""

    code = "PIKKU_CANCELLED_BY_WORKFLOW"

    def __init__(self, reason: str = "cancelled by the workflow") -> None:
        self.reason = reason
        super().__init__(reason)


class InvalidDurationError(PikkuError):
    """A duration such as ``"5s"`` could not be parsed."""

    code = "PIKKU_INVALID_DURATION"


class StepSerializationError(PikkuError):
    """A step produced a value that cannot be stored as JSON."""

    code = "PIKKU_STEP_SERIALIZATION"


class PayloadTooLargeError(PikkuError):
    """A value is larger than the configured payload limit."""

    code = "PIKKU_PAYLOAD_TOO_LARGE"


class NonDeterminismError(PikkuError):
    """A replay reached a recorded step but the code now does something else there."""

    code = "PIKKU_NON_DETERMINISM"

    def __init__(self, run_id: str, step: str, recorded: str, current: str) -> None:
        self.run_id = run_id
        self.step = step
        self.recorded = recorded
        self.current = current
        super().__init__(
            f"run {run_id!r}, step {step!r}: recorded {recorded} but the workflow code now does {current}",
            hint="workflow code changed under a running run; keep old step names/forms or start a new run",
        )


class StepFailedError(PikkuError):
    """A step exhausted its attempts; the workflow sees this at the ``workflow.do`` call."""

    code = "PIKKU_STEP_FAILED"

    def __init__(self, run_id: str, step: str, error: Any) -> None:
        self.run_id = run_id
        self.step = step
        self.error = error
        super().__init__(f"step {step!r} of run {run_id!r} failed: {error.type}: {error.message}")


class ChildWorkflowFailedError(PikkuError):
    """A child run (``workflow.call_workflow``) ended failed: raised in the parent at the call, where it can
    be caught. ``error`` is the child's stored error; ``child_code`` and ``child_message`` its code and
    message; ``child_run_id`` the child (``<parent run id>/<step>``)."""

    code = "PIKKU_CHILD_WORKFLOW_FAILED"

    def __init__(self, run_id: str, step: str, child_run_id: str, error: Any) -> None:
        self.run_id = run_id
        self.step = step
        self.child_run_id = child_run_id
        self.error = error
        super().__init__(
            f"child run {child_run_id!r} (step {step!r} of run {run_id!r}) {self._ended}: "
            f"{error.type}{f' [{error.code}]' if error.code else ''}: {error.message}",
            hint=f"see why with `pikku runs show {child_run_id}`; catch {type(self).__name__} to go on without it",
        )

    _ended = "failed"

    @property
    def child_code(self) -> str | None:
        """The child's error code (a PikkuError's ``code``), or None for a plain exception."""
        code: str | None = self.error.code
        return code

    @property
    def child_message(self) -> str:
        """The child's error message."""
        message: str = self.error.message
        return message


class ChildWorkflowCancelledError(ChildWorkflowFailedError):
    """A child run (``workflow.call_workflow``) was cancelled before it finished: raised in the parent at
    the call. A subclass of :class:`ChildWorkflowFailedError` (the child gave no output either way), so
    ``except ChildWorkflowFailedError`` catches both; catch this one first to tell them apart."""

    code = "PIKKU_CHILD_WORKFLOW_CANCELLED"
    _ended = "was cancelled"


class WorkflowFailedError(PikkuError):
    """Raised by ``handle.result()`` when the run ended in failure; carries the stored error."""

    code = "PIKKU_WORKFLOW_FAILED"

    def __init__(self, run_id: str, error: Any) -> None:
        self.run_id = run_id
        self.error = error
        super().__init__(f"workflow run {run_id!r} failed: {error.type}: {error.message}")


class WorkflowCancelledError(PikkuError):
    """Raised by ``handle.result()`` when the run was cancelled."""

    code = "PIKKU_WORKFLOW_CANCELLED"

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        super().__init__(f"workflow run {run_id!r} was cancelled")


class WorkflowTimeoutError(PikkuError):
    """``handle.result(timeout=...)`` gave up before the run settled; the run goes on."""

    code = "PIKKU_TIMEOUT"


class RunSettledError(PikkuError):
    """The run has settled (completed, failed or cancelled): it takes no more events."""

    code = "PIKKU_RUN_SETTLED"

    def __init__(self, run_id: str, status: str) -> None:
        self.run_id = run_id
        self.status = status
        super().__init__(
            f"run {run_id!r} is {status}: it waits for nothing any more, so the event was not kept",
            hint="send events only to runs still going (pikku runs show RUN_ID shows what a run waits for)",
        )


class UnknownEventError(PikkuError):
    """The run's workflow never waits for an event of this name."""

    code = "PIKKU_UNKNOWN_EVENT"

    def __init__(self, workflow: str, event: str, known: list[str]) -> None:
        self.workflow = workflow
        self.event = event
        self.known = sorted(known)
        waits = ", ".join(repr(name) for name in self.known) or "no event at all"
        super().__init__(
            f"workflow {workflow!r} never waits for an event {event!r}, so it was not kept; it waits for {waits}",
            hint="send one of the events its wait_for_event calls name (run `pikku prebuild` after adding one)",
        )


class InvalidEventPayloadError(InvalidInputError):
    """An event's payload does not validate against the model its workflow waits for it with. ``errors`` are
    pydantic's validation errors (JSON-ready)."""

    code = "PIKKU_INVALID_EVENT_PAYLOAD"

    def __init__(self, message: str, errors: list[dict[str, Any]], *, hint: str | None = None) -> None:
        self.errors = errors
        super().__init__(message, hint=hint)


class WorkflowAsyncException(BaseException):
    """Control flow, not an error: the replay reached work that is not done yet and pauses here.

    It derives from BaseException so that a user's ``except Exception`` around ``workflow.do`` cannot
    swallow the pause and let the workflow run past a step that has no result yet.
    """

    def __init__(self, run_id: str, reason: str, *, wake_at: float | None = None) -> None:
        self.run_id = run_id
        self.reason = reason
        self.wake_at = wake_at
        super().__init__(f"run {run_id} paused: {reason}")
