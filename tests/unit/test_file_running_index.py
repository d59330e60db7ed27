"""File store: listing running runs (the recovery sweep) reads the running runs' files only, and the index
that makes it so is rebuilt from the run files now and then."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pikku.backends import file
from pikku.backends.file import store as file_store


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Path]]:
    """Every run file the store reads, in order."""
    seen: list[Path] = []
    real = file_store.read_json

    def counting(path: Path) -> Any:
        seen.append(path)
        return real(path)

    monkeypatch.setattr(file_store, "read_json", counting)
    yield seen


async def _runs(root: Path, running: int, settled: int) -> file_store.FileStateStore:
    state = await file.open_state(f"file://{root}")
    for n in range(running + settled):
        await state.create_run(f"r{n}", "wf", "{}")
    for n in range(running, running + settled):  # completed and cancelled, alternately
        if n % 2:
            await state.complete_run(f"r{n}", "null")
        else:
            await state.cancel_run(f"r{n}")
    return state


def _markers(root: Path) -> int:
    return len(list((root / "running").iterdir()))


async def test_listing_running_runs_reads_only_their_files(tmp_path: Path, reads: list[Path]) -> None:
    state = await _runs(tmp_path / "s", running=3, settled=20)
    assert _markers(tmp_path / "s") == 3
    first = await state.list_runs(status="running")  # a store's first such listing scans every file
    reads.clear()
    running = await state.list_runs(status="running")
    assert sorted(r.run_id for r in running) == sorted(r.run_id for r in first) == ["r0", "r1", "r2"]
    assert len(reads) == 3
    assert {r.status for r in await state.list_runs()} == {"running", "completed", "cancelled"}
    await state.close()


async def test_a_directory_without_the_index_is_indexed_on_first_use(tmp_path: Path) -> None:
    root = tmp_path / "s"
    state = await _runs(root, running=2, settled=3)
    await state.close()
    shutil.rmtree(root / "running")  # as written by a pikku without the index
    again = await file.open_state(f"file://{root}")
    assert sorted(r.run_id for r in await again.list_runs(status="running")) == ["r0", "r1"]
    assert _markers(root) == 2
    await again.close()


async def test_a_lost_marker_comes_back_at_the_next_rebuild(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A marker lost to a power cut (or a run an older pikku wrote) is found again within RECONCILE_S."""
    root = tmp_path / "s"
    state = await _runs(root, running=2, settled=0)
    await state.list_runs(status="running")  # rebuilt just now
    (root / "running" / state._path("r1").stem).unlink()
    assert [r.run_id for r in await state.list_runs(status="running")] == ["r0"]
    monkeypatch.setattr(file_store, "RECONCILE_S", 0.0)
    assert sorted(r.run_id for r in await state.list_runs(status="running")) == ["r0", "r1"]
    assert _markers(root) == 2
    await state.close()


async def test_a_marker_left_by_a_crash_after_a_settle_is_dropped(tmp_path: Path) -> None:
    root = tmp_path / "s"
    state = await _runs(root, running=1, settled=0)
    await state.list_runs(status="running")
    await state.complete_run("r0", "null")
    stem = state._path("r0").stem
    (root / "running" / stem).touch()  # as if the process died between the settle and the unlink
    assert await state.list_runs(status="running") == []
    assert not (root / "running" / stem).exists()
    await state.close()


async def test_a_rebuild_reads_only_files_not_known_settled(
    tmp_path: Path, reads: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs never go back to running: a store's later rebuilds skip the files of runs it saw settled."""
    state = await _runs(tmp_path / "s", running=3, settled=20)  # settled by this store: known
    monkeypatch.setattr(file_store, "RECONCILE_S", 0.0)  # every listing rebuilds
    reads.clear()
    assert len(await state.list_runs(status="running")) == 3
    assert len(reads) == 3
    other = await file.open_state(f"file://{tmp_path / 's'}")  # a store that knows nothing yet
    reads.clear()
    assert len(await other.list_runs(status="running")) == 3
    assert len(reads) == 23
    reads.clear()
    assert len(await other.list_runs(status="running")) == 3
    assert len(reads) == 3
    await other.close()
    await state.close()


async def test_a_rebuild_drops_markers_whose_run_never_came(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash inside create_run leaves a marker without a run file: dropped once a minute old."""
    root = tmp_path / "s"
    state = await _runs(root, running=1, settled=0)
    old, young = root / "running" / "ghost.0000000000000000", root / "running" / "young.0000000000000000"
    old.touch()
    young.touch()
    os.utime(old, (time.time() - 120, time.time() - 120))
    monkeypatch.setattr(file_store, "RECONCILE_S", 0.0)
    assert [r.run_id for r in await state.list_runs(status="running")] == ["r0"]
    assert not old.exists() and young.exists()
    await state.close()
