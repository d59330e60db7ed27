"""Fixtures of the HTTP API tests: a runtime on SQLite and on PostgreSQL, an app around the router, and an
httpx client over the ASGI transport (from a loopback address, as a local caller)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from http_support import make_app, runtime_on

from pikku._runtime import Runtime

API_BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(params=API_BACKENDS)
def api_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The backend URL of one test: SQLite in the test's folder, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'api.sqlite3'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
async def rt(api_url: str) -> AsyncIterator[Runtime]:
    """A runtime on the test's backend, installed for the test's event loop."""
    async with runtime_on(api_url) as runtime:
        yield runtime


@pytest.fixture
def app() -> FastAPI:
    """The router of the repository's project (the example app plus the test workflows) under /pikku."""
    return make_app(stream_interval=0.05)


@pytest.fixture
async def client(app: FastAPI, rt: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client calling ``app`` in-process, as 127.0.0.1."""
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
