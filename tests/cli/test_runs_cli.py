"""`pikku runs list|show|cancel` as an operator runs them: tables, --json, and exit code 2 for bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PIKKU = Path(sys.executable).with_name("pikku")

FLOW = """
from pikku import pikku_func, wire_workflow

@pikku_func(name="greet")
async def greet(services, data: dict) -> str:
    return "hi " + data["name"]

async def flow(services, data: dict) -> str:
    return await services.workflow.do("greet", "greet", data)

wire_workflow(name="hello", func=flow, execution_mode="inline")
"""


def _run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "PIKKU_STATE_URL": f"sqlite:///{project / 'state.db'}"}
    return subprocess.run(
        [str(PIKKU), *args], cwd=project, env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    (root / "pyproject.toml").write_text('[tool.pikku]\nsource = ["app"]\n')
    (root / "app").mkdir()
    (root / "app/__init__.py").write_text("")
    (root / "app/flow.py").write_text(FLOW)
    assert _run(root, "prebuild").returncode == 0
    for name in ("Ada", "Bo"):
        assert _run(root, "start", "hello", json.dumps({"name": name}), "--wait").returncode == 0
    return root


def test_list_prints_every_run_and_json_for_scripts(project: Path) -> None:
    """The table names each run; --json gives the same runs newest first with their outputs."""
    table = _run(project, "runs", "list")
    assert table.returncode == 0 and table.stdout.count("completed") == 2
    data = json.loads(_run(project, "runs", "list", "--json").stdout)
    assert [r["output"] for r in data["runs"]] == ["hi Bo", "hi Ada"] and data["cursor"] is None
    first = json.loads(_run(project, "runs", "list", "--json", "--limit", "1").stdout)
    assert len(first["runs"]) == 1 and first["cursor"] == first["runs"][0]["run_id"]


def test_show_prints_the_step_table(project: Path) -> None:
    """show: the run's status and one row per step with its rpc, status and attempts."""
    run_id = json.loads(_run(project, "runs", "list", "--json").stdout)["runs"][0]["run_id"]
    shown = _run(project, "runs", "show", run_id)
    assert shown.returncode == 0
    assert run_id in shown.stdout and "greet" in shown.stdout and "done" in shown.stdout
    data = json.loads(_run(project, "runs", "show", run_id, "--json").stdout)
    assert data["run"]["status"] == "completed" and data["steps"][0]["output"] == "hi Bo"
    assert len(data["steps"][0]["attempts"]) == 1


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("runs", "show", "no-such-run"), "PIKKU_RUN_NOT_FOUND"),
        (("runs", "cancel", "no-such-run"), "PIKKU_RUN_NOT_FOUND"),
        (("runs", "list", "--status", "bogus"), "PIKKU_INVALID_INPUT"),
        (("runs", "list", "--limit", "0"), "PIKKU_INVALID_INPUT"),
    ],
)
def test_bad_ids_and_arguments_are_one_coded_line_and_exit_2(project: Path, args: tuple[str, ...], code: str) -> None:
    """A wrong id, status or limit: one line with the code and a fix, exit code 2, no traceback."""
    done = _run(project, *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert code in done.stderr and "fix:" in done.stderr and "Traceback" not in done.stderr


def test_cancelling_a_settled_run_says_so_and_changes_nothing(project: Path) -> None:
    """cancel on a completed run is a no-op that says the run had settled."""
    run_id = json.loads(_run(project, "runs", "list", "--json").stdout)["runs"][0]["run_id"]
    done = _run(project, "runs", "cancel", run_id)
    assert done.returncode == 0 and "already settled" in done.stdout
    assert json.loads(_run(project, "runs", "cancel", run_id, "--json").stdout)["cancelled"] is False


def test_export_prints_a_history_replay_accepts(project: Path) -> None:
    """export writes the run's history (run, steps, attempts) as JSON for pikku.testing.replay."""
    run_id = json.loads(_run(project, "runs", "list", "--json").stdout)["runs"][0]["run_id"]
    done = _run(project, "runs", "export", run_id)
    assert done.returncode == 0
    history = json.loads(done.stdout)
    assert history["format"] == "pikku-run-history" and history["run"]["run_id"] == run_id
    assert [s["name"] for s in history["steps"]] == ["greet"] and len(history["steps"][0]["attempt_log"]) == 1
