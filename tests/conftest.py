"""Shared fixtures: real PostgreSQL and Redis URLs with per-test isolation, and the ``soak`` selection.

On a machine without the servers those tests skip with a one-line reason; under CI (CI=true) a missing
server is a failure, because there the servers must run.

Tests marked ``soak`` (many worker processes, minutes of faults, server restarts) are left out of a plain
``pytest`` run and reported as deselected; ``pytest -m soak`` (scripts/test-soak.sh) runs them, and so does
naming one's file or node id on the command line.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

#: How many soak tests this session left out, for the summary line (pytest-xdist workers report theirs).
_SOAK_LEFT_OUT = pytest.StashKey[int]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect ``soak`` tests unless the ``-m`` expression mentions soak or their file is named as an argument."""
    if "soak" in (config.option.markexpr or ""):
        return
    named = {Path(config.invocation_params.dir, str(arg).split("::", 1)[0]).resolve() for arg in config.args}
    soak = {item for item in items if item.get_closest_marker("soak") and item.path not in named}
    if soak:
        config.hook.pytest_deselected(items=[item for item in items if item in soak])
        items[:] = [item for item in items if item not in soak]
    config.stash[_SOAK_LEFT_OUT] = len(soak)
    workeroutput = getattr(config, "workeroutput", None)  # set in a pytest-xdist worker only
    if workeroutput is not None:
        workeroutput["soak_left_out"] = len(soak)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """pytest-xdist: take a worker's count (every worker collects the same tests), since its summary has none."""
    count = getattr(node, "workeroutput", {}).get("soak_left_out")
    if count is not None:
        node.config.stash[_SOAK_LEFT_OUT] = count


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """Say how many soak tests were left out and which command runs them, so none is dropped unseen."""
    count = config.stash.get(_SOAK_LEFT_OUT, 0)
    if count and not hasattr(config, "workerinput"):
        terminalreporter.write_line(f"{count} soak tests left out: scripts/test-soak.sh (pytest -m soak) runs them")


PG_DSN = os.environ.get("PIKKU_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_DSN = os.environ.get("PIKKU_TEST_REDIS", "redis://127.0.0.1:6379/0")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip (or, under CI, fail) when a server the test needs is not listening."""
    if _reachable(host, port):
        return
    reason = f"{name} is not reachable at {host}:{port}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must run it (see .ci/run)")
    pytest.skip(reason)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose ``schema`` is unique to this test and dropped afterwards."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    import psycopg

    schema = f"pikku_t_{uuid.uuid4().hex[:12]}"
    yield f"{PG_DSN}?schema={schema}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis URL whose key ``prefix`` is unique to this test; its keys are deleted afterwards."""
    require_service("Redis", "127.0.0.1", 6379)
    import redis

    prefix = f"pikku_t_{uuid.uuid4().hex[:12]}"
    yield f"{REDIS_DSN}?prefix={prefix}"
    client = redis.Redis.from_url(REDIS_DSN)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


# -- every backend, by URL: the conformance suite and the functional tests run once per backend ----------

BACKENDS = [
    pytest.param("memory", id="memory"),
    pytest.param("file", id="file"),
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    pytest.param("redis", id="redis", marks=pytest.mark.redis),
]


@pytest.fixture(params=BACKENDS)
def backend_kind(request: pytest.FixtureRequest) -> str:
    """Which backend this test instance runs against."""
    kind: str = request.param
    return kind


@pytest.fixture
def backend_url(backend_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """The URL that opens this test's backend (state and queue together)."""
    if backend_kind == "memory":
        return "memory://"
    if backend_kind == "file":
        return f"file://{tmp_path / 'state'}"  # tmp_path is absolute: file:///...
    if backend_kind == "sqlite":
        return f"sqlite:///{tmp_path / 'db.sqlite3'}"  # four slashes: an absolute path
    fixture = "pg_url" if backend_kind == "postgres" else "redis_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
def shared_url(backend_kind: str, backend_url: str) -> str:
    """``backend_url`` for tests that reopen the backend elsewhere (other processes, other connections)."""
    if backend_kind == "memory":
        pytest.skip("memory:// lives inside one process and one object")
    return backend_url


