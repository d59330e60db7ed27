"""Helpers shared by the CLI tests (imported by name: this directory is on sys.path under pytest)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

PIKKU = Path(sys.executable).with_name("pikku")
ROOT = Path(__file__).resolve().parents[2]


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the real ``pikku`` command; exit code and output are the caller's to check."""
    return subprocess.run(
        [str(PIKKU), *args],
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def project(root: Path, files: dict[str, str], pikku_table: str = 'source = ["app"]\n') -> Path:
    """Write a project: pyproject.toml with ``[tool.pikku]`` and ``{relpath: dedented source}``."""
    (root / "pyproject.toml").write_text(f"[tool.pikku]\n{pikku_table}")
    for rel, text in {"app/__init__.py": "", **files}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def python(code: str, cwd: Path, *paths: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter with ``paths`` (e.g. the project and its .pikku) importable."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in paths), "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )
