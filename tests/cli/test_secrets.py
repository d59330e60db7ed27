"""No password a user put in a backend URL ever appears in what the `pikku` command prints."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import require_service

PIKKU = Path(sys.executable).with_name("pikku")
SECRET = "pw-Sup3rSecret-42"

FLOW = """
from pikku import pikku_func, wire_workflow

@pikku_func(name="greet")
async def greet(services, data: dict) -> str:
    return "hi"

async def flow(services, data: dict) -> str:
    return await services.workflow.do("greet", "greet", data)

wire_workflow(name="hello", func=flow)
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text('[tool.pikku]\nsource = ["app"]\n')
    (tmp_path / "app").mkdir()
    (tmp_path / "app/__init__.py").write_text("")
    (tmp_path / "app/flow.py").write_text(FLOW)
    subprocess.run([str(PIKKU), "prebuild"], cwd=tmp_path, check=True, capture_output=True, timeout=120)
    return tmp_path


def _run(project: Path, url: str, *args: str) -> str:
    env = {**os.environ, "PIKKU_STATE_URL": url, "COLUMNS": "200"}
    done = subprocess.run(
        [str(PIKKU), *args], cwd=project, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    return done.stdout + done.stderr


@pytest.mark.parametrize(
    "url",
    [
        f"bogus://admin:{SECRET}@db.internal/app",
        f"postgresql://admin:{SECRET}@127.0.0.1:5432/test?pool_min=many",
        f"postgresql://127.0.0.1:5432/test?password={SECRET}&pool_max=x",
        f"redis://:{SECRET}@127.0.0.1:6379/0?bad_option=1",
    ],
)
@pytest.mark.parametrize("command", [("worker",), ("db", "migrate"), ("start", "hello", "{}")])
def test_errors_about_a_url_never_echo_its_password(project: Path, url: str, command: tuple[str, ...]) -> None:
    """Unknown schemes, bad pool options and bad Redis options are reported with the password masked."""
    out = _run(project, url, *command)
    assert SECRET not in out, out
    assert "***" in out or "bogus" not in url, out


@pytest.mark.postgres
def test_the_worker_banner_masks_the_password(project: Path) -> None:
    """The start-up banner names the backend (host, database) but never the password."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    schema = f"pikku_t_{uuid.uuid4().hex[:12]}"
    url = f"postgresql://postgres:{SECRET}@127.0.0.1:5432/test?schema={schema}"
    env = {**os.environ, "PIKKU_STATE_URL": url, "COLUMNS": "200"}
    proc = subprocess.Popen(
        [str(PIKKU), "worker"], cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 60
        banner = ""
        while time.monotonic() < deadline and proc.stdout is not None:
            banner = proc.stdout.readline()
            if "pikku worker" in banner:
                break
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        import psycopg

        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    assert "pikku worker" in banner and "127.0.0.1" in banner
    assert SECRET not in banner + rest and "***" in banner
