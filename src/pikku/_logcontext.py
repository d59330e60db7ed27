"""Structured logging without a framework: inside a pass or a step, every record pikku's loggers (and
``services.logger``) write carries ``run_id``, ``workflow``, ``step`` and ``attempt`` as attributes.

The fields come from two context variables: the pass's fields, which the engine sets around a pass, and
the current step (``services.step``), which the step runner sets around an attempt anyway (so a step
pays nothing more for its log fields). A :class:`logging.Filter` on each of pikku's loggers copies them
onto the record. Any
handler or formatter can use them (``%(run_id)s``); :class:`JsonFormatter` prints one object per line.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import json
import logging
from collections.abc import Iterator
from typing import Any

FIELDS = ("run_id", "workflow", "step", "attempt")
_CONTEXT: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("pikku_log", default=None)
#: The step attempt running in this task (a ``pikku._services.StepContext``: run_id, workflow, name,
#: attempt); owned by the step runner, read here for the log fields.
CURRENT_STEP: contextvars.ContextVar[Any] = contextvars.ContextVar("pikku_step", default=None)


class ContextFilter(logging.Filter):
    """Copies the current pass's or step's fields onto each record (never overwriting ``extra=``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        step = CURRENT_STEP.get()
        fields = _CONTEXT.get() if step is None else _step_fields(step)
        if fields:
            for key, value in fields.items():
                if not hasattr(record, key):
                    setattr(record, key, value)
        return True


def _step_fields(step: Any) -> dict[str, Any]:
    return {"run_id": step.run_id, "workflow": step.workflow, "step": step.name, "attempt": step.attempt}


_FILTER = ContextFilter()


def get_logger(name: str) -> logging.Logger:
    """The standard logger ``name`` with pikku's context filter attached (once)."""
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Records logged inside carry ``fields`` (merged over the enclosing context's)."""
    token = enter_log_context(**fields)
    try:
        yield
    finally:
        exit_log_context(token)


def enter_log_context(**fields: Any) -> contextvars.Token[dict[str, Any] | None]:
    """:func:`log_context` without the context manager (once per step: the generator costs more)."""
    current = _CONTEXT.get()
    return _CONTEXT.set({**current, **fields} if current else fields)


def exit_log_context(token: contextvars.Token[dict[str, Any] | None]) -> None:
    """Undo :func:`enter_log_context`."""
    _CONTEXT.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, the run fields when set, and the
    exception's traceback when there is one (for log shippers: ``pikku worker --log-format json``)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, tz=dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in FIELDS:
            value = getattr(record, key, None)
            if value is not None:
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


__all__ = [
    "FIELDS",
    "ContextFilter",
    "JsonFormatter",
    "enter_log_context",
    "exit_log_context",
    "get_logger",
    "log_context",
]
