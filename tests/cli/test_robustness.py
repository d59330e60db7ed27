"""Odd source files end in a coded diagnostic naming the file, the line and the fix: no traceback, no hang."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cli_support import project, run

FLOW = """
from pikku import wire_workflow

async def flow(services, data: dict) -> dict:
    return data

wire_workflow(name="hello", func=flow)
"""


def _clean(result_stderr: str) -> None:
    assert "Traceback" not in result_stderr, result_stderr


def test_dangling_symlink_is_skipped_with_a_warning(tmp_path: Path) -> None:
    """A .py symlink to nothing: warning PKU020 at the file, the rest of the project is generated."""
    root = project(tmp_path, {"app/flow.py": FLOW})
    (root / "app" / "gone.py").symlink_to(root / "app" / "nowhere.py")
    result = run("prebuild", cwd=root)
    _clean(result.stderr)
    assert result.returncode == 0, result.stderr
    assert "app/gone.py:1:1: warning PKU020" in result.stderr
    assert "which does not exist" in result.stderr and "fix:" in result.stderr
    assert (root / ".pikku" / "pikku_gen" / "workflow" / "map.py").exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_and_device_named_py_do_not_hang(tmp_path: Path) -> None:
    """A FIFO and a symlink to /dev/zero named *.py are skipped (PKU020) instead of read forever."""
    root = project(tmp_path, {"app/flow.py": FLOW})
    os.mkfifo(root / "app" / "pipe.py")
    (root / "app" / "zero.py").symlink_to("/dev/zero")
    result = run("prebuild", cwd=root, timeout=60)
    _clean(result.stderr)
    assert result.returncode == 0, result.stderr
    assert "app/pipe.py:1:1: warning PKU020" in result.stderr and "is a FIFO" in result.stderr
    assert "app/zero.py:1:1: warning PKU020" in result.stderr and "is a device" in result.stderr


def test_source_file_over_the_size_cap_is_an_error(tmp_path: Path) -> None:
    """A .py file over 2 MiB is not read: error PKU021 naming it, nothing written."""
    root = project(tmp_path, {"app/flow.py": FLOW})
    (root / "app" / "blob.py").write_text("DATA = " + repr("x" * (3 * 1024 * 1024)) + "\n")
    result = run("prebuild", cwd=root)
    _clean(result.stderr)
    assert result.returncode == 1
    assert "app/blob.py:1:1: error PKU021" in result.stderr and "larger than 2 MiB" in result.stderr
    assert not (root / ".pikku").exists()


def test_lone_surrogate_in_a_literal_is_an_error(tmp_path: Path) -> None:
    """A workflow name or step description holding a lone surrogate: PKU022 at its line, not a crash."""
    source = FLOW.replace('name="hello"', 'name="hel\\ud800lo"').replace(
        "return data", 'return await services.workflow.do("s", lambda: 1, description="x\\udcff")'
    )
    root = project(tmp_path, {"app/flow.py": source})
    result = run("prebuild", cwd=root)
    _clean(result.stderr)
    assert result.returncode == 1
    assert "app/flow.py:5:18: error PKU022" in result.stderr, result.stderr
    assert "app/flow.py:7:1: error PKU022" in result.stderr, result.stderr
    assert "'hel\\ud800lo'" in result.stderr


def test_non_utf8_source_points_at_the_line(tmp_path: Path) -> None:
    """A latin-1 file without a coding declaration: PKU001 at the line and column of the first bad byte."""
    root = project(tmp_path, {"app/flow.py": FLOW})
    (root / "app" / "legacy.py").write_bytes(b'"""Old module."""\n\nNAME = "caf\xe9"\n')
    result = run("prebuild", cwd=root)
    _clean(result.stderr)
    assert result.returncode == 1
    assert "app/legacy.py:3:12: error PKU001" in result.stderr, result.stderr
    assert "save the file as UTF-8" in result.stderr


def test_brackets_nested_deeper_than_python_allows_do_not_crash(tmp_path: Path) -> None:
    """5,000 nested lists (libcst's parser segfaults on them): PKU001 at the place Python stops, exit 1."""
    root = project(tmp_path, {"app/flow.py": FLOW})
    (root / "app" / "deep.py").write_text("x = 1\ny = " + "[" * 5000 + "]" * 5000 + "\n")
    result = run("prebuild", cwd=root)
    _clean(result.stderr)
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert "app/deep.py:2:205: error PKU001" in result.stderr
    assert "too many nested parentheses" in result.stderr


def test_expressions_nested_beyond_the_scanner_are_refused_not_crashed(tmp_path: Path) -> None:
    """A 20,000-link 'and' chain killed prebuild (segmentation fault in libcst's parser), a 100,000-deep
    attribute chain ran for minutes and a 600-term sum was PIKKU_INTERNAL: now PKU001 at each file, exit 1."""
    root = project(tmp_path, {"app/flow.py": FLOW})
    (root / "app" / "chain.py").write_text("ok = True\nx = " + " and ".join(["a"] * 20_000) + "\n")
    (root / "app" / "attrs.py").write_text("x = a" + ".a" * 100_000 + "\n")
    (root / "app" / "total.py").write_text("x = " + " + ".join(["1"] * 600) + "\n")
    result = run("prebuild", cwd=root)
    _clean(result.stderr)
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert "app/chain.py:2:1: error PKU001" in result.stderr, result.stderr
    assert "app/attrs.py:1:1: error PKU001" in result.stderr and "app/total.py:1:1: error PKU001" in result.stderr
    assert result.stderr.count("split the expression") == 3
    assert not (root / ".pikku").exists()
