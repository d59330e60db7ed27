"""`pikku runs show|cancel|fork` with child runs, forks and cancel reasons, as an operator sees them."""

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

async def child(services, data: dict) -> str:
    return await services.workflow.do("greet", "greet", data)

async def parent(services, data: dict) -> str:
    return await services.workflow.call_workflow("greeting", "child", data)

async def sleeper(services, data: dict) -> None:
    await services.workflow.sleep("1h")

wire_workflow(name="child", func=child, execution_mode="inline")
wire_workflow(name="parent", func=parent, execution_mode="inline")
wire_workflow(name="sleeper", func=sleeper)
"""


def _run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "PIKKU_STATE_URL": f"sqlite:///{project / 'state.db'}"}
    return subprocess.run(
        [str(PIKKU), *args], cwd=project, env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("children-cli")
    (root / "pyproject.toml").write_text('[tool.pikku]\nsource = ["app"]\n')
    (root / "app").mkdir()
    (root / "app/__init__.py").write_text("")
    (root / "app/flow.py").write_text(FLOW)
    built = _run(root, "prebuild")
    assert built.returncode == 0, built.stdout + built.stderr
    started = _run(root, "start", "parent", json.dumps({"name": "Ada"}), "--wait")
    assert started.returncode == 0, started.stdout + started.stderr
    return root


def _runs(project: Path, workflow: str) -> list[dict[str, object]]:
    runs: list[dict[str, object]] = json.loads(_run(project, "runs", "list", "--json", "-w", workflow).stdout)["runs"]
    return runs


def test_show_names_a_parents_children_and_a_childs_parent(project: Path) -> None:
    """show of the parent lists its child run with its status; show of the child names its parent; --json
    carries both."""
    [parent] = _runs(project, "parent")
    parent_id = str(parent["run_id"])
    child_id = f"{parent_id}/greeting"
    shown = _run(project, "runs", "show", parent_id)
    assert shown.returncode == 0 and child_id in shown.stdout and "child child" in shown.stdout
    child = _run(project, "runs", "show", child_id)
    assert child.returncode == 0 and f"child of run {parent_id}" in child.stdout
    data = json.loads(_run(project, "runs", "show", parent_id, "--json").stdout)
    assert data["run"]["children"] == [child_id]
    assert [(c["run_id"], c["status"]) for c in data["children"]] == [(child_id, "completed")]
    assert json.loads(_run(project, "runs", "show", child_id, "--json").stdout)["run"]["parent_run_id"] == parent_id


def test_cancel_keeps_its_reason_and_show_prints_it(project: Path) -> None:
    """runs cancel --reason: the reason is kept on the run, printed by show and in its JSON."""
    started = _run(project, "start", "sleeper", "{}")
    assert started.returncode == 0
    [run] = _runs(project, "sleeper")
    run_id = str(run["run_id"])
    done = _run(project, "runs", "cancel", run_id, "--reason", "duplicate order")
    assert done.returncode == 0 and "cancelled" in done.stdout
    assert "cancelled: duplicate order" in _run(project, "runs", "show", run_id).stdout
    data = json.loads(_run(project, "runs", "show", run_id, "--json").stdout)
    assert (data["run"]["status"], data["run"]["cancel_reason"]) == ("cancelled", "duplicate order")


def test_a_fork_records_where_it_came_from(project: Path) -> None:
    """runs fork: show of the new run prints the run it was forked from; its JSON has forked_from."""
    [parent] = _runs(project, "parent")
    forked = json.loads(_run(project, "runs", "fork", str(parent["run_id"]), "--from", "greeting", "--json").stdout)
    new_id = forked["run_id"]
    assert f"forked from run {parent['run_id']}" in _run(project, "runs", "show", new_id).stdout
    assert json.loads(_run(project, "runs", "show", new_id, "--json").stdout)["run"]["forked_from"] == parent["run_id"]
