"""Files: one JSON file per run, file locks and atomic writes (``file:///path/dir``). State and queue are
separate files, so a hand-off is written after the step (write-then-enqueue)."""

from __future__ import annotations

from pathlib import Path

from pikku._errors import BackendURLError
from pikku.backends._transitions import WriteThenEnqueue
from pikku.backends._urls import path_from_url
from pikku.backends.file.queue import FileQueue
from pikku.backends.file.store import FileStateStore

EXTRA: str | None = None


async def open_state(url: str) -> FileStateStore:
    """A file store in the directory a ``file://`` URL names (created when missing)."""
    return FileStateStore(_directory(url))


async def open_queue(url: str) -> FileQueue:
    """A file queue in ``<dir>/queue/`` of the directory a ``file://`` URL names (created when missing)."""
    return FileQueue(_directory(url))


def _directory(url: str) -> Path:
    """The folder a ``file://`` URL names; BackendURLError when something other than a folder is there."""
    path = path_from_url(url)
    if path.exists() and not path.is_dir():
        raise BackendURLError(
            f"{url!r} names a file, not a folder", hint="point file:// at a folder pikku may create files in"
        )
    return path


async def open_pair(url: str) -> tuple[FileStateStore, FileQueue, WriteThenEnqueue]:
    """Store and queue of one directory; their files are apart, so transitions write, then enqueue."""
    state, queue = await open_state(url), await open_queue(url)
    return state, queue, WriteThenEnqueue(state, queue)
