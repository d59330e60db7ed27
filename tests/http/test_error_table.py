"""The one table from error code to HTTP status: every code pikku can raise is in it, and walking it
through a real route answers each code with its status and the ``{code, message, detail}`` body."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from http_support import make_app, runtime_on
from starlette.requests import Request

from pikku._errors import PikkuError
from pikku._runtime import Runtime
from pikku.http import STATUS_BY_CODE
from pikku.http._errors import INTERNAL

#: Modules whose PikkuError subclasses a route may raise (the runtime's errors and the API's own).
ERROR_MODULES = ["pikku._errors", "pikku.http._errors"]


def _codes() -> set[str]:
    codes = set()
    for name in ERROR_MODULES:
        for _, cls in inspect.getmembers(importlib.import_module(name), inspect.isclass):
            if issubclass(cls, PikkuError):
                codes.add(cls.code)
    return codes


def test_every_error_code_has_a_status() -> None:
    """A new PikkuError subclass fails here until the table says what HTTP status its code is."""
    assert _codes() - set(STATUS_BY_CODE) == set()


def test_the_table_holds_no_code_nothing_raises() -> None:
    """Every entry names a real code (or PIKKU_INTERNAL, the code of unexpected failures)."""
    assert set(STATUS_BY_CODE) - _codes() == {INTERNAL}


def test_client_mistakes_are_4xx_and_server_faults_5xx() -> None:
    """The statuses a caller acts on: the ones the issue names, pinned."""
    expected = {
        "PIKKU_INVALID_INPUT": 422,
        "PIKKU_RUN_NOT_FOUND": 404,
        "PIKKU_WORKFLOW_NOT_FOUND": 404,
        "PIKKU_RUN_ID_IN_USE": 409,
        "PIKKU_RUN_STATE_CONFLICT": 409,
        "PIKKU_PAYLOAD_TOO_LARGE": 413,
        "PIKKU_HTTP_FORBIDDEN": 403,
        "PIKKU_HTTP_CROSS_ORIGIN": 403,
        "PIKKU_HTTP_CSRF": 403,
        "PIKKU_BACKEND_UNAVAILABLE": 503,
        "PIKKU_CORRUPT_STATE": 500,
        INTERNAL: 500,
    }
    assert {code: STATUS_BY_CODE[code] for code in expected} == expected


@pytest.fixture
async def rt(tmp_path: Any) -> AsyncIterator[Runtime]:
    """A SQLite runtime for the walk."""
    async with runtime_on(f"sqlite:///{tmp_path / 'table.sqlite3'}") as runtime:
        yield runtime


async def test_walking_the_table_through_a_route(rt: Runtime) -> None:
    """For each code, a route that meets an error of that code answers the table's status with the code,
    the message and the hint in ``detail``; never a traceback."""
    raised: dict[str, PikkuError] = {}

    async def raising(request: Request, action: str, workflow: str | None, run: Any) -> bool:
        raise raised["error"]

    transport = httpx.ASGITransport(app=make_app(authorize=raising), client=("127.0.0.1", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        for code, status in sorted(STATUS_BY_CODE.items()):
            error = type("Raised", (PikkuError,), {"code": code})(f"a {code} happened", hint=f"fix {code}")
            raised["error"] = error
            response = await client.get("/pikku/runs")
            assert response.status_code == status, code
            assert response.json() == {"code": code, "message": f"a {code} happened", "detail": {"hint": f"fix {code}"}}
