"""Behaviour of the embedded backends beyond the shared contract: URLs, damaged files, reopening."""

from __future__ import annotations

import importlib.resources
import logging
import sqlite3
from pathlib import Path

import pytest

from pikku._errors import BackendURLError, CorruptStateError
from pikku.backends import open_backend
from pikku.backends._urls import path_from_url
from pikku.backends.file.store import file_stem

MIGRATIONS = importlib.resources.files("pikku.backends.sqlite") / "migrations"


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///rel/x.db", "rel/x.db"),
        ("sqlite:////abs/x.db", "/abs/x.db"),
        ("sqlite:///x.db?mode=ro", "x.db"),
        ("file://rel/dir", "rel/dir"),
        ("file:///abs/dir", "/abs/dir"),
        ("file:///abs/dir?x=1", "/abs/dir"),
    ],
)
def test_path_from_url(url: str, path: str) -> None:
    """sqlite:/// + path (four slashes: absolute) and file:// + path; query strings are ignored."""
    assert path_from_url(url) == Path(path)


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///", "sqlite://x.db", "file://", "file://?x=1", "redis://h"])
def test_path_from_url_rejects_urls_without_a_path(url: str) -> None:
    """A URL that names no file or directory is a BackendURLError with a hint showing the right form."""
    with pytest.raises(BackendURLError) as info:
        path_from_url(url)
    assert info.value.hint


def test_path_from_url_creates_nothing(tmp_path: Path) -> None:
    """Parsing a URL touches no file system."""
    path_from_url(f"sqlite:///{tmp_path}/a/b.db")
    path_from_url(f"file://{tmp_path}/c")
    assert list(tmp_path.iterdir()) == []


async def test_file_corrupt_run_is_reported_and_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A damaged run file raises CorruptStateError naming it; list_runs skips it with a warning."""
    backend = await open_backend(f"file://{tmp_path}")
    try:
        await backend.state.create_run("good", "wf", "1")
        await backend.state.create_run("bad", "wf", "2")
        bad = tmp_path / "runs" / f"{file_stem('bad')}.json"
        bad.write_text('{"run": {"run_id": "bad"', encoding="utf-8")
        for call in (backend.state.get_run("bad"), backend.state.get_steps("bad"), backend.state.cancel_run("bad")):
            with pytest.raises(CorruptStateError) as info:
                await call
            assert info.value.location == str(bad)
        with caplog.at_level(logging.WARNING):
            assert [r.run_id for r in await backend.state.list_runs()] == ["good"]
        assert str(bad) in caplog.text
    finally:
        await backend.close()


def _json_dirs(root: Path) -> set[Path]:
    return {p.parent for p in root.rglob("*.json")}


async def test_file_run_ids_map_to_distinct_safe_files(tmp_path: Path) -> None:
    """Run ids with slashes, dots or differing only in case are stored separately and read back."""
    backend = await open_backend(f"file://{tmp_path}")
    try:
        ids = ["a/b", "../x", "Run", "run", "ö 😀", "x" * 300]
        for run_id in ids:
            await backend.state.create_run(run_id, "wf", "null")
        assert sorted(r.run_id for r in await backend.state.list_runs()) == sorted(ids)
        assert _json_dirs(tmp_path) == {tmp_path / "runs"}
    finally:
        await backend.close()


async def test_file_corrupt_job_is_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A damaged job file is logged and skipped; the other jobs are still delivered."""
    backend = await open_backend(f"file://{tmp_path}")
    try:
        await backend.queue.enqueue("q", {"n": 1})
        (tmp_path / "queue" / "broken.json").write_text("{", encoding="utf-8")
        with caplog.at_level(logging.WARNING):
            jobs = await backend.queue.claim(["q"], owner="w", lease_s=30, limit=5)
        assert [j.payload for j in jobs] == [{"n": 1}]
        assert "broken.json" in caplog.text
    finally:
        await backend.close()


async def test_sqlite_state_survives_reopening(tmp_path: Path) -> None:
    """Runs, steps and jobs are on disk: a new connection to the same file sees them (WAL mode)."""
    url = f"sqlite:///{tmp_path}/nested/dir/db.sqlite3"
    first = await open_backend(url)
    await first.state.create_run("r1", "wf", '"in"')
    await first.queue.enqueue("q", {"n": 1})
    await first.close()
    second = await open_backend(url)
    try:
        assert (await second.state.get_run("r1")).input_json == '"in"'
        assert await second.queue.count("q") == 1
    finally:
        await second.close()
    with sqlite3.connect(tmp_path / "nested" / "dir" / "db.sqlite3") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        newest = max(int(f.name[:4]) for f in MIGRATIONS.iterdir() if f.name.endswith(".sql"))
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(newest,)]


async def test_sqlite_garbage_file_is_corrupt_state(tmp_path: Path) -> None:
    """A file that is not a SQLite database raises CorruptStateError naming it."""
    path = tmp_path / "db.sqlite3"
    path.write_bytes(b"this is not a database, just some bytes" * 200)
    with pytest.raises(CorruptStateError) as info:
        await open_backend(f"sqlite:///{path}")
    assert info.value.location == str(path)


async def test_sqlite_newer_schema_is_refused(tmp_path: Path) -> None:
    """A database written by a newer pikku (higher schema version) is not used."""
    url = f"sqlite:///{tmp_path}/db.sqlite3"
    await (await open_backend(url)).close()
    with sqlite3.connect(tmp_path / "db.sqlite3") as conn:
        conn.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(CorruptStateError, match="newer"):
        await open_backend(url)
