"""Helpers shared by the file state store and the file queue: locks, atomic JSON writes, checked reads."""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import filelock

from pikku._errors import BackendUnavailableError, CorruptStateError
from pikku.backends._folders import denied_as_folder_error

#: How long a method waits for another process to let go of a lock before giving up.
LOCK_TIMEOUT_S = 30.0
#: How often a blocked lock is retried (filelock polls a non-blocking flock).
LOCK_POLL_S = 0.001

_last_seq = 0


def next_seq() -> int:
    """A number that grows with every call in this process (epoch nanoseconds, made strictly increasing)."""
    global _last_seq  # noqa: PLW0603 - one tie-breaker per process
    _last_seq = max(time.time_ns(), _last_seq + 1)
    return _last_seq


def make_lock(path: Path) -> filelock.BaseFileLock:
    """An inter-process lock on ``path`` (the lock file is created on first use and left in place)."""
    return filelock.FileLock(path, timeout=LOCK_TIMEOUT_S, poll_interval=LOCK_POLL_S)


@contextmanager
def locked(lock: filelock.BaseFileLock) -> Iterator[None]:
    """Hold ``lock``; BackendUnavailableError if another process keeps it for too long.

    Nearly every write of the file backend happens under a lock, so a write refused by the OS (a folder
    made read-only) becomes DataFolderError here, naming the folder, for the body too.
    """
    folder = Path(lock.lock_file).parent
    try:
        with denied_as_folder_error(folder):
            lock.acquire()
    except filelock.Timeout as exc:
        raise BackendUnavailableError(
            f"timed out after {LOCK_TIMEOUT_S:g}s waiting for the lock {lock.lock_file}",
            hint="another process holds it; if none is running, the lock file can be removed",
        ) from exc
    try:
        with denied_as_folder_error(folder):
            yield
    finally:
        lock.release()


def dumps(value: Any) -> str:
    """JSON text with unicode kept as is."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def write_json(path: Path, value: Any) -> None:
    """Replace ``path`` atomically: write a temporary file beside it, flush, fsync, rename over."""
    with denied_as_folder_error(path.parent):
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(dumps(value))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def read_json(path: Path) -> Any:
    """Parse ``path``. FileNotFoundError passes through; anything else unreadable is CorruptStateError."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError) as exc:
        raise CorruptStateError(str(path), str(exc)) from exc
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CorruptStateError(str(path), f"invalid JSON: {exc}") from exc
