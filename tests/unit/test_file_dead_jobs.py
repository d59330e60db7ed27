"""File queue: dead jobs live in ``queue/dead/``, and a process that stops halfway through dead-lettering or
retrying one leaves a job that is neither lost nor doubled."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from pikku.backends import file


class _Stopped(Exception):
    """Stands for the process dying at that point."""


def _stop_at_rename(monkeypatch: pytest.MonkeyPatch) -> None:
    """The next move of a file between the queue and its dead directory does not happen: the process
    "dies" just before it. (Atomic writes, a rename within one directory, go through.)"""
    real = os.replace

    def replace(src: Any, dst: Any) -> None:
        if Path(src).parent != Path(dst).parent:
            raise _Stopped
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)


async def test_dead_jobs_are_files_apart_from_the_queue(tmp_path: Path) -> None:
    """A dead job is a file in queue/dead/ (claims and counts read queue/ only); dropping it deletes it."""
    queue = await file.open_queue(f"file://{tmp_path}")
    await queue.enqueue("q", {"n": 1})
    [job] = await queue.claim(["q"], owner="w", lease_s=30)
    assert await queue.dead_letter(job, "bad")
    assert [p.name for p in (tmp_path / "queue" / "dead").iterdir()] == [f"{job.id}.json"]
    assert await queue.count() == 0
    assert await queue.retry_dead("../queue.lock") is False and await queue.drop_dead(".hidden") is False
    assert await queue.drop_dead(job.id) is True
    assert list((tmp_path / "queue" / "dead").iterdir()) == []


async def test_a_dead_letter_cut_short_leaves_a_leased_job_delivered_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped before the rename, the job is still in the queue under its lease: not dead, not lost, and
    claimed again once the lease runs out (to be dead-lettered again)."""
    queue = await file.open_queue(f"file://{tmp_path}")
    await queue.enqueue("q", {"n": 1})
    [job] = await queue.claim(["q"], owner="w", lease_s=0.05)
    with monkeypatch.context() as patch:
        _stop_at_rename(patch)
        with pytest.raises(_Stopped):
            await queue.dead_letter(job, "bad")
    assert await queue.list_dead() == [] and await queue.count() == 1
    await asyncio.sleep(0.1)
    [again] = await queue.claim(["q"], owner="w", lease_s=30)
    assert (again.id, again.attempts) == (job.id, 2)
    assert await queue.dead_letter(again, "bad")
    assert [(d.id, d.reason, d.attempts) for d in await queue.list_dead()] == [(job.id, "bad", 2)]


async def test_a_retry_cut_short_is_still_dead_and_retried_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped before the rename, the retried job is still listed as dead (its reason kept) and not in the
    queue; retrying again puts it back once."""
    queue = await file.open_queue(f"file://{tmp_path}")
    await queue.enqueue("q", {"n": 1})
    [job] = await queue.claim(["q"], owner="w", lease_s=30)
    assert await queue.dead_letter(job, "bad")
    with monkeypatch.context() as patch:
        _stop_at_rename(patch)
        with pytest.raises(_Stopped):
            await queue.retry_dead(job.id)
    [dead] = await queue.list_dead()
    assert (dead.id, dead.reason, dead.payload) == (job.id, "bad", {"n": 1})
    assert await queue.count() == 0
    assert await queue.retry_dead(job.id) is True
    assert await queue.list_dead() == [] and await queue.count() == 1
    [again] = await queue.claim(["q"], owner="w", lease_s=30)
    assert (again.payload, again.attempts) == ({"n": 1}, 1) and again.id != job.id
