"""`pikku schedules list|pause|resume|trigger` as an operator runs them, and `pikku worker --no-schedules`.

Tables for people, ``--json`` for scripts, and an unknown schedule name is one line with exit code 2.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

PIKKU = Path(sys.executable).with_name("pikku")

FLOW = """
from pikku import wire_workflow

async def report(services, data: dict) -> str:
    return "report of " + data["period"]

wire_workflow(name="report", func=report)
"""

SCHEDULES = """
from pikku import wire_schedule

wire_schedule(name="nightly", cron="0 3 * * *", workflow="report", input={"period": "day"}, timezone="Europe/Helsinki")
wire_schedule(name="hourly", cron="0 * * * *", workflow="report", input={"period": "hour"}, overlap="allow")
"""


def _run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "PIKKU_STATE_URL": f"sqlite:///{project / 'state.db'}"}
    return subprocess.run(
        [str(PIKKU), *args], cwd=project, env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project whose schedules live in a module of their own (the generated wirings import it)."""
    root = tmp_path_factory.mktemp("schedules")
    (root / "pyproject.toml").write_text('[tool.pikku]\nsource = ["app"]\n')
    (root / "app").mkdir()
    (root / "app/__init__.py").write_text("")
    (root / "app/flow.py").write_text(FLOW)
    (root / "app/timers.py").write_text(SCHEDULES)
    built = _run(root, "prebuild")
    assert built.returncode == 0, built.stdout + built.stderr
    return root


def test_list_shows_each_schedule_with_its_next_tick(project: Path) -> None:
    """The table names both schedules with their cron (and timezone); --json gives the same with ISO times,
    nothing handled yet, not paused."""
    table = _run(project, "schedules", "list")
    assert table.returncode == 0, table.stderr
    assert "nightly" in table.stdout and "0 3 * * * (Europe/Helsinki)" in table.stdout and "hourly" in table.stdout
    data = json.loads(_run(project, "schedules", "list", "--json").stdout)["schedules"]
    assert [s["name"] for s in data] == ["hourly", "nightly"]
    hourly = data[0]
    assert (hourly["workflow"], hourly["overlap"], hourly["paused"], hourly["last_tick"]) == (
        "report",
        "allow",
        False,
        None,
    )
    assert hourly["next_tick"].endswith(":00:00Z")


def test_pause_and_resume_say_what_changed(project: Path) -> None:
    """pause, pause again (nothing changed), list shows it paused, resume, resume again."""
    assert "schedule nightly paused" in _run(project, "schedules", "pause", "nightly").stdout
    again = json.loads(_run(project, "schedules", "pause", "nightly", "--json").stdout)
    assert again == {"schedule": "nightly", "paused": True, "changed": False}
    listed = json.loads(_run(project, "schedules", "list", "--json").stdout)["schedules"]
    assert [s["paused"] for s in listed] == [False, True]
    assert "paused" in _run(project, "schedules", "list").stdout
    assert "schedule nightly resumed" in _run(project, "schedules", "resume", "nightly").stdout
    assert "was not paused" in _run(project, "schedules", "resume", "nightly").stdout


def test_trigger_starts_a_run_named_by_the_schedule(project: Path) -> None:
    """trigger: a run of the schedule's workflow with its input, id ``<schedule>@<now>Z``, listed by runs."""
    out = json.loads(_run(project, "schedules", "trigger", "hourly", "--json").stdout)
    run_id = out["run_id"]
    assert out["schedule"] == "hourly" and run_id.startswith("hourly@") and run_id.endswith("Z")
    shown = json.loads(_run(project, "runs", "show", run_id, "--json").stdout)
    assert shown["run"]["workflow"] == "report" and shown["run"]["status"] == "running"
    assert "triggered: run hourly@" in _run(project, "schedules", "trigger", "hourly").stdout


@pytest.mark.parametrize("command", ["pause", "resume", "trigger"])
def test_an_unknown_schedule_is_one_line_and_exit_code_2(project: Path, command: str) -> None:
    """No traceback: the code, the name, and a hint listing the project's schedules."""
    result = _run(project, "schedules", command, "nope")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "PIKKU_INVALID_INPUT" in result.stderr and "unknown schedule 'nope'" in result.stderr
    assert "hourly, nightly" in result.stderr and "Traceback" not in result.stderr


def _worker_banner(project: Path, *flags: str) -> str:
    """The first line ``pikku worker`` logs (then it is stopped)."""
    env = {**os.environ, "PIKKU_STATE_URL": f"sqlite:///{project / 'state.db'}"}
    worker = subprocess.Popen(
        [str(PIKKU), "worker", "--log-format", "json", *flags], cwd=project, env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        assert worker.stderr is not None
        return str(json.loads(worker.stderr.readline())["message"])
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=60)


def test_the_worker_runs_the_schedules_unless_told_not_to(project: Path) -> None:
    """``pikku worker`` says it runs the project's 2 schedules; with --no-schedules, none."""
    assert "2 schedule(s)" in _worker_banner(project)
    assert "0 schedule(s)" in _worker_banner(project, "--no-schedules")
