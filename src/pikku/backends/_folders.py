"""The data folders of the file and SQLite backends: made and proved writable when a backend opens, and
a write that fails for want of permission reported as :class:`~pikku.DataFolderError` naming the folder,
whenever it happens (a folder made read-only under a running worker)."""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pikku._errors import DataFolderError

#: What a folder we may not write into (or through) looks like to the OS.
_DENIED = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR})


def writable_folder(folder: Path) -> Path:
    """Make ``folder`` (and its parents) if missing, then create and delete a file in it: the one check
    that covers permissions, ACLs, read-only mounts and a file standing where the folder belongs."""
    with denied_as_folder_error(folder):
        if folder.exists() and not folder.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "a file stands where the folder belongs", str(folder))
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".pikku-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    return folder


@contextmanager
def denied_as_folder_error(folder: Path) -> Iterator[None]:
    """Turn an OSError of denied writing inside the ``with`` into DataFolderError naming the folder of the
    file it names (else ``folder``); other errors pass through."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in _DENIED:
            raise
        named = Path(exc.filename) if isinstance(exc.filename, str) else None
        where = folder if named is None or named == folder else named.parent
        raise DataFolderError(str(where), exc.strerror or type(exc).__name__) from exc


__all__ = ["denied_as_folder_error", "writable_folder"]
