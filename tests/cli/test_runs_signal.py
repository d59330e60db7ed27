"""`pikku runs signal` as an operator runs it: the event sent to a waiting run (shown by `runs show` and
`runs list --status waiting`), --json and --event-id, and every refusal as one coded line with exit code 2."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

PIKKU = Path(sys.executable).with_name("pikku")

FLOW = """
from pydantic import BaseModel

from pikku import wire_workflow


class Approval(BaseModel):
    approved: bool


async def flow(services, data: dict) -> str:
    decision = await services.workflow.wait_for_event("approval", Approval, timeout="3d")
    return "expired" if decision is None else str(decision.approved)


async def quick(services, data: dict) -> str:
    return "done"


wire_workflow(name="approve", func=flow, execution_mode="inline")
wire_workflow(name="quick", func=quick, execution_mode="inline")
"""


def _run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "PIKKU_STATE_URL": f"sqlite:///{project / 'state.db'}"}
    return subprocess.run(
        [str(PIKKU), *args], cwd=project, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _started(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    match = re.search(r"run (\S+)", result.stdout)
    assert match is not None, result.stdout
    return match.group(1)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("signal")
    (root / "pyproject.toml").write_text('[tool.pikku]\nsource = ["app"]\n')
    (root / "app").mkdir()
    (root / "app/__init__.py").write_text("")
    (root / "app/flow.py").write_text(FLOW)
    assert _run(root, "prebuild").returncode == 0
    return root


def test_a_waiting_run_is_shown_listed_and_signalled(project: Path) -> None:
    """An inline run that waits for its approval is `waiting` in the list, `runs show` names the event, and
    `runs signal` sends it (a repeated --event-id stores nothing, and says so)."""
    run_id = _started(_run(project, "start", "approve", "{}"))
    listed = json.loads(_run(project, "runs", "list", "--status", "waiting", "--json").stdout)
    assert [r["run_id"] for r in listed["runs"]] == [run_id]
    show = _run(project, "runs", "show", run_id)
    assert show.returncode == 0 and "waiting" in show.stdout and "waits for event approval" in show.stdout
    assert json.loads(_run(project, "runs", "show", run_id, "--json").stdout)["run"]["waiting_for"] == ["approval"]
    sent = _run(project, "runs", "signal", run_id, "approval", '{"approved": true}', "--event-id", "e1", "--json")
    assert sent.returncode == 0, sent.stderr
    assert json.loads(sent.stdout) == {"run_id": run_id, "event": "approval", "event_id": "e1", "stored": True}
    again = _run(project, "runs", "signal", run_id, "approval", '{"approved": false}', "--event-id", "e1")
    assert again.returncode == 0 and "before; nothing stored" in again.stdout


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("nope", "approval", '{"approved": true}'), "PIKKU_RUN_NOT_FOUND"),
        (("{run}", "approval", "{not json"), "PIKKU_INVALID_INPUT"),
        (("{run}", "approval", '{"approved": "maybe"}'), "PIKKU_INVALID_EVENT_PAYLOAD"),
        (("{run}", "aproval", '{"approved": true}'), "PIKKU_UNKNOWN_EVENT"),
        (("{done}", "approval", '{"approved": true}'), "PIKKU_RUN_SETTLED"),
    ],
)
def test_refused_signals_are_one_coded_line_and_exit_2(project: Path, args: tuple[str, ...], code: str) -> None:
    """A missing run, bad JSON, a payload its model refuses, an event never waited for, a settled run: one
    line on stderr with the code, exit code 2, no traceback."""
    names = {"{run}": _started(_run(project, "start", "approve", "{}")), "{done}": ""}
    names["{done}"] = _started(_run(project, "start", "quick", "{}"))
    result = _run(project, "runs", "signal", *(names.get(a, a) for a in args))
    assert result.returncode == 2, result.stdout + result.stderr
    assert code in result.stderr and "Traceback" not in result.stderr
