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

from pikku._errors import RunNotFoundError
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
    """A run goes back to running only by a resume, which makes its marker: a store's later rebuilds skip
    the files of runs it saw settled that have none."""
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


async def test_a_resumed_run_is_back_in_the_running_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """resume_run makes the run's marker: listing running runs finds it through the index, also in another
    store that had seen it settled, and in that store's next rebuild (which skips runs known settled)."""
    root = tmp_path / "s"
    state = await _runs(root, running=0, settled=2)  # r0 cancelled, r1 completed
    other = await file.open_state(f"file://{root}")
    assert await other.list_runs(status="running") == []  # other now knows r0 and r1 settled
    assert await state.resume_run("r0")
    assert _markers(root) == 1
    assert [r.run_id for r in await state.list_runs(status="running")] == ["r0"]
    assert [r.run_id for r in await other.list_runs(status="running")] == ["r0"]
    monkeypatch.setattr(file_store, "RECONCILE_S", 0.0)
    assert [r.run_id for r in await other.list_runs(status="running")] == ["r0"]
    assert _markers(root) == 1
    await other.close()
    await state.close()


async def test_a_marker_is_dropped_only_while_its_run_is_settled(tmp_path: Path) -> None:
    """The listing's removal of a marker left behind looks at the run again under its lock: a marker of a
    run resumed since it was read is kept; one of a run still settled goes."""
    root = tmp_path / "s"
    state = await _runs(root, running=0, settled=2)
    assert await state.resume_run("r0")
    stem0, stem1 = state._path("r0").stem, state._path("r1").stem
    (root / "running" / stem1).touch()  # left behind by a crash
    state._drop_marker_if_settled("r0")  # as a listing that read r0 before the resume would
    state._drop_marker_if_settled("r1")
    assert (root / "running" / stem0).exists() and not (root / "running" / stem1).exists()
    await state.close()


async def test_deleting_runs_leaves_none_of_their_files(tmp_path: Path) -> None:
    """delete_runs removes a run's file (its steps and attempts are in it), its marker if a crash left one,
    and its lock file; the running runs' files stay."""
    root = tmp_path / "s"
    state = await _runs(root, running=1, settled=3)
    (root / "running" / state._path("r1").stem).touch()  # left behind by a crash
    deleted = await state.delete_runs(before=time.time() + 1, statuses=("completed", "cancelled"), limit=10)
    assert sorted(deleted) == ["r1", "r2", "r3"]
    stem = state._path("r0").stem
    assert sorted(p.name for p in (root / "runs").iterdir()) == [f"{stem}.json", f"{stem}.lock"]
    assert [p.name for p in (root / "running").iterdir()] == [stem]
    await state.close()


async def test_a_change_to_a_missing_run_leaves_no_lock_file(tmp_path: Path) -> None:
    """A transition naming a run that does not exist (never, or deleted: a late job of a pruned run) raises
    RunNotFoundError and leaves no lock file behind."""
    root = tmp_path / "s"
    state = await _runs(root, running=0, settled=1)
    assert await state.delete_runs(before=time.time() + 1, statuses=("cancelled",), limit=10) == ["r0"]
    with pytest.raises(RunNotFoundError):
        await state.claim_step("r0", "s", "w", 30)
    with pytest.raises(RunNotFoundError):
        await state.resume_run("never")
    assert list((root / "runs").iterdir()) == []
    await state.close()
