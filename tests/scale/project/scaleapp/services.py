"""One connection pool per worker process: the kind of singleton an app's services factory makes."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from psycopg_pool import AsyncConnectionPool


@dataclass
class ScaleServices:
    """The ledger pool the steps write to."""

    ledger: AsyncConnectionPool

    async def record(self, run_id: str, step: str, invocation_id: str) -> None:
        """One row per execution of a step body."""
        async with self.ledger.connection() as conn:
            await conn.execute(
                "INSERT INTO scale_calls (run_id, step, invocation_id) VALUES (%s, %s, %s)",
                (run_id, step, invocation_id),
            )


async def create_services(config: Any) -> ScaleServices:
    """Open the ledger pool (DSN from SCALE_LEDGER_DSN)."""
    pool = AsyncConnectionPool(os.environ["SCALE_LEDGER_DSN"], min_size=1, max_size=4, open=False)
    await pool.open()
    return ScaleServices(pool)
