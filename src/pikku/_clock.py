"""One place for wall-clock time, so stores agree on what "now" means (epoch seconds)."""

from __future__ import annotations

import time


def now() -> float:
    """Seconds since the epoch, as stored in every record."""
    return time.time()
