"""The scanner of ``pikku prebuild``: user source -> :class:`~pikku.cli.model.ProjectModel`, via libcst only.

User code is never imported. Two phases so a content-keyed cache can sit between them:
:func:`scan_file` (one file -> JSON-able :class:`FileFacts`) and :func:`link` (all facts -> model).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pikku.cli.model import Diagnostic, ProjectModel
from pikku.cli.scan.extract import scan_file, scan_source, unread_file
from pikku.cli.scan.facts import FileFacts, FunctionFacts, WireFacts
from pikku.cli.scan.files import find_source_files, read_source, relative_file
from pikku.cli.scan.link import link
from pikku.cli.scan.parallel import scan_sources

__all__ = [
    "FileFacts",
    "FunctionFacts",
    "WireFacts",
    "find_source_files",
    "link",
    "scan_file",
    "scan_files",
    "scan_project",
    "scan_source",
]


def scan_project(root: Path, sources: Sequence[str]) -> ProjectModel:
    """Scan every ``.py`` file under ``sources`` (relative to ``root``) and link them into one model."""
    return link(scan_files(root, find_source_files(root, sources)))


def scan_files(root: Path, paths: Sequence[Path]) -> list[FileFacts]:
    """Facts for each of ``paths`` (a large batch on every core, see :mod:`.parallel`), sorted by file."""
    found: list[FileFacts] = []
    readable: list[tuple[str, bytes]] = []
    for path in paths:
        file = relative_file(root, path)
        source = read_source(path, file)
        if isinstance(source, Diagnostic):
            found.append(unread_file(file, source))
        else:
            readable.append((file, source))
    found.extend(facts for facts, _ in scan_sources(readable))
    return sorted(found, key=lambda facts: facts.file)
