"""Scanning a batch on several processes gives exactly the facts one process gives, in the same order."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from scan_support import write_project

from pikku.cli.cache import PrebuildCache
from pikku.cli.scan import FileFacts, find_source_files, parallel, scan_files
from pikku.cli.scan.facts import FileFacts as Facts

pytestmark = pytest.mark.skipif(parallel.worker_count(10_000) < 2, reason="scanning processes need Linux, 2+ cores")

WORKFLOW = """
from pikku import pikku_func, wire_workflow

@pikku_func
async def flow_{i}(services, data: dict) -> dict:
    await services.workflow.do("a", "fn{i}.op", {{"k": 1}})
    await services.workflow.sleep("1s")
    return data

wire_workflow(name="flow{i}", func=flow_{i})
"""
FUNCTION = """
from pikku import pikku_func

@pikku_func(name="fn{i}.op")
async def op_{i}(services, data: dict) -> int:
    return {i}
"""


def _project(root: Path) -> list[Path]:
    files = {"app/__init__.py": ""}
    for i in range(12):
        files[f"app/wf{i:02d}.py"] = WORKFLOW.format(i=i)
        files[f"app/fn{i:02d}.py"] = FUNCTION.format(i=i)
    files["app/broken.py"] = "def (:\n"
    files["app/deep.py"] = "x = " + " and ".join(["a"] * 400) + "\n"
    write_project(root, files)
    (root / "app" / "legacy.py").write_bytes(b"# -*- coding: latin-1 -*-\nNAME = 'caf\xe9'\n")
    (root / "app" / "gone.py").symlink_to(root / "app" / "nowhere.py")
    return find_source_files(root, ["app"])


def _forced(monkeypatch: pytest.MonkeyPatch, workers: int) -> None:
    monkeypatch.setattr(parallel, "worker_count", lambda files: workers)


def _scanned_by(monkeypatch: pytest.MonkeyPatch, marks: Path) -> None:
    """Each process that scans a file leaves a file named after its pid in ``marks``."""
    real = parallel.scan_source

    def marking(file: str, source: bytes) -> FileFacts:
        (marks / str(os.getpid())).touch()
        return real(file, source)

    monkeypatch.setattr(parallel, "scan_source", marking)


def test_two_processes_give_the_facts_one_gives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = _project(tmp_path / "p")
    marks = tmp_path / "marks"
    marks.mkdir()
    _scanned_by(monkeypatch, marks)
    _forced(monkeypatch, 1)
    alone = scan_files(tmp_path / "p", paths)
    assert {m.name for m in marks.iterdir()} == {str(os.getpid())}
    _forced(monkeypatch, 2)
    for mark in marks.iterdir():
        mark.unlink()
    together = scan_files(tmp_path / "p", paths)
    scanners = {int(m.name) for m in marks.iterdir()}
    assert len(scanners) == 2 and os.getpid() not in scanners, scanners
    assert together == alone
    assert [f.file for f in together] == sorted(f.file for f in together)
    codes = {f.file: [d.code for d in f.diagnostics] for f in together if f.diagnostics}
    assert codes == {
        "app/broken.py": ["PKU001"],
        "app/deep.py": ["PKU001"],
        "app/gone.py": ["PKU020"],
    }, codes


def test_the_cache_stores_what_the_processes_scanned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Facts scanned by workers are cached as their JSON; the next run reuses them all and scans nothing."""
    root = tmp_path / "p"
    paths = _project(root)
    _forced(monkeypatch, 2)
    cache = PrebuildCache(tmp_path / "cache")
    first = cache.scan_files(root, paths)
    assert len(cache.scanned) == len(paths) - 1  # all but the dangling symlink, which is not read
    cache.save()
    again = PrebuildCache(tmp_path / "cache")
    assert again.scan_files(root, paths) == first
    assert again.scanned == [] and again.reused == len(paths) - 1
    assert all(Facts.from_json(f.to_json()) == f for f in first)


def test_a_worker_that_dies_leaves_the_batch_to_this_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker killed mid-batch (libcst's parser can crash a process) breaks the pool; the batch is then
    scanned here, and the facts are the same."""
    root = tmp_path / "p"
    paths = _project(root)
    _forced(monkeypatch, 1)
    alone = scan_files(root, paths)
    parent = os.getpid()
    real = parallel.scan_source

    def dying(file: str, source: bytes) -> FileFacts:
        if os.getpid() != parent:
            os._exit(1)
        return real(file, source)

    monkeypatch.setattr(parallel, "scan_source", dying)
    _forced(monkeypatch, 2)
    assert scan_files(root, paths) == alone


def test_small_batches_stay_in_this_process() -> None:
    assert parallel.worker_count(parallel.MIN_FILES_PER_WORKER * 2 - 1) == 1
    cores = len(os.sched_getaffinity(0)) if sys.platform.startswith("linux") else 1
    assert parallel.worker_count(10**6) == min(cores, parallel.MAX_WORKERS)
