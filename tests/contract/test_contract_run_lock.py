"""Contract, part five: a run can be created holding its lock, and settling a run releases the lock."""

from __future__ import annotations

import pytest

from pikku._records import ErrorInfo
from pikku.backends._contract import StateStore


async def test_create_run_holding_its_lock(state: StateStore) -> None:
    """create_run(lock_owner=...) returns a run whose lock that owner already holds."""
    await state.create_run("r1", "wf", "null", lock_owner="driver", lock_lease=30)
    assert await state.acquire_run_lock("r1", "other", 5) is False
    assert await state.renew_run_lock("r1", "driver", 5) is True
    await state.create_run("r2", "wf", "null")
    assert await state.acquire_run_lock("r2", "other", 5) is True  # without lock_owner: unlocked


@pytest.mark.parametrize("settle", ["complete", "fail", "cancel"])
async def test_settling_a_run_releases_its_lock(state: StateStore, settle: str) -> None:
    """complete_run, fail_run and cancel_run clear the run lock: a settled run needs none."""
    await state.create_run("r1", "wf", "null")
    assert await state.acquire_run_lock("r1", "holder", 30) is True
    if settle == "complete":
        assert await state.complete_run("r1", "1") is True
    elif settle == "fail":
        assert await state.fail_run("r1", ErrorInfo("x", "E")) is True
    else:
        assert await state.cancel_run("r1") is True
    assert await state.renew_run_lock("r1", "holder", 30) is False
    assert await state.acquire_run_lock("r1", "other", 5) is True
