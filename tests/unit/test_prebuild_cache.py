"""The prebuild cache: a warm run gives the same result, re-scans only what changed, and shrugs off corruption."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pikku._config import load_config
from pikku.cli import cache as cache_mod
from pikku.cli import render
from pikku.cli.cache import CACHE_DIR
from pikku.cli.prebuild import build
from pikku.cli.scan import FileFacts, parallel

PYPROJECT = '[tool.pikku]\nsource = ["app"]\noutput = ".pikku"\npackage = "gen"\n'

FUNCS = """\
from typing import Any

from pikku import pikku_func


@pikku_func(name="users.create")
async def create_user(services: Any, data: dict[str, str]) -> dict[str, str]:
    return {"id": data["email"]}
"""

FLOW = """\
from typing import Any

from pikku import pikku_func, wire_workflow


@pikku_func
async def onboarding(services: Any, data: dict[str, str]) -> str:
    user = await services.workflow.do("create", "users.create", {"email": data["email"]})
    await services.workflow.sleep("1s")
    return user["id"]


wire_workflow(name="onboarding", func=onboarding)
"""

OTHER = """\
from typing import Any

from pikku import pikku_func


@pikku_func(name="misc.ping")
def ping(services: Any, data: int) -> int:
    return data
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A three-module project in tmp_path."""
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    app = tmp_path / "app"
    app.mkdir()
    (app / "__init__.py").write_text("")
    (app / "funcs.py").write_text(FUNCS)
    (app / "flow.py").write_text(FLOW)
    (app / "other.py").write_text(OTHER)
    return tmp_path


@pytest.fixture
def scans(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The project files the cache actually handed to the scanner, in order."""
    seen: list[str] = []
    real = parallel.scan_source

    def counting(file: str, source: bytes) -> FileFacts:
        seen.append(file)
        return real(file, source)

    monkeypatch.setattr(parallel, "scan_source", counting)  # a project this small is scanned in-process
    return seen


def test_warm_run_returns_identical_model_and_files(project: Path, scans: list[str]) -> None:
    """A second build with nothing changed scans nothing and equals both the first and an uncached build."""
    config = load_config(project)
    cold = build(config)
    assert sorted(scans) == ["app/__init__.py", "app/flow.py", "app/funcs.py", "app/other.py"]
    scans.clear()
    warm = build(config)
    assert scans == []
    assert warm == cold == build(config, use_cache=False)
    assert warm[1] and warm[0].workflows[0].name == "onboarding"


def test_warm_no_op_skips_rendering(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With every file unchanged the rendered output comes from the cache: Jinja is not run again."""
    config = load_config(project)
    first = build(config)

    def fail(*args: object) -> dict[str, str]:
        raise AssertionError("render_project called on a warm no-op build")

    monkeypatch.setattr(render, "render_project", fail)
    assert build(config) == first


def test_only_changed_generated_modules_are_compiled_again(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cold: every generated module is compiled; warm: none; after an edit: only the modules whose text changed."""
    compiled: list[str] = []

    real = render.check_module

    def counting(text: str, filename: str, *, signatures_only: bool) -> None:
        compiled.append(filename.rsplit("/", 1)[-1])
        real(text, filename, signatures_only=signatures_only)

    monkeypatch.setattr(render, "check_module", counting)
    config = load_config(project)
    build(config)
    assert sorted(compiled) == [
        "__init__.py",
        "__init__.py",
        "map.py",
        "meta.py",
        "types.py",
        "wirings.py",
        "workers.py",
    ]
    compiled.clear()
    build(config)
    assert compiled == []
    (project / "app" / "flow.py").write_text(FLOW.replace('"1s"', '"2s"'))
    build(config)
    assert compiled == ["meta.py"]


def test_output_that_does_not_compile_is_not_cached(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A rendering that fails the compile check is reported again on the next run, not reused from the cache."""
    real = render.render_project
    monkeypatch.setattr(render, "render_project", lambda model, package: {**real(model, package), "gen/x.py": "def ("})
    config = load_config(project)
    assert [d.code for d in build(config)[0].diagnostics] == ["PKU019"]
    monkeypatch.setattr(render, "render_project", real)
    model, files = build(config)
    assert model.diagnostics == () and "gen/x.py" not in files


def test_editing_one_file_rescans_only_that_file(project: Path, scans: list[str]) -> None:
    """After one file changes only that file is scanned, and the result follows the change."""
    config = load_config(project)
    build(config)
    scans.clear()
    (project / "app" / "other.py").write_text(OTHER.replace("misc.ping", "misc.pong"))
    model, files = build(config)
    assert scans == ["app/other.py"]
    assert {f.rpc_name for f in model.functions} >= {"misc.pong", "users.create"}
    assert "misc.ping" not in {f.rpc_name for f in model.functions}
    assert (model, files) == build(config, use_cache=False)


def test_corrupt_cache_entry_is_ignored(project: Path, scans: list[str]) -> None:
    """An entry whose text was damaged is a miss: that file is scanned again and the output is unchanged."""
    config = load_config(project)
    expected = build(config)
    facts_file = project / CACHE_DIR / "facts.json"
    data = json.loads(facts_file.read_text())
    for entry in data["entries"].values():
        if '"app/flow.py"' in entry[1]:
            entry[1] = entry[1].replace('"onboarding"', '"hijacked"')
    facts_file.write_text(json.dumps(data))
    scans.clear()
    assert build(config) == expected
    assert scans == ["app/flow.py"]


@pytest.mark.parametrize("garbage", ["", "{not json", "[]", '{"format": 1, "entries": {"k": 3}}', "\x00\xff"])
def test_corrupt_cache_files_are_misses_not_crashes(project: Path, scans: list[str], garbage: str) -> None:
    """Unreadable facts and output files make a full rebuild with the same result, never an error."""
    config = load_config(project)
    expected = build(config)
    for name in ("facts.json", "output.json"):
        (project / CACHE_DIR / name).write_text(garbage, encoding="utf-8", errors="surrogateescape")
    scans.clear()
    assert build(config) == expected
    assert len(scans) == 4


def test_damaged_output_cache_is_rendered_again(project: Path) -> None:
    """Cached output whose files no longer match their digest is rendered afresh."""
    config = load_config(project)
    expected = build(config)
    output_file = project / CACHE_DIR / "output.json"
    data = json.loads(output_file.read_text())
    first = sorted(data["files"])[0]
    data["files"][first] = "tampered"
    output_file.write_text(json.dumps(data))
    assert build(config) == expected


def test_facts_of_another_scanner_version_are_misses(project: Path, scans: list[str]) -> None:
    """Entries whose facts carry another FACTS_VERSION are scanned again (from_json's ValueError is a miss)."""
    config = load_config(project)
    expected = build(config)
    facts_file = project / CACHE_DIR / "facts.json"
    data = json.loads(facts_file.read_text())
    for entry in data["entries"].values():
        inner = json.loads(entry[1])
        inner["version"] = -1
        entry[1] = json.dumps(inner, sort_keys=True)
        entry[0] = cache_mod._sha(entry[1].encode())
    facts_file.write_text(json.dumps(data))
    scans.clear()
    assert build(config) == expected
    assert len(scans) == 4


def test_unwritable_cache_folder_still_builds(project: Path) -> None:
    """When the cache folder cannot be created (a file is in its place) prebuild works without a cache."""
    (project / CACHE_DIR).write_text("not a folder")
    config = load_config(project)
    assert build(config) == build(config, use_cache=False)
