"""Golden output: the committed generated code is exactly what prebuild produces now.

On a mismatch the message names the files and the command that fixes it. Set PIKKU_UPDATE_GOLDEN=1 to
rewrite the expected trees of tests/golden/cases after a deliberate change.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from pikku._config import load_config
from pikku.cli.prebuild import build

ROOT = Path(__file__).resolve().parents[2]
CASES = sorted(p.name for p in (Path(__file__).parent / "cases").iterdir() if p.is_dir())


def _tree(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def test_committed_example_output_is_current() -> None:
    """Regenerating the example app's .pikku/ reproduces the committed files byte for byte."""
    config = load_config(ROOT)
    model, files = build(config)
    assert not model.has_errors, [str(d) for d in model.diagnostics]
    committed = _tree(config.output_dir)
    stale = sorted(k for k in files.keys() | committed.keys() if files.get(k) != committed.get(k))
    assert not stale, f"stale generated files {stale}: run `.venv/bin/pikku prebuild` and commit .pikku/"


@pytest.mark.parametrize("case", CASES)
def test_case_output_matches_expected(case: str) -> None:
    """Each case project renders to its expected tree (diagnostics included as a text file)."""
    base = Path(__file__).parent / "cases" / case
    model, files = build(load_config(base / "project"))
    files = {**files, "DIAGNOSTICS.txt": "".join(f"{d}\n" for d in model.diagnostics)}
    expected_dir = base / "expected"
    if os.environ.get("PIKKU_UPDATE_GOLDEN") == "1":
        shutil.rmtree(expected_dir, ignore_errors=True)
        for rel, text in files.items():
            (expected_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            (expected_dir / rel).write_text(text, encoding="utf-8")
    expected = _tree(expected_dir)
    differing = sorted(k for k in files.keys() | expected.keys() if files.get(k) != expected.get(k))
    assert not differing, f"{case}: {differing} differ; if intended: PIKKU_UPDATE_GOLDEN=1 pytest {__file__}"


def test_prebuild_twice_changes_nothing() -> None:
    """Building twice yields identical files (no timestamps, stable order)."""
    config = load_config(ROOT)
    assert build(config)[1] == build(config)[1]
