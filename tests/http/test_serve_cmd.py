"""``pikku serve`` as a user runs it (a real process on a localhost port), and ``[tool.pikku.http]``: the
hook is loaded from the project's own packages only, and the table's keys are checked."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pikku._config import PikkuConfig, load_config
from pikku._errors import ConfigError
from pikku.http._guard import load_authorize

PIKKU = Path(sys.executable).with_name("pikku")
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _pikku(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PIKKU), *args],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str], dict[str, str]]]:
    """``pikku serve`` on the example app (SQLite in the test's folder): base URL, process, environment."""
    env = {"PIKKU_STATE_URL": f"sqlite:///{tmp_path / 'serve.sqlite3'}", "PIKKU_EVENT_LOOP": "asyncio"}
    port = _free_port()
    process = subprocess.Popen(
        [str(PIKKU), "serve", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/runs", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                assert process.poll() is None, process.communicate()[0]
            time.sleep(0.1)
        yield base, process, env
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_serve_shows_the_example_apps_runs(served: tuple[str, subprocess.Popen[str], dict[str, str]]) -> None:
    """A run started with ``pikku start`` is listed by the API and the console; ``/`` leads to the console;
    SIGINT stops the server cleanly."""
    base, process, env = served
    started = _pikku(
        "start",
        "invoice",
        '{"order_id": "o-9", "customer_email": "a@b.c", "items": [{"sku": "x", "quantity": 2, "unit_price": 1.5}]}',
        cwd=ROOT,
        env=env,
    )
    assert started.returncode == 0, started.stderr
    runs = httpx.get(f"{base}/runs").json()["runs"]
    assert [(r["workflow"], r["status"], r["output"]["total"]) for r in runs] == [("invoice", "completed", 3.0)]
    console = httpx.get(f"{base}/", follow_redirects=True)
    assert console.status_code == 200 and str(console.url).endswith("/ui/")
    assert f'data-run-id="{runs[0]["run_id"]}" data-run-status="completed"' in console.text
    assert "/workflows/onboarding/runs" in httpx.get(f"{base}/openapi.json").json()["paths"]
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=20) == 0


def test_serve_refuses_a_public_address_without_a_hook() -> None:
    """No hook: ``--host 0.0.0.0`` is refused with exit code 2 and a message that says how to add one."""
    result = _pikku("serve", "--host", "0.0.0.0", "--port", str(_free_port()), cwd=ROOT, env={})
    assert result.returncode == 2
    assert "PIKKU_HTTP_NO_AUTH" in result.stderr
    assert "[tool.pikku.http] authorize" in result.stderr and "--insecure-no-auth" in result.stderr
    assert "Traceback" not in result.stderr


def _hook_project(root: Path, authorize: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(
        textwrap.dedent(f"""
        [tool.pikku]
        source = ["hookapp"]
        package = "hookgen"
        [tool.pikku.http]
        authorize = "{authorize}"
        """)
    )
    (root / "hookapp").mkdir()
    (root / "hookapp" / "__init__.py").write_text("")
    (root / "hookapp" / "auth.py").write_text(
        textwrap.dedent("""
        async def authorize(request, action, workflow, run):
            return request.headers.get("x-api-key") == "letmein" and action == "read"
        """)
    )
    return root


def test_serve_with_a_hook_listens_anywhere_and_the_hook_decides(tmp_path: Path) -> None:
    """With ``authorize`` configured, a non-loopback ``--host`` is allowed, and the hook answers each request."""
    project = _hook_project(tmp_path / "proj", "hookapp.auth:authorize")
    (project / "hookapp" / "flows.py").write_text(
        textwrap.dedent("""
        from pikku import wire_workflow

        async def noop(services, data: None) -> None:
            return None

        wire_workflow(name="noop", func=noop)
        """)
    )
    env = {"PIKKU_STATE_URL": f"sqlite:///{tmp_path / 'hook.sqlite3'}", "PIKKU_EVENT_LOOP": "asyncio"}
    assert _pikku("prebuild", cwd=project, env=env).returncode == 0
    port = _free_port()
    process = subprocess.Popen(
        [str(PIKKU), "serve", "--host", "0.0.0.0", "--port", str(port)],
        cwd=project,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                refused = httpx.get(f"{base}/runs", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.communicate()[0]
                time.sleep(0.1)
        assert refused.status_code == 403
        assert httpx.get(f"{base}/runs", headers={"x-api-key": "letmein"}).status_code == 200
        start = httpx.post(f"{base}/workflows/noop/runs", headers={"x-api-key": "letmein"})
        assert start.status_code == 403  # the hook allows read only
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)


def _config(tmp_path: Path, authorize: str) -> PikkuConfig:
    project = _hook_project(tmp_path, authorize)
    sys.path.insert(0, str(project))
    return load_config(project)


def test_the_hook_is_loaded_from_the_projects_package(tmp_path: Path) -> None:
    """``hookapp.auth:authorize`` in a project whose source is hookapp: the function itself."""
    try:
        hook = load_authorize(_config(tmp_path, "hookapp.auth:authorize"))
    finally:
        sys.path.remove(str(tmp_path))
    assert hook is not None and hook.__name__ == "authorize" and hook.__module__ == "hookapp.auth"


@pytest.mark.parametrize("spec", ["os:system", "pikku._control:cancel_run", "subprocess:run"])
def test_a_hook_outside_the_projects_packages_is_refused(tmp_path: Path, spec: str) -> None:
    """The config names a module; only the app's own packages may be imported from it, never another
    installed module, and the error lists the packages allowed."""
    try:
        with pytest.raises(ConfigError, match="outside the project's packages") as caught:
            load_authorize(_config(tmp_path, spec))
    finally:
        sys.path.remove(str(tmp_path))
    assert "hookapp" in caught.value.message


@pytest.mark.parametrize("spec", ["hookapp.auth", "hookapp.auth:", "hookapp.auth:no_such", ":authorize"])
def test_a_malformed_or_missing_hook_is_a_config_error(tmp_path: Path, spec: str) -> None:
    """Not 'module:function', or a function the module lacks: ConfigError naming the setting."""
    try:
        with pytest.raises(ConfigError, match=r"\[tool.pikku.http\] authorize"):
            load_authorize(_config(tmp_path, spec))
    finally:
        sys.path.remove(str(tmp_path))


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("authorise = 'x:y'", "unknown key"),
        ("authorize = 3", "must be a string"),
        ("trusted_origins = 'https://a.example'", "list of origins"),
    ],
)
def test_the_http_table_is_checked(tmp_path: Path, table: str, message: str) -> None:
    """A misspelt key or a wrong type in [tool.pikku.http] is a ConfigError naming it."""
    (tmp_path / "pyproject.toml").write_text(f"[tool.pikku]\nsource = ['app']\n[tool.pikku.http]\n{table}\n")
    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path)
