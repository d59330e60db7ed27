"""Where prebuild writes: inside the project, into a package it names, removing only what it generated."""

from __future__ import annotations

from pathlib import Path

from cli_support import project, python, run

FLOW = """
from pikku import wire_workflow

async def flow(services, data: dict) -> dict:
    return data

wire_workflow(name="hello", func=flow)
"""


def test_package_pointing_at_user_data_deletes_nothing(tmp_path: Path) -> None:
    """package = "../data": a coded config error on every run, and data/*.json and data/*.py survive."""
    root = project(tmp_path, {"app/flow.py": FLOW}, 'source = ["app"]\npackage = "../data"\n')
    (root / "data").mkdir()
    (root / "data" / "users.json").write_text('[{"id": 1}]')
    (root / "data" / "load.py").write_text("print('mine')\n")
    for _ in range(2):
        result = run("prebuild", cwd=root)
        assert result.returncode == 1
        assert "PIKKU_CONFIG" in result.stderr and "package '../data'" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert sorted(p.name for p in (root / "data").iterdir()) == ["load.py", "users.json"]


def test_output_outside_the_project_is_refused(tmp_path: Path) -> None:
    """output = "../shared": PIKKU_CONFIG naming the key and the fix; nothing is created outside."""
    root = tmp_path / "proj"
    root.mkdir()
    project(root, {"app/flow.py": FLOW}, 'source = ["app"]\noutput = "../shared"\n')
    result = run("prebuild", cwd=root)
    assert result.returncode == 1
    assert "PIKKU_CONFIG" in result.stderr and "outside the project folder" in result.stderr, result.stderr
    assert "fix:" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["proj"]


def test_user_files_in_the_generated_package_survive(tmp_path: Path) -> None:
    """Files a user put in the generated package (JSON, .py without the header) outlive a second prebuild."""
    root = project(tmp_path, {"app/flow.py": FLOW})
    assert run("prebuild", cwd=root).returncode == 0
    pkg = root / ".pikku" / "pikku_gen"
    (pkg / "fixtures.json").write_text("{}")
    (pkg / "workflow" / "helpers.py").write_text("x = 1\n")
    again = run("prebuild", cwd=root)
    assert "0 removed" in again.stderr, again.stderr
    assert (pkg / "fixtures.json").exists() and (pkg / "workflow" / "helpers.py").exists()
    assert run("prebuild", "--check", cwd=root).returncode == 0


def test_dotted_package_is_generated_and_importable(tmp_path: Path) -> None:
    """package = "acme.gen": generated at .pikku/acme/gen and importable as acme.gen."""
    root = project(tmp_path, {"app/flow.py": FLOW}, 'source = ["app"]\npackage = "acme.gen"\n')
    assert run("prebuild", cwd=root).returncode == 0
    assert (root / ".pikku" / "acme" / "gen" / "workflow" / "map.py").exists()
    result = python(
        "from acme.gen.workflow.map import workflows; print(workflows.hello.name)", root, root, root / ".pikku"
    )
    assert result.stdout.strip() == "hello", result.stderr
