"""A data folder pikku may not write (file and SQLite backends): DataFolderError (PIKKU_DATA_FOLDER) naming
the folder and saying how to fix it, at open and on a write, and one coded line from the CLI.

What is really denied here: these tests run as root on the development machine, and root ignores file
modes. So the in-process tests drop the process's *effective* uid to ``nobody`` for the few lines that
touch the folder (``os.seteuid``; the real uid stays root, so it is taken back after) and first prove that a
plain write into the folder now fails; not root, a ``chmod`` is enough. The CLI test runs ``pikku`` as root
in a private mount namespace where the folder is a read-only bind mount (EROFS, which root cannot bypass),
or, not root, in a folder without write permission.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import pikku.backends.file
import pikku.backends.sqlite  # imported before privileges drop: nobody may not read this Python's files
from pikku import DataFolderError
from pikku.backends import open_backend

NOBODY = 65534
PIKKU = Path(sys.executable).with_name("pikku")
ROOT = Path(__file__).resolve().parents[2]

assert pikku.backends.file and pikku.backends.sqlite


@pytest.fixture
def base() -> Iterator[Path]:
    """A folder under the system temp dir that ``nobody`` may enter (pytest's tmp_path is root-only)."""
    folder = Path(tempfile.mkdtemp(prefix="pikku-ro-"))
    folder.chmod(0o755)
    yield folder
    for path in [folder, *folder.rglob("*")]:
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o755)
    shutil.rmtree(folder)


def _read_only(*paths: Path) -> None:
    """Take write permission away from ``paths`` and everything under them."""
    for top in paths:
        for path in [top, *top.rglob("*")]:
            mode = path.stat().st_mode
            path.chmod(stat.S_IMODE(mode) & ~0o222)


@contextlib.contextmanager
def unprivileged(probe: Path) -> Iterator[None]:
    """Run the body as a user file modes apply to; first prove a write into ``probe`` is refused."""
    dropped = os.geteuid() == 0
    if dropped:
        os.setegid(NOBODY)
        os.seteuid(NOBODY)
    try:
        with pytest.raises(PermissionError):  # root's bypass is really gone: the folder refuses a write
            (probe / "proof").write_text("x")
        yield
    finally:
        if dropped:
            os.seteuid(0)
            os.setegid(0)


async def test_a_file_backend_folder_that_cannot_be_created(base: Path) -> None:
    """file:// naming a folder to be made inside a read-only one: the error names the read-only folder."""
    _read_only(base)
    with unprivileged(base), pytest.raises(DataFolderError) as caught:
        await open_backend(f"file://{base}/state")
    assert caught.value.code == "PIKKU_DATA_FOLDER"
    assert caught.value.folder == str(base)
    assert "writable" in (caught.value.hint or "")


async def test_a_read_only_file_backend_folder_is_refused_at_open(base: Path) -> None:
    """An existing file backend whose folders were made read-only: open fails naming one of them."""
    backend = await open_backend(f"file://{base}/state")
    await backend.close()
    _read_only(base / "state")
    with unprivileged(base / "state"), pytest.raises(DataFolderError) as caught:
        await open_backend(f"file://{base}/state")
    assert Path(caught.value.folder).parent == base / "state"


async def test_a_folder_made_read_only_under_an_open_file_backend(base: Path) -> None:
    """Opened while writable, then made read-only: creating a run and enqueueing a job fail with
    DataFolderError naming the runs and the queue folder, not a PermissionError."""
    backend = await open_backend(f"file://{base}/state")
    try:
        _read_only(base / "state")
        with unprivileged(base / "state" / "runs"):
            with pytest.raises(DataFolderError) as run_error:
                await backend.state.create_run("ro-1", "wf", "null")
            with pytest.raises(DataFolderError) as job_error:
                await backend.queue.enqueue("q", {"n": 1})
    finally:
        await backend.close()
    assert run_error.value.folder == str(base / "state" / "runs")
    assert job_error.value.folder == str(base / "state" / "queue")


async def test_a_sqlite_database_in_a_read_only_folder(base: Path) -> None:
    """sqlite:/// naming a new database in a read-only folder: DataFolderError naming the folder."""
    (base / "data").mkdir()
    _read_only(base / "data")
    with unprivileged(base / "data"), pytest.raises(DataFolderError) as caught:
        await open_backend(f"sqlite:///{base}/data/db.sqlite3")
    assert caught.value.folder == str(base / "data")


async def test_a_read_only_sqlite_database_file(base: Path) -> None:
    """An existing database whose folder and files were made read-only: DataFolderError naming the
    folder, where before it said another process might hold a lock."""
    backend = await open_backend(f"sqlite:///{base}/data/db.sqlite3")
    await backend.close()
    _read_only(base / "data")
    with unprivileged(base / "data"), pytest.raises(DataFolderError) as caught:
        await open_backend(f"sqlite:///{base}/data/db.sqlite3")
    assert caught.value.folder == str(base / "data")


def _read_only_command(folder: Path, command: list[str]) -> list[str] | None:
    """``command`` run where ``folder`` cannot be written: a read-only bind mount in a private mount
    namespace (root), or as is after a chmod (not root). None when neither can be arranged."""
    if os.geteuid() != 0:
        _read_only(folder)
        return command
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    probe = subprocess.run([unshare, "-m", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        return None
    script = 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" && shift && exec "$@"'
    return [unshare, "-m", "sh", "-c", script, "sh", str(folder), *command]


@pytest.mark.parametrize("scheme", ["file", "sqlite"])
def test_the_cli_on_a_read_only_data_folder_prints_one_coded_line(base: Path, scheme: str) -> None:
    """`pikku start` with its state in a read-only folder: exit 1, PIKKU_DATA_FOLDER naming the folder and
    the fix, no traceback (before: PIKKU_INTERNAL, an unexpected PermissionError)."""
    data = base / "data"
    data.mkdir()
    url = f"file://{data}/state" if scheme == "file" else f"sqlite:///{data}/db.sqlite3"
    command = _read_only_command(data, [str(PIKKU), "start", "onboarding", '{"email": "a@b.c"}', "--root", str(ROOT)])
    if command is None:
        pytest.skip("cannot make a folder read-only for root here (no unshare -m)")
    env = {**os.environ, "PIKKU_STATE_URL": url, "COLUMNS": "300"}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1, result.stderr
    assert "PIKKU_DATA_FOLDER" in result.stderr and str(data) in result.stderr, result.stderr
    assert "fix: make the folder writable" in result.stderr
