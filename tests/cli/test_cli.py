"""The `pikku` command as users run it: a real process, its exit code and what it prints."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from cli_support import ROOT
from cli_support import project as _project
from cli_support import run as _run

GOOD = """
from pikku import pikku_func, wire_workflow

@pikku_func(name="greet")
async def greet(services, data: dict) -> str:
    return "hi " + data["name"]

async def flow(services, data: dict) -> str:
    return await services.workflow.do("greet", "greet", data)

wire_workflow(name="hello", func=flow, execution_mode="inline")
"""


def test_errors_are_printed_together_with_codes_and_fixes(tmp_path: Path) -> None:
    """Several mistakes in user code: every diagnostic printed with file:line:col, code, fix; exit 1."""
    project = _project(
        tmp_path,
        {
            "app/broken.py": "def oops(:\n    pass\n",
            "app/flow.py": """
                from pikku import wire_workflow

                async def flow(services, data):
                    await services.workflow.do("a", "no.such.rpc", {})
                    await services.workflow.do("a", lambda: 1)

                wire_workflow(name="f", func=flow)
                wire_workflow(name="f", func=flow)
                wire_workflow(name="g", func=missing)
            """,
        },
    )
    result = _run("prebuild", cwd=project)
    assert result.returncode == 1
    out = result.stderr
    assert "Traceback" not in out
    for expected in ("app/broken.py:", "PKU001", "app/flow.py:5:", "PKU004", "PKU003", "PKU006", "PKU007"):
        assert expected in out, out
    assert out.count("fix:") >= 5
    assert not (project / ".pikku").exists(), "nothing is written when there are errors"


def test_prebuild_is_idempotent_and_check_names_stale_files(tmp_path: Path) -> None:
    """A second prebuild changes nothing; after a source change --check exits 1 and names the stale files."""
    project = _project(tmp_path, {"app/flow.py": GOOD})
    assert _run("prebuild", cwd=project).returncode == 0
    again = _run("prebuild", cwd=project)
    assert "0 created, 0 updated, 0 removed" in again.stderr
    assert _run("prebuild", "--check", cwd=project).returncode == 0
    described = textwrap.dedent(GOOD).replace('"greet", data)', '"greet", data, description="Say hi")')
    (project / "app/flow.py").write_text(described)
    check = _run("prebuild", "--check", cwd=project)
    assert check.returncode == 1
    assert "stale: .pikku/pikku_gen/workflow/meta.json" in check.stderr
    assert "run `pikku prebuild`" in check.stderr


def test_start_inline_run_shows_steps_and_output(tmp_path: Path) -> None:
    """`pikku start hello '{...}' --wait` runs an inline workflow and prints its step and output."""
    project = _project(tmp_path, {"app/flow.py": GOOD})
    assert _run("prebuild", cwd=project).returncode == 0
    result = _run("start", "hello", '{"name": "Ada"}', "--wait", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "greet (greet)" in result.stdout
    assert 'completed output: "hi Ada"' in result.stdout
    assert (project / ".pikku-data" / "pikku.sqlite3").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("start", "onboarding", "{not json"), "PIKKU_CONFIG"),
        (("start", "nope", "{}"), "PIKKU_WORKFLOW_NOT_FOUND"),
        (("start", "onboarding", '{"email": 5}'), "PIKKU_INVALID_INPUT"),
        (("worker", "--queue", "workflow-nope"), "unknown queue(s): workflow-nope"),
    ],
)
def test_user_mistakes_get_a_coded_message_not_a_traceback(args: tuple[str, ...], message: str, tmp_path: Path) -> None:
    """Bad JSON, an unknown workflow, invalid input and an unknown queue: one clear coded error, exit 1."""
    result = _run(*args, "--root", str(ROOT), cwd=ROOT, env={"PIKKU_STATE_URL": f"sqlite:///{tmp_path}/x.db"})
    assert result.returncode == 1
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.postgres
def test_db_migrate_is_idempotent_on_postgres(pg_url: str, tmp_path: Path) -> None:
    """`pikku db migrate` creates the schema, reports its version, and running it again changes nothing."""
    project = _project(tmp_path, {"app/flow.py": GOOD})
    env = {"PIKKU_STATE_URL": pg_url}
    first = _run("db", "migrate", cwd=project, env=env)
    second = _run("db", "migrate", cwd=project, env=env)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert re.search(r"schema version \d+", first.stderr), first.stderr
    assert first.stderr == second.stderr
