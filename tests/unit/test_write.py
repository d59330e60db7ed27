"""Writing generated output: prebuild removes only files it generated, and never writes outside the project."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pikku._config import PikkuConfig
from pikku._errors import ConfigError
from pikku.cli import write
from pikku.cli.render import HEADER

GENERATED = f"{HEADER}\nx = 1\n"


def _files() -> dict[str, str]:
    return {"gen/__init__.py": GENERATED, "gen/py.typed": "", "gen/workflow/meta.json": "{}\n"}


@pytest.mark.timeout(20)
def test_only_files_carrying_the_header_are_removed(tmp_path: Path) -> None:
    """A stale generated .py goes; a user's JSON, .py without header, symlink, FIFO and non-UTF-8 file stay."""
    pkg = tmp_path / "gen"
    (pkg / "workflow").mkdir(parents=True)
    (pkg / "old.py").write_text(GENERATED)
    (pkg / "workflow" / "stale.py").write_text(GENERATED.replace("\n", "\r\n"))
    (pkg / "data.json").write_text("[1]")
    (pkg / "workflow" / "notes.txt").write_text("mine")
    (pkg / "mine.py").write_text("x = 2\n")
    (pkg / "latin.py").write_bytes(b"# \xe9\n")
    elsewhere = tmp_path / "elsewhere.py"
    elsewhere.write_text(GENERATED)
    (pkg / "link.py").symlink_to(elsewhere)
    os.mkfifo(pkg / "pipe.py")
    todo = write.plan(tmp_path, "gen", _files())
    assert todo.delete == ["gen/old.py", "gen/workflow/stale.py"]
    write.apply(tmp_path, _files(), todo)
    left = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if not p.is_dir())
    assert left == [
        "elsewhere.py",
        "gen/__init__.py",
        "gen/data.json",
        "gen/latin.py",
        "gen/link.py",
        "gen/mine.py",
        "gen/pipe.py",
        "gen/py.typed",
        "gen/workflow/meta.json",
        "gen/workflow/notes.txt",
    ]
    assert write.plan(tmp_path, "gen", _files()).clean


def test_an_unreadable_generated_path_is_rewritten(tmp_path: Path) -> None:
    """A non-UTF-8 file where generated code belongs is planned as an update, not a crash."""
    (tmp_path / "gen").mkdir()
    (tmp_path / "gen" / "__init__.py").write_bytes(b"\xff\xfe")
    todo = write.plan(tmp_path, "gen", {"gen/__init__.py": GENERATED})
    assert todo.update == ["gen/__init__.py"]


@pytest.mark.parametrize("package", ["../data", "my-gen", "a.class", "", "gen.", "2fa"])
def test_package_must_be_a_dotted_identifier(tmp_path: Path, package: str) -> None:
    """``package`` names a Python package: anything else (a path, a keyword part) is PIKKU_CONFIG."""
    with pytest.raises(ConfigError, match="package") as info:
        write.check_target(PikkuConfig(root=tmp_path, package=package))
    assert info.value.code == "PIKKU_CONFIG"


@pytest.mark.parametrize("output", ["../out", "/tmp/pikku-out", "a/../../out"])
def test_output_must_stay_inside_the_project(tmp_path: Path, output: str) -> None:
    """An output folder outside the project root is PIKKU_CONFIG, before anything is written."""
    root = tmp_path / "proj"
    root.mkdir()
    with pytest.raises(ConfigError, match="outside the project"):
        write.check_target(PikkuConfig(root=root, output=output))


def test_symlinks_out_of_the_project_are_refused(tmp_path: Path) -> None:
    """An output or package folder that is a symlink leading elsewhere counts as outside."""
    root, outside = tmp_path / "proj", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / ".pikku").symlink_to(outside)
    with pytest.raises(ConfigError, match="outside the project"):
        write.check_target(PikkuConfig(root=root))
    (root / ".pikku").unlink()
    (root / ".pikku" / "pikku_gen").mkdir(parents=True)
    (root / ".pikku" / "pikku_gen" / "workflow").symlink_to(outside)
    write.check_target(PikkuConfig(root=root))
    with pytest.raises(ConfigError, match="outside the generated package"):
        write.plan(root / ".pikku", "pikku_gen", {"pikku_gen/workflow/map.py": GENERATED})


def test_dotted_package_is_a_nested_folder(tmp_path: Path) -> None:
    """package = "acme.gen" is generated at <output>/acme/gen, which is where ``import acme.gen`` looks."""
    config = PikkuConfig(root=tmp_path, package="acme.gen")
    write.check_target(config)
    assert write.package_dir(config) == tmp_path / ".pikku" / "acme" / "gen"
