"""Errors of the HTTP API: the JSON body every refusal has, and ONE table from error code to HTTP status.

A route never answers with a traceback: a PikkuError becomes ``{code, message, detail}`` with the status
:data:`STATUS_BY_CODE` gives its code, and anything else is ``PIKKU_INTERNAL`` (500) with the traceback in
the server's log only.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.responses import JSONResponse

from pikku._errors import InvalidEventPayloadError, PikkuError, UnknownWorkflowError
from pikku._registry import workflows

log = logging.getLogger("pikku.http")

#: The code of an unexpected failure (a bug, or a hook that raised): 500, details only in the log.
INTERNAL = "PIKKU_INTERNAL"


class ForbiddenError(PikkuError):
    """The authorize hook said no, or (without a hook) the client is not on this machine."""

    code = "PIKKU_HTTP_FORBIDDEN"


class CrossOriginError(PikkuError):
    """A state-changing request came from another site (its ``Origin`` or ``Sec-Fetch-Site`` says so)."""

    code = "PIKKU_HTTP_CROSS_ORIGIN"


class CSRFError(PikkuError):
    """A console form was posted without the token of the page that showed it."""

    code = "PIKKU_HTTP_CSRF"


class RunStateError(PikkuError):
    """The run is not in a state the action applies to (cancel a settled run, resume a running one...)."""

    code = "PIKKU_RUN_STATE_CONFLICT"


#: Every error code a route can answer with, and its HTTP status. Codes missing here are a bug caught by
#: tests/http/test_error_table.py, which also walks this table through a real route.
STATUS_BY_CODE: dict[str, int] = {
    "PIKKU_INVALID_INPUT": 422,
    "PIKKU_INVALID_DURATION": 422,
    "PIKKU_INVALID_STEP_NAME": 422,
    "PIKKU_RUN_NOT_FOUND": 404,
    "PIKKU_STEP_NOT_FOUND": 404,
    "PIKKU_WORKFLOW_NOT_FOUND": 404,
    "PIKKU_RPC_NOT_FOUND": 404,
    "PIKKU_RUN_ID_IN_USE": 409,
    "PIKKU_RUN_STATE_CONFLICT": 409,
    "PIKKU_NON_DETERMINISM": 409,
    "PIKKU_PAYLOAD_TOO_LARGE": 413,
    "PIKKU_STEP_SERIALIZATION": 422,
    "PIKKU_HTTP_FORBIDDEN": 403,
    "PIKKU_HTTP_CROSS_ORIGIN": 403,
    "PIKKU_HTTP_CSRF": 403,
    "PIKKU_RUN_SETTLED": 409,
    "PIKKU_UNKNOWN_EVENT": 422,
    "PIKKU_INVALID_EVENT_PAYLOAD": 422,
    "PIKKU_CHILD_WORKFLOW_FAILED": 500,
    "PIKKU_CHILD_WORKFLOW_CANCELLED": 500,
    "PIKKU_BACKEND_UNAVAILABLE": 503,
    "PIKKU_DATA_FOLDER": 503,
    "PIKKU_TIMEOUT": 504,
    "PIKKU_RUN_TIMEOUT": 409,
    "PIKKU_INVALID_OUTPUT": 500,
    "PIKKU_CORRUPT_STATE": 500,
    "PIKKU_CONFIG": 500,
    "PIKKU_BACKEND_URL": 500,
    "PIKKU_STEP_FAILED": 500,
    "PIKKU_WORKFLOW_FAILED": 500,
    "PIKKU_WORKFLOW_CANCELLED": 500,
    "PIKKU_CANCELLED_BY_WORKFLOW": 500,
    "PIKKU_ERROR": 500,
    INTERNAL: 500,
}


def status_of(code: str) -> int:
    """The HTTP status of an error code (500 for a code the table does not know)."""
    return STATUS_BY_CODE.get(code, 500)


def error_body(code: str, message: str, detail: Any = None) -> dict[str, Any]:
    """The JSON every error response carries."""
    return {"code": code, "message": message, "detail": detail}


def error_detail(exc: PikkuError) -> Any:
    """What ``detail`` holds for a PikkuError: its hint, and what a caller can act on."""
    detail: dict[str, Any] = {}
    if exc.hint:
        detail["hint"] = exc.hint
    if isinstance(exc, UnknownWorkflowError):
        detail["known"] = sorted(workflows())
    if isinstance(exc, InvalidEventPayloadError):  # pydantic's errors, as for a bad request body
        detail["errors"] = exc.errors
    return detail or None


def pikku_error_response(exc: PikkuError, headers: dict[str, str] | None = None) -> JSONResponse:
    """The JSON response for a PikkuError: its code, message and hint; the status from the table."""
    status = status_of(exc.code)
    if status >= 500:
        log.error("%s: %s", exc.code, exc.message, exc_info=exc)
    return JSONResponse(error_body(exc.code, exc.message, error_detail(exc)), status_code=status, headers=headers)


def internal_error_response(exc: BaseException) -> JSONResponse:
    """500 without a traceback for the caller; the traceback goes to the log."""
    log.error("unexpected %s in a pikku route", type(exc).__name__, exc_info=exc)
    message = f"unexpected {type(exc).__name__} (the server's log has the details)"
    return JSONResponse(error_body(INTERNAL, message), status_code=500)
