"""The generated client and types are checked by mypy: correct use passes, misuse is reported."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from mypy import api

HERE = Path(__file__).parent
ROOT = HERE.parents[1]


def _mypy(path: Path) -> tuple[str, int]:
    stdout, stderr, status = api.run(
        [
            "--strict",
            "--no-error-summary",
            "--show-error-codes",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(ROOT / ".mypy_cache"),
            str(path),
        ]
    )
    return stdout + stderr, status


@pytest.mark.slow
def test_correct_usage_type_checks() -> None:
    """Starting, reading runs, waiting for results and typed do() calls pass mypy --strict."""
    output, status = _mypy(HERE / "usage_ok.py")
    assert status == 0, output


@pytest.mark.slow
def test_misuse_is_reported_on_the_marked_lines() -> None:
    """A wrong input type to start(), wrong result types and an unknown rpc name are mypy errors."""
    output, status = _mypy(HERE / "usage_bad.py")
    assert status == 1
    expected = {
        i: code
        for i, line in enumerate((HERE / "usage_bad.py").read_text().splitlines(), start=1)
        if (m := re.search(r"# E: ([\w-]+)", line)) and (code := m.group(1))
    }
    reported = {
        int(m.group(1)): m.group(2)
        for m in re.finditer(r"usage_bad\.py:(\d+): error: .*\[([\w-]+)\]", output)
    }
    assert reported == expected, output


@pytest.mark.slow
def test_generated_package_and_example_app_pass_mypy_strict() -> None:
    """The committed generated code and the example app it wires are clean under mypy --strict."""
    output, status = _mypy(ROOT / ".pikku" / "pikku_gen")
    assert status == 0, output
    output, status = _mypy(ROOT / "example_app")
    assert status == 0, output
