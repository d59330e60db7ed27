"""Names from user code in generated code: never executed, mapped to safe identifiers, or a coded diagnostic."""

from __future__ import annotations

from pathlib import Path

from cli_support import project, python, run

FLOW = """
from pikku import wire_workflow

async def flow(services, data: dict) -> dict:
    return data

"""


def _wired(*names: str) -> dict[str, str]:
    return {"app/flows.py": FLOW + "".join(f"wire_workflow(name={n!r}, func=flow)\n" for n in names)}


def _import_client(root: Path) -> str:
    """Import the generated typed client in a fresh interpreter; print attribute -> workflow name."""
    code = (
        "from pikku_gen.workflow.map import workflows\n"
        "for attr, client in sorted(vars(workflows).items()):\n"
        "    print(f'{attr}={client.name!r}')\n"
    )
    result = python(code, root, root, root / ".pikku")
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_code_in_a_workflow_name_is_never_executed(tmp_path: Path) -> None:
    """Workflow names holding Python code, quotes and newlines become data and a mapped attribute."""
    names = [
        "x = exec(\"open('PWNED', 'w')\") or 1; self_y",
        "a\n        open('PWNED2', 'w')\n        self_b",
        'q"); open("PWNED3", "w"); ("',
    ]
    root = project(tmp_path, _wired(*names))
    result = run("prebuild", cwd=root)
    assert result.returncode == 0, result.stderr
    printed = _import_client(root)
    assert not list(root.glob("PWNED*")), "a workflow name ran as code"
    for name in names:
        assert f"={name!r}" in printed, printed


def test_names_that_are_not_identifiers_are_mapped(tmp_path: Path) -> None:
    """``order v2``, ``class`` and ``2fa`` give a package that imports: workflows.order_v2, .class_, ._2fa."""
    root = project(tmp_path, _wired("order v2", "class", "2fa", "a-first"))
    assert run("prebuild", cwd=root).returncode == 0
    assert _import_client(root).splitlines() == [
        "_2fa='2fa'",
        "a_first='a-first'",
        "class_='class'",
        "order_v2='order v2'",
    ]
    assert run("prebuild", "--check", cwd=root).returncode == 0


def test_colliding_or_reserved_attributes_are_a_diagnostic(tmp_path: Path) -> None:
    """Two workflows that would be one client attribute, or one starting with __: PKU017, nothing written."""
    root = project(tmp_path, _wired("order v2", "order_v2", "__class__"))
    result = run("prebuild", cwd=root)
    assert result.returncode == 1
    assert "app/flows.py:8:1: error PKU017" in result.stderr, result.stderr
    assert "workflows.order_v2" in result.stderr
    assert "app/flows.py:9:1: error PKU017" in result.stderr, result.stderr
    assert "starts with two underscores" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (root / ".pikku").exists()


def test_module_file_that_is_not_an_identifier_is_a_diagnostic(tmp_path: Path) -> None:
    """A @pikku_func in ``my-mod.py`` cannot be imported by generated code: PKU016 at the def, exit 1."""
    source = """
        from pikku import pikku_func


        @pikku_func(name="double")
        async def double(services, data: int) -> int:
            return 2 * data
    """
    root = project(tmp_path, {"app/my-mod.py": source, "app/class.py": source.replace("double", "triple")})
    result = run("prebuild", cwd=root)
    assert result.returncode == 1, result.stderr
    assert "app/my-mod.py:6:1: error PKU016" in result.stderr, result.stderr
    assert "app/class.py:6:1: error PKU016" in result.stderr, result.stderr
    assert "fix: rename the file" in result.stderr
    assert not (root / ".pikku").exists()
