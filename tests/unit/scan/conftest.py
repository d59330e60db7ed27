"""Fixtures for scanner tests: write a small project into tmp_path and scan it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from scan_support import Scan, write_project

from pikku.cli.model import ProjectModel
from pikku.cli.scan import scan_project


@pytest.fixture
def scan(tmp_path: Path) -> Scan:
    """``scan({relpath: source}, sources=("app",))`` -> the ProjectModel of those files."""

    def run(files: Mapping[str, str], sources: Sequence[str] = ("app",)) -> ProjectModel:
        write_project(tmp_path, files)
        return scan_project(tmp_path, sources)

    return run
