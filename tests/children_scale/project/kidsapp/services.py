"""The ledger: one line per execution of a step body, appended to the file KIDS_LEDGER names."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any


@dataclass
class KidsServices:
    """Where step bodies record that they ran."""

    path: str

    def record(self, run_id: str, step: str) -> None:
        """One line per execution; O_APPEND writes of one short line from many processes do not interleave."""
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{run_id}\t{step}\n".encode())
        finally:
            os.close(fd)


def create_services(config: Any) -> KidsServices:
    """The ledger file from KIDS_LEDGER."""
    return KidsServices(os.environ["KIDS_LEDGER"])
