"""Access control on every route: the authorize hook (what it is asked, what a refusal answers), the
loopback rule without a hook, cross-site posts, and the payload limit (413)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from http_support import make_app, runtime_on
from starlette.exceptions import HTTPException
from starlette.requests import Request

from pikku._runtime import Runtime
from pikku.http import ACTIONS

#: One request per route (method, path template, JSON body), with the action the hook is asked about.
ROUTES: list[tuple[str, str, Any, str]] = [
    ("GET", "/pikku/workflows", None, "read"),
    ("POST", "/pikku/workflows/http-add/runs", {"a": 1, "b": 2}, "start"),
    ("POST", "/pikku/workflows/no-such/runs", {}, "start"),
    ("GET", "/pikku/runs", None, "read"),
    ("GET", "/pikku/runs/stream", None, "read"),
    ("GET", "/pikku/runs/{run}", None, "read"),
    ("GET", "/pikku/runs/{run}/stream", None, "read"),
    ("POST", "/pikku/runs/{run}/events/approval", {"ok": True}, "signal"),
    ("POST", "/pikku/runs/{run}/cancel", None, "cancel"),
    ("POST", "/pikku/runs/{run}/resume", None, "resume"),
    ("POST", "/pikku/runs/{run}/fork", {"from_step": "before"}, "fork"),
    ("GET", "/pikku/ui/", None, "read"),
    ("GET", "/pikku/ui/runs/{run}", None, "read"),
    ("GET", "/pikku/ui/static/console.js", None, "read"),
    ("POST", "/pikku/ui/runs/{run}/cancel", None, "cancel"),
]


class Recorder:
    """An authorize hook that records what it was asked and answers ``allow``."""

    def __init__(self, allow: bool) -> None:
        self.allow = allow
        self.calls: list[tuple[str, str | None, str | None]] = []

    async def __call__(self, request: Request, action: str, workflow: str | None, run: Any) -> bool:
        self.calls.append((action, workflow, run.run_id if run is not None else None))
        return self.allow


@pytest.fixture
async def rt(tmp_path: Any) -> AsyncIterator[Runtime]:
    """A SQLite runtime (access rules do not depend on the backend)."""
    async with runtime_on(f"sqlite:///{tmp_path / 'access.sqlite3'}") as runtime:
        yield runtime


async def _sleepy_run(rt: Runtime) -> str:
    return await rt.engine.start("http-sleepy", None, run_id="guarded-run")


def _client(app: FastAPI, host: str = "127.0.0.1") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(host, 40000)), base_url="http://testserver")


async def test_a_refusing_hook_answers_403_on_every_route_and_is_asked_the_right_action(rt: Runtime) -> None:
    """Every route asks the hook with its action, the workflow and the run it acts on; False is 403
    PIKKU_HTTP_FORBIDDEN, and nothing happens (the run is still running)."""
    run_id = await _sleepy_run(rt)
    hook = Recorder(allow=False)
    async with _client(make_app(authorize=hook)) as client:
        for method, path, body, action in ROUTES:
            hook.calls.clear()
            response = await client.request(method, path.format(run=run_id), json=body)
            assert response.status_code == 403, (path, response.text)
            if "/ui/" not in path:
                assert response.json()["code"] == "PIKKU_HTTP_FORBIDDEN"
            asked_action, workflow, run = hook.calls[-1]
            assert asked_action == action, path
            if "{run}" in path:
                assert (workflow, run) == ("http-sleepy", run_id), path
    assert (await rt.engine.state.get_run(run_id)).status == "running"
    assert set(ACTIONS) == {a for *_, a in ROUTES}


async def test_an_unknown_run_is_403_not_404_for_a_caller_the_hook_refuses(rt: Runtime) -> None:
    """The hook is asked (with no run) before a 404 says whether a run id exists."""
    hook = Recorder(allow=False)
    async with _client(make_app(authorize=hook)) as client:
        response = await client.get("/pikku/runs/no-such-run")
    assert response.status_code == 403
    assert hook.calls == [("read", None, None)]


async def test_an_allowing_hook_lets_requests_through_from_anywhere(rt: Runtime) -> None:
    """With a hook, the loopback rule is off: the hook alone decides, also for a remote client."""
    run_id = await _sleepy_run(rt)
    async with _client(make_app(authorize=Recorder(allow=True)), host="203.0.113.9") as client:
        assert (await client.get(f"/pikku/runs/{run_id}")).status_code == 200
        assert (await client.post(f"/pikku/runs/{run_id}/cancel")).status_code == 200


async def test_a_hook_may_answer_with_its_own_http_status(rt: Runtime) -> None:
    """A hook that raises HTTPException (401 with WWW-Authenticate) is answered with that status and header."""

    async def needs_login(request: Request, action: str, workflow: str | None, run: Any) -> bool:
        raise HTTPException(401, "log in first", headers={"WWW-Authenticate": "Bearer"})

    async with _client(make_app(authorize=needs_login)) as client:
        response = await client.get("/pikku/runs")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["message"] == "log in first"


async def test_a_hook_that_crashes_is_a_500_without_a_traceback(rt: Runtime) -> None:
    """An unexpected exception is PIKKU_INTERNAL: the caller gets no traceback, no exception text."""

    async def broken(request: Request, action: str, workflow: str | None, run: Any) -> bool:
        raise RuntimeError("secret-token-in-the-message")

    async with _client(make_app(authorize=broken)) as client:
        response = await client.get("/pikku/runs")
    assert response.status_code == 500
    assert response.json()["code"] == "PIKKU_INTERNAL"
    assert "secret-token" not in response.text and "Traceback" not in response.text


async def test_without_a_hook_only_loopback_clients_are_served(rt: Runtime) -> None:
    """No hook: 127.0.0.1 and ::1 are served, another address is 403 naming how to add a hook."""
    app = make_app()
    for host in ("127.0.0.1", "::1"):
        async with _client(app, host=host) as client:
            assert (await client.get("/pikku/runs")).status_code == 200
    async with _client(app, host="192.0.2.10") as client:
        response = await client.get("/pikku/runs")
    assert response.status_code == 403
    assert "authorize" in response.json()["detail"]["hint"]


async def test_insecure_no_auth_serves_every_client(rt: Runtime) -> None:
    """``insecure_no_auth`` turns the loopback rule off."""
    async with _client(make_app(insecure_no_auth=True), host="192.0.2.10") as client:
        assert (await client.get("/pikku/runs")).status_code == 200


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Origin": "http://evil.example"}, 403),
        ({"Origin": "null"}, 403),
        ({"Sec-Fetch-Site": "cross-site"}, 403),
        ({"Sec-Fetch-Site": "same-site", "Origin": "http://sub.testserver"}, 403),
        ({"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}, 200),
        ({"Origin": "https://admin.example.com", "Sec-Fetch-Site": "cross-site"}, 200),  # a trusted origin
        ({}, 200),  # not a browser: no Origin, no Sec-Fetch-Site
    ],
)
async def test_a_state_changing_request_from_another_site_is_refused(
    rt: Runtime, headers: dict[str, str], status: int
) -> None:
    """Cross-site POSTs are 403 PIKKU_HTTP_CROSS_ORIGIN (forms on other sites cannot cancel runs); the
    server's own origin, trusted origins and non-browser clients pass."""
    run_id = await _sleepy_run(rt)
    app = make_app(trusted_origins=["https://admin.example.com"])
    async with _client(app) as client:
        response = await client.post(f"/pikku/runs/{run_id}/cancel", headers=headers)
    assert response.status_code == status, response.text
    if status == 403:
        assert response.json()["code"] == "PIKKU_HTTP_CROSS_ORIGIN"
        assert (await rt.engine.state.get_run(run_id)).status == "running"


async def test_a_cross_site_get_is_served(rt: Runtime) -> None:
    """Reads are not state changes: a GET with a foreign Origin is answered (the hook still applies)."""
    async with _client(make_app()) as client:
        response = await client.get("/pikku/runs", headers={"Origin": "http://evil.example"})
    assert response.status_code == 200


async def test_a_body_over_the_payload_limit_is_413_naming_the_limit(tmp_path: Any) -> None:
    """The engine's payload limit bounds request bodies: 413 PIKKU_PAYLOAD_TOO_LARGE with the limit in the
    message, for a declared Content-Length and for a chunked body alike; nothing is started."""
    async with runtime_on(f"sqlite:///{tmp_path / 'limit.sqlite3'}", payload_limit=2000) as rt:
        big = b'{"a": 1, "b": 2, "pad": "' + b"x" * 5000 + b'"}'

        async def chunks() -> AsyncIterator[bytes]:
            for i in range(0, len(big), 512):
                yield big[i : i + 512]

        async with _client(make_app()) as client:
            declared = await client.post(
                "/pikku/workflows/http-add/runs", content=big, headers={"Content-Type": "application/json"}
            )
            chunked = await client.post(
                "/pikku/workflows/http-add/runs", content=chunks(), headers={"Content-Type": "application/json"}
            )
            small = await client.post("/pikku/workflows/http-add/runs", json={"a": 1, "b": 2})
        for response in (declared, chunked):
            assert response.status_code == 413
            assert response.json()["code"] == "PIKKU_PAYLOAD_TOO_LARGE"
            assert "2000 bytes" in response.json()["message"]
        assert small.status_code == 201
        assert len(await rt.engine.state.list_runs(limit=10)) == 1
