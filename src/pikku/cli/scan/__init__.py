"""The scanner of ``pikku prebuild``: user source -> :class:`~pikku.cli.model.ProjectModel`, via libcst only.

User code is never imported. Two phases so a content-keyed cache can sit between them:
:func:`scan_file` (one file -> JSON-able :class:`FileFacts`) and :func:`link` (all facts -> model).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pikku.cli.model import ProjectModel
from pikku.cli.scan.extract import scan_file, scan_source
from pikku.cli.scan.facts import FileFacts, FunctionFacts, WireFacts
from pikku.cli.scan.files import find_source_files
from pikku.cli.scan.link import link

__all__ = [
    "FileFacts",
    "FunctionFacts",
    "WireFacts",
    "find_source_files",
    "link",
    "scan_file",
    "scan_project",
    "scan_source",
]


def scan_project(root: Path, sources: Sequence[str]) -> ProjectModel:
    """Scan every ``.py`` file under ``sources`` (relative to ``root``) and link them into one model."""
    return link([scan_file(root, path) for path in find_source_files(root, sources)])
