"""The ledger: one JSON line per event of a step body, appended with O_APPEND and fsync'd.

A file rather than a database table, so that it keeps working while the backend under test (SQLite,
PostgreSQL or Redis) is restarted or dropped, and needs no server for SQLite. Each line is one ``write``
well under PIPE_BUF, so lines from concurrent processes never interleave.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Any


@dataclass
class ChaosServices:
    """Where the step bodies write their ledger lines (path from CHAOS_LEDGER)."""

    ledger_path: str

    def record(self, event: str, step: Any, **extra: Any) -> None:
        """Append one line: event ('start', 'done' or 'fail'), run id, step, invocation id, attempt, pid."""
        line = {
            "event": event,
            "run_id": step.run_id,
            "step": step.name,
            "invocation_id": step.invocation_id,
            "attempt": step.attempt,
            "pid": os.getpid(),
            "t": time.time(),
            **extra,
        }
        data = (json.dumps(line, separators=(",", ":")) + "\n").encode()
        fd = os.open(self.ledger_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)


def create_services() -> ChaosServices:
    """One per worker process."""
    return ChaosServices(os.environ["CHAOS_LEDGER"])
