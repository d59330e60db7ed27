"""Whole-project behaviour: file discovery, resilience to broken files, determinism, facts round trip."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from scan_support import Scan, write_project

from pikku._errors import ConfigError
from pikku.cli.scan import FileFacts, find_source_files, link, scan_file, scan_project, scan_source
from pikku.cli.scan.facts import FACTS_VERSION
from pikku.cli.scan.files import module_name

PROJECT = {
    "app/__init__.py": "",
    "app/rpcs.py": """
        from pikku import pikku_func
        from app.models import User

        @pikku_func(name="users.create")
        async def create_user(services, data: dict[str, str]) -> User: ...

        @pikku_func(name="unresolved")
        def typed_badly(services, data: Nope) -> None: ...
    """,
    "app/models.py": "class User: ...\n",
    "app/flows/__init__.py": "from .signup import signup\n",
    "app/flows/signup.py": """
        from pikku import wire_workflow

        async def signup(services, data):
            wf = services.workflow
            await wf.do("create", "users.create", data, description="Create")
            await wf.sleep("2s")
            await wf.do(f"mail-{data.n}", lambda: None)
            await wf.do("create", "missing.rpc", data)

        wire_workflow(name="signup", func=signup, execution_mode="inline")
    """,
    "app/wiring.py": """
        from pikku import wire_workflow
        from app.flows import signup
        wire_workflow(name="again", func=signup, execution_mode="bogus")
        wire_workflow(name=1, func=signup)
    """,
}


def test_syntax_error_does_not_hide_other_files(scan: Scan) -> None:
    """One unparsable file gives PKU001 while the other files' functions and workflows are still found."""
    model = scan({**PROJECT, "app/broken.py": "def oops(:\n"})
    assert [w.name for w in model.workflows] == ["again", "signup"]
    assert [f.rpc_name for f in model.functions] == ["unresolved", "users.create"]
    assert "PKU001" in [d.code for d in model.diagnostics]


def test_scanning_twice_gives_equal_models(scan: Scan, tmp_path: Path) -> None:
    """Two scans of the same files give equal models (diagnostics included)."""
    first = scan(PROJECT)
    assert scan_project(tmp_path, ["app"]) == first
    assert first.has_errors


def test_link_ignores_file_order(tmp_path: Path) -> None:
    """link() gives the same model whatever order the per-file facts arrive in."""
    write_project(tmp_path, PROJECT)
    facts = [scan_file(tmp_path, p) for p in find_source_files(tmp_path, ["app"])]
    expected = link(facts)
    for seed in range(5):
        shuffled = facts[:]
        random.Random(seed).shuffle(shuffled)
        assert link(shuffled) == expected


def test_facts_json_round_trip(tmp_path: Path) -> None:
    """Every file's FileFacts survives to_json/from_json unchanged, and linking the copies gives the same model."""
    write_project(tmp_path, {**PROJECT, "app/broken.py": "def oops(:\n"})
    facts = [scan_file(tmp_path, p) for p in find_source_files(tmp_path, ["app"])]
    copies = [FileFacts.from_json(f.to_json()) for f in facts]
    assert copies == facts
    assert [c.to_json() for c in copies] == [f.to_json() for f in facts]
    assert link(copies) == link(facts)


def test_facts_from_json_rejects_other_versions() -> None:
    """Facts written by another scanner version (or garbage) raise ValueError, so a cache can discard them."""
    good = scan_source("app/m.py", b"x = 1\n").to_json()
    with pytest.raises(ValueError, match="version"):
        FileFacts.from_json(good.replace(f'"version": {FACTS_VERSION}', '"version": 0'))
    with pytest.raises(ValueError, match="malformed"):
        FileFacts.from_json(f'{{"version": {FACTS_VERSION}, "facts": {{}}}}')


def test_scan_source_matches_scan_file(tmp_path: Path) -> None:
    """scan_source(file, bytes) is what scan_file reads and scans, for a cache that already holds the bytes."""
    write_project(tmp_path, PROJECT)
    path = tmp_path / "app" / "flows" / "signup.py"
    assert scan_file(tmp_path, path) == scan_source("app/flows/signup.py", path.read_bytes())


def test_find_source_files(tmp_path: Path) -> None:
    """Sources may be paths or dotted packages; caches, hidden dirs and non-.py files are skipped."""
    write_project(
        tmp_path,
        {
            "app/__init__.py": "",
            "app/sub/mod.py": "",
            "app/__pycache__/junk.py": "",
            "app/.hidden/x.py": "",
            "app/notes.txt": "",
            "other/single.py": "",
        },
    )
    files = find_source_files(tmp_path, ["app.sub", "app", "other/single.py"])
    assert [p.relative_to(tmp_path).as_posix() for p in files] == [
        "app/__init__.py",
        "app/sub/mod.py",
        "other/single.py",
    ]


def test_missing_source_is_config_error(tmp_path: Path) -> None:
    """A configured source that does not exist is a ConfigError naming it."""
    with pytest.raises(ConfigError, match="nope"):
        scan_project(tmp_path, ["nope"])


@pytest.mark.parametrize(
    ("file", "module"),
    [("app/users.py", "app.users"), ("app/__init__.py", "app"), ("app/a/b/__init__.py", "app.a.b"), ("m.py", "m")],
)
def test_module_name(file: str, module: str) -> None:
    """A file's dotted module is its root-relative path without .py; __init__.py is the package."""
    assert module_name(file) == module


def test_crlf_and_unicode_positions(tmp_path: Path) -> None:
    """Windows line endings and non-ASCII text before a node do not shift its line or (character) column."""
    source = '# café ☕\r\nfrom pikku import pikku_func\r\n\r\n@pikku_func(name="é")\r\ndef f(s, d): ...\r\n'
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "m.py").write_bytes(source.encode("utf-8"))
    model = scan_project(tmp_path, ["app"])
    assert [(f.rpc_name, f.location.line, f.location.column) for f in model.functions] == [("é", 5, 1)]
