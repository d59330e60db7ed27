"""Scanning many files on every core the process may use.

A cold prebuild (the first on a machine, and every CI run, which starts without the cache) spends most
of its time parsing. Files are scanned independently (:func:`scan_source` is a pure function of the
file's path and bytes), so a large batch is split across forked worker processes and the results come
back in order: the facts are the same as one process scanning alone, only sooner.

Forking is used only on Linux, where it is cheap and the parent's imports (libcst, the scanner) are
shared; elsewhere, and for small batches (warm prebuilds rescan a few edited files), the files are
scanned in this process. A worker that dies (which the depth guard in :mod:`.depth` exists to prevent)
makes the batch run again here, so the outcome is what a single process would have produced.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from pikku.cli.scan.extract import scan_source
from pikku.cli.scan.facts import FileFacts

#: Below this many files to scan, starting worker processes costs more than it saves.
MIN_FILES_PER_WORKER = 100
#: More workers than this gain little: parsing 1,000 files takes about a second on one core.
MAX_WORKERS = 8
# Chunks per worker: workflow modules cost several times a function module, so smaller chunks balance.
_CHUNKS_PER_WORKER = 4
# prctl(2): the signal a process gets when its parent ends (Linux).
_PR_SET_PDEATHSIG = 1

Scanned = tuple[FileFacts, str]  # the facts and their JSON (what the cache stores)


def scan_sources(items: Sequence[tuple[str, bytes]]) -> list[Scanned]:
    """``(facts, facts JSON)`` for each ``(project file, source bytes)``, in the order given."""
    workers = min(worker_count(len(items)), len(items))
    if workers < 2:
        return scan_chunk(items)
    size = -(-len(items) // (workers * _CHUNKS_PER_WORKER))
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    try:
        with ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_end_with_parent,
            initargs=(os.getpid(),),
        ) as pool:
            return [scanned for chunk in pool.map(scan_chunk, chunks) for scanned in chunk]
    except BrokenProcessPool:
        return scan_chunk(items)


def _end_with_parent(parent: int) -> None:
    """In a worker: be terminated when prebuild ends, however it ends. A parent killed by SIGTERM (a CI
    timeout, ``docker stop``) or SIGKILL (the OOM killer) otherwise leaves its workers waiting for work
    forever, orphaned, holding prebuild's stdout and stderr open."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # no prctl: the worker ends when its queue closes, as before
        return
    if os.getppid() != parent:  # prebuild ended before the prctl call
        os._exit(1)


def scan_chunk(items: Sequence[tuple[str, bytes]]) -> list[Scanned]:
    """What a worker does (and this process, for a small batch): scan each file, serialize its facts."""
    out: list[Scanned] = []
    for file, source in items:
        facts = scan_source(file, source)
        out.append((facts, facts.to_json()))
    return out


def worker_count(files: int) -> int:
    """How many processes scan ``files`` files: one per core this process may use, at most one per
    MIN_FILES_PER_WORKER files and MAX_WORKERS; 1 (this process) where forking is not used, or not allowed
    (a daemonic process, such as a multiprocessing pool's worker, may not start children)."""
    if not sys.platform.startswith("linux") or "fork" not in multiprocessing.get_all_start_methods():
        return 1
    if multiprocessing.current_process().daemon:
        return 1
    cores = len(os.sched_getaffinity(0))
    return max(1, min(cores, MAX_WORKERS, files // MIN_FILES_PER_WORKER))
