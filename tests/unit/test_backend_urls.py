"""Backend URLs that point at the wrong thing are a coded BackendURLError, never a driver traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from pikku._errors import BackendURLError
from pikku.backends import open_backend
from tests.conftest import require_service


async def test_a_file_url_naming_a_file_is_refused(tmp_path: Path) -> None:
    """file:// must name a folder; a regular file there is reported, not a NotADirectoryError traceback."""
    target = tmp_path / "not-a-folder"
    target.write_text("user data")
    with pytest.raises(BackendURLError, match="names a file"):
        await open_backend(f"file://{target}")
    assert target.read_text() == "user data"


async def test_a_redis_database_number_out_of_range_is_refused() -> None:
    """redis://.../99 on a server with 16 databases: a coded error naming the URL, not a ResponseError."""
    require_service("Redis", "127.0.0.1", 6379)
    with pytest.raises(BackendURLError, match="database number"):
        await open_backend("redis://:s3cret@127.0.0.1:6379/99")
