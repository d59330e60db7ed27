"""Helpers shared by the scanner tests (imported by name: this directory is on sys.path under pytest)."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path

from pikku.cli.model import Diagnostic, ProjectModel, WorkflowMeta

# The ``scan`` fixture: scan({relpath: source}, sources=("app",)) -> ProjectModel.
Scan = Callable[..., ProjectModel]


def write_project(root: Path, files: Mapping[str, str]) -> None:
    """Write ``{relpath: source}``; sources are dedented so line 1 is the first line after the opening quotes."""
    for rel, source in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source).lstrip("\n"), encoding="utf-8")


def codes(model: ProjectModel) -> list[tuple[str, str, int, int]]:
    """(code, file, line, column) of every diagnostic, in the model's order."""
    return [(d.code, d.location.file, d.location.line, d.location.column) for d in model.diagnostics]


def only(model: ProjectModel, code: str) -> Diagnostic:
    """The single diagnostic with ``code`` (fails when there is not exactly one)."""
    found = [d for d in model.diagnostics if d.code == code]
    assert len(found) == 1, model.diagnostics
    return found[0]


def workflow(model: ProjectModel, name: str) -> WorkflowMeta:
    """The workflow called ``name``."""
    found = [w for w in model.workflows if w.name == name]
    assert len(found) == 1, model.workflows
    return found[0]
