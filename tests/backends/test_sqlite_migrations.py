"""SQLite schema migrations: files written by older pikku keep working after an upgrade.

``data/sqlite_v2.sql`` is the SQL dump of a database written by the code before keyed jobs (schema
version 2, commit d22d587): a running run with a done step, a claimed job (``old-worker``, attempt 1), a
waiting job and a delayed one. ``data/sqlite_v3.sql`` is one written by the code before dead jobs and run
pruning (schema version 3, commit 45aafb7): a failed run (a done inline step, an rpc step that failed its
one attempt), a completed run, a keyed job claimed by ``old-worker`` (attempt 1) and a waiting job with the
same key.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from pikku._records import Job
from pikku.backends import open_backend
from pikku.backends.sqlite.database import SCHEMA_VERSION, migrations, script_statements

DATA = Path(__file__).parent / "data"


def _restore(dump: str, path: Path) -> str:
    with sqlite3.connect(path) as conn:
        conn.executescript((DATA / dump).read_text(encoding="utf-8"))
    return f"sqlite:///{path}"


async def test_a_version_2_database_is_migrated_and_its_data_still_works(tmp_path: Path) -> None:
    """Opening a version-2 file migrates it to the current version; its runs, steps and jobs read and move
    on as before, the old claim can still ack its job, and keyed jobs work beside the old unkeyed ones."""
    url = _restore("sqlite_v2.sql", tmp_path / "old.sqlite3")
    backend = await open_backend(url)
    try:
        assert (await backend.state.get_run("old-run")).input_json == '{"x": 1}'
        assert (await backend.state.get_steps("old-run"))["a"].result_json == '"done"'
        first = await backend.queue.enqueue("orch", {"new": 1}, key="old-run", priority=0.5)
        assert await backend.queue.enqueue("orch", {"new": 2}, key="old-run") == first
        jobs = await backend.queue.claim(["orch"], owner="new-worker", lease_s=30, limit=10)
        assert [job.payload for job in jobs if job.id != "1"] == [{"new": 1}, {"run_id": "old-run", "n": 2}]
        for job in jobs:
            assert await backend.queue.ack(job)
    finally:
        await backend.close()
    with sqlite3.connect(tmp_path / "old.sqlite3") as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]


async def test_a_version_3_database_resumes_prunes_and_dead_letters_its_old_data(tmp_path: Path) -> None:
    """After the upgrade to version 4 a run failed under version 3 resumes (its failed step pending with a
    fresh budget, its attempts kept), an old completed run is pruned with its steps, and the job claimed
    before the upgrade is dead-lettered by its old claim, listed, and retried into the waiting job with its
    key (one job left)."""
    url = _restore("sqlite_v3.sql", tmp_path / "v3.sqlite3")
    backend = await open_backend(url)
    state, queue = backend.state, backend.queue
    try:
        assert await state.resume_run("old-failed") is True
        b = await state.get_step("old-failed", "b")
        assert (b.status, b.error, b.attempts, b.max_attempts) == ("pending", None, 1, 2)
        every = await state.get_run_attempts("old-failed")
        assert [len(every["a"]), len(every["b"])] == [1, 1] and every["b"][0].error is not None
        assert await state.delete_runs(before=time.time() + 1, statuses=("completed",), limit=10) == ["old-done"]
        assert [run.run_id for run in await state.list_runs()] == ["old-failed"]
        old_claim = Job("1", "orch", {}, attempts=1, owner="old-worker")
        assert await queue.dead_letter(old_claim, "forged") is True
        [dead] = await queue.list_dead()
        assert (dead.id, dead.payload, dead.attempts, dead.reason) == ("1", {"run_id": "old-failed"}, 1, "forged")
        assert await queue.count("orch") == 1
        assert await queue.retry_dead("1") is True
        assert await queue.count("orch") == 1  # merged into the waiting job with its key
        [job] = await queue.claim(["orch"], owner="new-worker", lease_s=30)
        assert job.payload == {"run_id": "old-failed", "n": 2} and job.attempts == 1
    finally:
        await backend.close()
    with sqlite3.connect(tmp_path / "v3.sqlite3") as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]


async def test_the_old_claim_of_a_migrated_database_still_acks(tmp_path: Path) -> None:
    """A job claimed before the upgrade is acknowledged by its claim (id, owner, attempt) afterwards."""
    backend = await open_backend(_restore("sqlite_v2.sql", tmp_path / "old.sqlite3"))
    try:
        assert await backend.queue.ack(Job("1", "orch", {}, attempts=1, owner="old-worker"))
        assert await backend.queue.count("orch") == 1
    finally:
        await backend.close()


def test_the_migrations_are_numbered_one_to_the_schema_version() -> None:
    """The packaged migration files (read through importlib.resources) start at version 1, never repeat a
    number, and end at SCHEMA_VERSION (numbers may skip: they are handed out to parallel work)."""
    versions = [version for version, _ in migrations()]
    assert versions[0] == 1 and versions[-1] == SCHEMA_VERSION
    assert versions == sorted(set(versions))


def test_a_semicolon_inside_a_string_does_not_end_a_statement() -> None:
    """Migration scripts are split where SQLite says a statement is complete, not at every semicolon."""
    script = "-- a comment; still a comment\nINSERT INTO t VALUES ('a;b');\nCREATE INDEX i ON t (x);\n"
    assert [s.strip() for s in script_statements(script)] == [
        "-- a comment; still a comment\nINSERT INTO t VALUES ('a;b');",
        "CREATE INDEX i ON t (x);",
    ]


async def test_a_version_4_database_gets_child_runs_forks_and_cancel_reasons(tmp_path: Path) -> None:
    """``data/sqlite_v4_before_children.sql`` was written by the code before child runs (schema version 4, commit
    94ef93b): a running run with a done step, a failed run (its rpc step failed), a cancelled and a
    completed run. Migrated to version 6, the old runs read as having no parent, fork, cancel reason or
    resume; a child of an old run is listed; cancel keeps its reason; resume counts; pruning still works."""
    url = _restore("sqlite_v4_before_children.sql", tmp_path / "v4.sqlite3")
    backend = await open_backend(url)
    state = backend.state
    try:
        live = await state.get_run("old-live")
        assert (live.parent_run_id, live.forked_from, live.cancel_reason, live.resumes) == (None, None, None, 0)
        assert (await state.get_steps("old-live"))["a"].result_json == '"a"'
        assert await state.list_children("old-live") == []
        await state.create_run("old-live/kid", "wf", "{}", parent_run_id="old-live")
        assert [r.run_id for r in await state.list_children("old-live")] == ["old-live/kid"]
        assert (await state.get_run("old-cancelled")).cancel_reason is None
        assert await state.resume_run("old-failed") is True
        resumed = await state.get_run("old-failed")
        assert (resumed.status, resumed.resumes, (await state.get_step("old-failed", "pay")).status) == (
            "running",
            1,
            "pending",
        )
        assert await state.cancel_run("old-live", "after the upgrade") is True
        assert (await state.get_run("old-live")).cancel_reason == "after the upgrade"
        assert await state.delete_runs(before=time.time() + 1, statuses=("completed",), limit=10) == ["old-done"]
    finally:
        await backend.close()
    with sqlite3.connect(tmp_path / "v4.sqlite3") as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
        indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "runs_by_parent" in indexes
