"""SQLite WAL checkpoints run on a background thread, not inside a step's commit."""

from __future__ import annotations

import asyncio
import gc
import sqlite3
from pathlib import Path

from pikku._records import NewStep
from pikku.backends import sqlite
from pikku.backends.sqlite.database import AUTOCHECKPOINT_PAGES, open_database


async def test_the_wal_is_checkpointed_in_the_background(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    state = await sqlite.open_state(f"sqlite:///{path}")
    checkpointer = state._db.checkpointer
    try:
        row = state._db.fetchone("PRAGMA wal_autocheckpoint")
        assert row is not None and row["wal_autocheckpoint"] == AUTOCHECKPOINT_PAGES
        await state.create_run("r1", "wf", "{}")
        for i in range(300):
            await state.insert_step(NewStep("r1", f"s{i}", "inline", status="done", result_json=str(i)))
        for _ in range(100):  # the thread looks every INTERVAL_S
            if checkpointer.checkpoints:
                break
            await asyncio.sleep(0.05)
        assert checkpointer.checkpoints >= 1
    finally:
        await state.close()
    assert not checkpointer._thread.is_alive()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM steps WHERE run_id = 'r1'").fetchone() == (300,)


async def test_an_idle_database_is_not_checkpointed_again(tmp_path: Path) -> None:
    state = await sqlite.open_state(f"sqlite:///{tmp_path / 's.db'}")
    checkpointer = state._db.checkpointer
    try:
        await state.create_run("r1", "wf", "{}")
        await asyncio.sleep(4 * checkpointer.INTERVAL_S)
        settled = checkpointer.checkpoints
        await asyncio.sleep(5 * checkpointer.INTERVAL_S)  # nothing written meanwhile
        assert checkpointer.checkpoints == settled
    finally:
        await state.close()


def test_a_database_dropped_unreleased_stops_its_checkpointer(tmp_path: Path) -> None:
    """Garbage-collecting a Database nobody released ends its thread (no thread left polling the file)."""
    db = open_database(f"sqlite:///{tmp_path / 's.db'}")
    checkpointer = db.checkpointer
    assert checkpointer.running
    del db
    gc.collect()
    checkpointer._thread.join(timeout=2.0)
    assert not checkpointer.running
