"""The ledger: one line per step body run, appended with O_APPEND (path from EVAPP_LEDGER), so a test can
count how often each step of each run ran across processes."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass
class Services:
    """Where step bodies write their ledger lines."""

    ledger_path: str

    def record(self, run_id: str, step: str) -> None:
        """Append ``run_id step`` (one write, well under PIPE_BUF: lines never interleave)."""
        fd = os.open(self.ledger_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{run_id} {step}\n".encode())
            os.fsync(fd)
        finally:
            os.close(fd)


def create_services() -> Services:
    """The services of a worker: the ledger named by EVAPP_LEDGER."""
    return Services(os.environ["EVAPP_LEDGER"])
