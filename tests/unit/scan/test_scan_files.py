"""Reading source files: as many bytes as the file holds, even when it grows while it is read."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from pikku.cli.scan import files
from pikku.cli.scan.files import MAX_SOURCE_BYTES, read_source


class _Stat:
    """An fstat result whose size is what the file had a moment before it grew."""

    def __init__(self, real: os.stat_result, size: int) -> None:
        self.st_mode, self.st_size = real.st_mode, size


def _stale_fstat(monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    real = os.fstat

    def fstat(fd: int) -> Any:
        return _Stat(real(fd), size)

    monkeypatch.setattr(files.os, "fstat", fstat)


def test_a_file_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_bytes(b"x = 1\n" * 1000)
    assert read_source(path, "app/m.py") == b"x = 1\n" * 1000
    (tmp_path / "empty.py").write_bytes(b"")
    assert read_source(tmp_path / "empty.py", "app/empty.py") == b""


def test_a_file_that_grew_after_its_size_was_read_is_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The read asks for the size fstat gave (+1); finding more, it reads on instead of cutting the file."""
    path = tmp_path / "m.py"
    path.write_bytes(b"y = 2\n" * 500)
    _stale_fstat(monkeypatch, 10)
    assert read_source(path, "app/m.py") == b"y = 2\n" * 500


def test_a_file_that_grew_past_the_limit_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "blob.py"
    path.write_bytes(b"#" * (MAX_SOURCE_BYTES + 10))
    _stale_fstat(monkeypatch, 10)
    found = read_source(path, "app/blob.py")
    assert not isinstance(found, bytes) and found.code == "PKU021", found


def test_the_read_asks_for_the_file_size_not_the_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """read(n) allocates n bytes up front: asking for MAX_SOURCE_BYTES (2 MiB) per file cost a sixth of a
    cold prebuild's time on 1,000 small files."""
    asked: list[int] = []
    real_fdopen = os.fdopen

    class Recording:
        def __init__(self, fh: Any) -> None:
            self.fh = fh

        def __enter__(self) -> Recording:
            return self

        def __exit__(self, *exc: object) -> None:
            self.fh.close()

        def read(self, size: int = -1) -> bytes:
            asked.append(size)
            data: bytes = self.fh.read(size)
            return data

    monkeypatch.setattr(files.os, "fdopen", lambda fd, mode: Recording(real_fdopen(fd, mode)))
    path = tmp_path / "m.py"
    path.write_bytes(b"z = 3\n" * 100)
    assert read_source(path, "app/m.py") == b"z = 3\n" * 100
    assert asked == [601]
