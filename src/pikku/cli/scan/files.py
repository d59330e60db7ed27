"""Which files make up the project, and the dotted module each one is."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath

from pikku._errors import ConfigError
from pikku.cli.model import Diagnostic, Location
from pikku.cli.scan import diagnostics as codes
from pikku.cli.scan.diagnostics import diagnostic

#: Source files larger than this are not read (a generated data module, not code to scan).
MAX_SOURCE_BYTES = 2 * 1024 * 1024
# Opening a FIFO for reading blocks until a writer comes; non-blocking, the open returns at once.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)

# Directories that never hold user source: caches, virtualenvs, VCS data, generated output.
_SKIP_DIRS = frozenset({"__pycache__", "node_modules", "site-packages"})


def find_source_files(root: Path, sources: Sequence[str]) -> list[Path]:
    """All ``.py`` files under each source (a path or dotted package relative to root), sorted, unique."""
    found: set[Path] = set()
    for source in sources:
        found.update(_walk(_source_path(root, source)))
    return sorted(found, key=lambda p: relative_file(root, p))


def read_source(path: Path, file: str) -> bytes | Diagnostic:
    """The bytes of the source file at ``path`` (``file`` in messages), or why it was not read.

    Only regular files are read (a symlink counts as what it points to): a FIFO or a device named
    ``*.py`` would block or never end. Anything over :data:`MAX_SOURCE_BYTES` is refused too.
    """
    where = Location(file, 1, 1)
    try:
        kind = path.stat().st_mode
    except FileNotFoundError:
        if path.is_symlink():
            message = f"{file} is a symlink to {os.readlink(path)}, which does not exist: skipped"
            return diagnostic(codes.SOURCE_SKIPPED, where, message)
        return diagnostic(codes.SOURCE_UNREADABLE, where, f"{file} disappeared while prebuild was reading it")
    except OSError as exc:
        return diagnostic(codes.SOURCE_UNREADABLE, where, f"{file} cannot be read: {exc.strerror or exc}")
    if not stat.S_ISREG(kind):
        return _not_regular(where, kind)
    return _read_regular(path, where)


def _read_regular(path: Path, where: Location) -> bytes | Diagnostic:
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        return diagnostic(codes.SOURCE_UNREADABLE, where, f"{where.file} cannot be read: {exc.strerror or exc}")
    with os.fdopen(fd, "rb") as fh:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):  # replaced between the stat and the open
            return _not_regular(where, status.st_mode)
        # Ask for the size the file has (+1 to see it grow), not for MAX_SOURCE_BYTES: read(n) allocates n
        # bytes first, and 2 MiB per file was 0.17 ms each (a sixth of a cold prebuild's reading).
        data = fh.read(min(status.st_size, MAX_SOURCE_BYTES) + 1)
        if len(data) > status.st_size:  # it grew since the fstat: read on, up to the limit
            data += fh.read(MAX_SOURCE_BYTES + 1 - len(data))
    if len(data) > MAX_SOURCE_BYTES:
        message = f"{where.file} is larger than {MAX_SOURCE_BYTES // (1024 * 1024)} MiB: not scanned"
        return diagnostic(codes.SOURCE_TOO_LARGE, where, message)
    return data


def _not_regular(where: Location, mode: int) -> Diagnostic:
    what = "a FIFO" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a file"
    message = f"{where.file} is {what}, not a regular file: skipped (reading it could block or never end)"
    return diagnostic(codes.SOURCE_SKIPPED, where, message)


def relative_file(root: Path, path: Path) -> str:
    """The POSIX path of ``path`` relative to ``root``, as diagnostics and facts record it."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:  # one of them was given through a symlink or as a relative path
        return path.resolve().relative_to(root.resolve()).as_posix()


def module_name(file: str) -> str:
    """``a/b/c.py`` -> ``a.b.c``; ``a/b/__init__.py`` -> ``a.b`` (the package itself)."""
    parts = PurePosixPath(file).with_suffix("").parts
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def is_package_file(file: str) -> bool:
    """True for ``__init__.py``: relative imports there are relative to the package itself."""
    return PurePosixPath(file).name == "__init__.py"


def _source_path(root: Path, source: str) -> Path:
    # A source may be written as a path ("example_app", "src/app") or a dotted package ("example_app.flows").
    candidates = [root / source, root / source.replace(".", "/"), root / (source.replace(".", "/") + ".py")]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    raise ConfigError(
        f"source {source!r} does not exist under {root}",
        hint="list existing package directories in [tool.pikku] source",
    )


def _walk(path: Path) -> Iterator[Path]:
    if path.is_file():
        if path.suffix == ".py":
            yield path
        return
    try:
        children = sorted(path.iterdir())
    except OSError as exc:
        raise ConfigError(
            f"source folder {path} cannot be listed: {exc.strerror or exc}",
            hint="make it readable, or remove it from [tool.pikku] source",
        ) from exc
    for child in children:
        if child.is_dir():
            # Symlinked directories are skipped: they can loop, and their files live elsewhere anyway.
            if not child.name.startswith(".") and child.name not in _SKIP_DIRS and not child.is_symlink():
                yield from _walk(child)
        elif child.suffix == ".py":
            yield child
