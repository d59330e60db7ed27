"""Structured logging without a framework: inside a pass or a step, every record pikku's loggers (and
``services.logger``) write carries ``run_id``, ``workflow``, ``step`` and ``attempt`` as attributes.

The fields live in a context variable that the engine sets around a pass and the step runner around an
attempt, and a :class:`logging.Filter` on each of pikku's loggers copies them onto the record. Any
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


class ContextFilter(logging.Filter):
    """Copies the current pass's or step's fields onto each record (never overwriting ``extra=``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = _CONTEXT.get()
        if fields:
            for key, value in fields.items():
                if not hasattr(record, key):
                    setattr(record, key, value)
        return True


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
    token = _CONTEXT.set({**(_CONTEXT.get() or {}), **fields})
    try:
        yield
    finally:
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


__all__ = ["FIELDS", "ContextFilter", "JsonFormatter", "get_logger", "log_context"]
