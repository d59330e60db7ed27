"""Retry policy and error capture for steps."""

from __future__ import annotations

import random
import traceback

from pikku._errors import (
    InvalidInputError,
    NonDeterminismError,
    PayloadTooLargeError,
    PikkuError,
    StepSerializationError,
    UnknownRPCError,
)
from pikku._records import ErrorInfo

DEFAULT_RETRIES = 5
BASE_DELAY = 0.5
MAX_DELAY = 60.0

# Failures that will fail the same way every time: retrying them only delays the inevitable.
_PERMANENT = (
    InvalidInputError,
    NonDeterminismError,
    PayloadTooLargeError,
    StepSerializationError,
    UnknownRPCError,
)


def error_info(exc: BaseException) -> ErrorInfo:
    """What gets stored of an exception: message, type, stack, and its code if it is a PikkuError.

    Never raises, whatever the exception does: a user exception whose ``__str__`` (or ``__repr__``)
    raises must still fail its attempt, or the run would stay running with nothing to settle it.
    """
    code = getattr(exc, "code", None) if isinstance(exc, PikkuError) else None
    return ErrorInfo(
        message=_message(exc),
        type=type(exc).__qualname__,
        stack=_stack(exc),
        code=code if isinstance(code, str) else None,
    )


def _message(exc: BaseException) -> str:
    for render in (str, repr):
        try:
            text = render(exc)
        except Exception:
            continue
        if isinstance(text, str):
            return text
    return f"<unprintable {type(exc).__qualname__}>"


def _stack(exc: BaseException) -> str:
    try:
        return "".join(traceback.format_exception(exc))
    except Exception:  # formatting calls str() on the exception: fall back to the frames alone
        try:
            frames = "".join(traceback.format_tb(exc.__traceback__))
        except Exception:
            frames = ""
        return f"{frames}{type(exc).__qualname__}: {_message(exc)}\n"


def is_retryable(exc: BaseException) -> bool:
    """Transient unless it is one of the failures that cannot change on a retry."""
    return not isinstance(exc, _PERMANENT)


def retry_delay(attempt: int, fixed: float | None = None) -> float:
    """Seconds before attempt ``attempt + 1``: ``fixed`` when given, else capped exponential with jitter."""
    if fixed is not None:
        return fixed
    ceiling: float = min(MAX_DELAY, BASE_DELAY * 2.0 ** max(0, attempt - 1))
    # "Equal jitter": half fixed, half random, so retries spread out but never fire immediately.
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def next_delay(exc: BaseException, attempts: int, max_attempts: int, fixed: float | None) -> float | None:
    """Seconds until the next attempt of a step whose attempt ``attempts`` raised ``exc``; None when the
    step has failed for good (a permanent failure, or no attempts left)."""
    if not is_retryable(exc) or attempts >= max_attempts:
        return None
    return retry_delay(attempts, fixed)
