"""`pikku worker --log-format json`: every line on stderr is one JSON object; a step's lines name its run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

PIKKU = Path(sys.executable).with_name("pikku")

FLOW = """
from pikku import pikku_func, wire_workflow

@pikku_func(name="greet")
async def greet(services, data: dict) -> str:
    services.logger.info("greeting %s", data["name"])
    return "hi " + data["name"]

async def flow(services, data: dict) -> str:
    return await services.workflow.do("greet", "greet", data)

wire_workflow(name="hello", func=flow)
"""


def test_json_log_lines_carry_the_run_fields(tmp_path: Path) -> None:
    """The banner, the step's own log line and the stop line are JSON; the step's names run and step."""
    (tmp_path / "pyproject.toml").write_text('[tool.pikku]\nsource = ["app"]\n')
    (tmp_path / "app").mkdir()
    (tmp_path / "app/__init__.py").write_text("")
    (tmp_path / "app/flow.py").write_text(FLOW)
    env = {**os.environ, "PIKKU_STATE_URL": f"sqlite:///{tmp_path / 's.db'}"}
    subprocess.run([str(PIKKU), "prebuild"], cwd=tmp_path, env=env, check=True, capture_output=True, timeout=120)
    worker = subprocess.Popen(
        [str(PIKKU), "worker", "--log-format", "json"], cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        started = subprocess.run(
            [str(PIKKU), "start", "hello", '{"name": "Ada"}', "--wait", "--timeout", "60"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert started.returncode == 0, started.stdout + started.stderr
    finally:
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=60)
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert lines[0]["message"].startswith("pikku worker") and lines[-1]["message"].startswith("pikku worker stopped")
    [greeting] = [line for line in lines if line["message"] == "greeting Ada"]
    assert greeting["workflow"] == "hello" and greeting["step"] == "greet" and greeting["attempt"] == 1
    assert greeting["run_id"] in started.stdout
