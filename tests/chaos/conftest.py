"""Fixtures of the chaos suite: the prebuilt chaos project and a harness per backend (see chaos_harness.py)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from chaos_harness import PIKKU, PROJECT, Chaos

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    pytest.param("redis", id="redis", marks=pytest.mark.redis),
]

#: Scenarios that restart or disconnect the database server: moved to the very end of the session, so no
#: other test (chaos or not) has connections open to the server when it goes away.
SERVER_FAULT_TESTS = ("test_database_outage",)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the server-restarting scenario after everything else in the session."""
    last = [i for i in items if getattr(i, "originalname", i.name) in SERVER_FAULT_TESTS]
    if last:
        keep = [i for i in items if i not in last]
        items[:] = keep + last


@pytest.fixture(scope="session")
def chaos_project() -> Path:
    """Prebuild the chaos project once and make its generated package importable (registers its wirings)."""
    subprocess.run([str(PIKKU), "prebuild", "--root", str(PROJECT)], check=True, capture_output=True)
    for folder in (PROJECT / ".pikku", PROJECT):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    import chaos_gen.workflow.wirings  # noqa: F401

    return PROJECT


@pytest.fixture(params=BACKENDS)
async def chaos(request: pytest.FixtureRequest, tmp_path: Path, chaos_project: Path) -> AsyncIterator[Chaos]:
    """A harness on a fresh SQLite file, PostgreSQL schema or Redis prefix; its workers die with the test."""
    kind: str = request.param
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'chaos.sqlite3'}"
    elif kind == "postgres":
        url = request.getfixturevalue("pg_url")
    else:
        url = request.getfixturevalue("redis_url")
    from pikku import open_runtime

    harness = Chaos(kind, url, tmp_path)
    harness.rt = await open_runtime(state_url=url)
    try:
        yield harness
    finally:
        harness.kill_all()
        await harness.rt.close()
