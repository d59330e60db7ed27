"""The Redis backend's Lua scripts as files, keyed jobs' bookkeeping, and keyspaces written by older pikku.

``data/redis_before_keys.json`` holds the DUMP payloads of every key the code before keyed jobs (commit
d22d587) wrote under one prefix: a running run with a done step, a claimed job (its claim in ``meta``), a
waiting job and a delayed one. Restored under a test's prefix, it is what an upgrade finds in Redis.
``data/redis_before_dead.json`` is the same for the code before dead jobs and run pruning (commit 45aafb7):
a failed run (a done inline step, an rpc step that failed its one attempt), a completed run, a keyed job
claimed by ``old-worker`` (attempt 1) and a waiting job with the same key.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from pikku._records import Job
from pikku.backends._wakeup import QUIET_DELAY_S
from pikku.backends.redis import open_pair
from pikku.backends.redis import store as redis_store
from pikku.backends.redis.connection import parse_url
from pikku.backends.redis.scripts import PIECES, STEP_FIELDS, piece, script

DATA = Path(__file__).parent / "data"
ADMIN_URL = "redis://127.0.0.1:6379/0"


def _lua_files() -> set[str]:
    folder = resources.files("pikku.backends.redis") / "lua"
    return {item.name.removesuffix(".lua") for item in folder.iterdir() if item.name.endswith(".lua")}


def test_every_script_is_made_of_packaged_lua_files() -> None:
    """Each script is the concatenation of .lua files found through importlib.resources, and every .lua
    file is used by some script (none left behind after an edit)."""
    used = {name for pieces in PIECES.values() for name in pieces}
    assert used == _lua_files()
    for name, pieces in PIECES.items():
        assert script(name) == "\n".join(piece(part) for part in pieces)


def test_the_lua_step_fields_match_the_python_ones() -> None:
    """Step-returning scripts report fields in STEP_FIELDS order: the Lua list and the Python one agree."""
    match = re.search(r"local STEP_FIELDS = \{([^}]*)\}", piece("state"))
    assert match is not None
    assert tuple(re.findall(r"'([^']+)'", match.group(1))) == STEP_FIELDS


def test_the_lua_quiet_delay_matches_the_python_one() -> None:
    """A job delayed this long is enqueued without a wake-up, on Redis as on every other backend."""
    match = re.search(r"local QUIET_DELAY_S = ([0-9.]+)", piece("queue"))
    assert match is not None and float(match.group(1)) == QUIET_DELAY_S


@pytest.fixture
async def admin() -> AsyncIterator[aioredis.Redis]:
    """A plain client for writing and looking at keys directly."""
    client = aioredis.Redis.from_url(ADMIN_URL)
    try:
        yield client
    finally:
        await client.aclose()


async def _restore_old_keyspace(
    admin: aioredis.Redis, prefix: str, dump: str = "redis_before_keys.json"
) -> dict[str, str]:
    saved = json.loads((DATA / dump).read_text(encoding="utf-8"))
    for suffix, payload in saved["keys"].items():
        await admin.restore(f"{prefix}:{suffix}", 0, base64.b64decode(payload))
    claimed: dict[str, str] = saved["meta"].get("claimed", {})
    return claimed


@pytest.mark.redis
async def test_a_keyspace_from_before_keyed_jobs_keeps_working(redis_url: str, admin: aioredis.Redis) -> None:
    """Runs, steps and jobs written before keyed jobs read and move on: the old claim acks its job, the
    waiting job is claimed, and keyed jobs (whose key map the old keyspace lacks) merge among themselves
    but never into the old unkeyed jobs."""
    prefix = parse_url(redis_url)[1]
    claimed = await _restore_old_keyspace(admin, prefix)
    state, queue, _ = await open_pair(redis_url)
    try:
        assert (await state.get_steps("old-run"))["a"].result_json == '"done"'
        old_claim = Job(claimed["id"], "orch", {}, attempts=int(claimed["attempts"]), owner=claimed["owner"])
        assert await queue.ack(old_claim)
        first = await queue.enqueue("orch", {"new": 1}, key="old-run", priority=0.5)
        assert await queue.enqueue("orch", {"new": 2}, key="old-run") == first
        assert await queue.count("orch") == 3  # the old waiting and delayed jobs, and one keyed job
        jobs = await queue.claim(["orch"], owner="new-worker", lease_s=30, limit=10)
        # The dump's delayed job (n 3) has an absolute due time from the day the dump was made: once that
        # time has passed it is due too, and comes last (its priority is its due time).
        assert [job.payload for job in jobs][:2] == [{"new": 1}, {"run_id": "old-run", "n": 2}]
        assert [job.payload for job in jobs][2:] in ([], [{"run_id": "old-run", "n": 3}])
    finally:
        await queue.close()
        await state.close()


@pytest.mark.redis
async def test_keyed_jobs_leave_no_key_map_behind(redis_url: str, admin: aioredis.Redis) -> None:
    """The key map holds only waiting keyed jobs: a claim takes the key out, a release puts it back (so
    the next enqueue merges), and an acked job leaves no key map at all."""
    prefix = parse_url(redis_url)[1]
    state, queue, _ = await open_pair(redis_url)
    key_map = f"{prefix}:k:q"
    try:
        job_id = await queue.enqueue("q", {}, key="k")
        assert await admin.hget(key_map, "k") == job_id.encode()
        [job] = await queue.claim(["q"], owner="w", lease_s=30)
        assert not await admin.exists(key_map)
        assert await queue.release(job)
        assert await queue.enqueue("q", {}, key="k") == job_id
        [job] = await queue.claim(["q"], owner="w", lease_s=30)
        assert await queue.ack(job)
        assert not await admin.exists(key_map)
    finally:
        await queue.close()
        await state.close()


@pytest.mark.redis
async def test_a_keyspace_from_before_dead_jobs_resumes_prunes_and_dead_letters(
    redis_url: str, admin: aioredis.Redis
) -> None:
    """On a keyspace written before dead jobs and the settled-run index: a failed run resumes (failed step
    pending with a fresh budget, attempts kept), the completed run (settled without an index entry) is still
    found and pruned with its steps and attempt lists, and the job claimed before the upgrade is
    dead-lettered by its old claim, listed, and retried into the waiting job with its key."""
    prefix = parse_url(redis_url)[1]
    claimed = await _restore_old_keyspace(admin, prefix, "redis_before_dead.json")
    state, queue, _ = await open_pair(redis_url)
    try:
        assert await state.resume_run("old-failed") is True
        b = await state.get_step("old-failed", "b")
        assert (b.status, b.error, b.attempts, b.max_attempts) == ("pending", None, 1, 2)
        every = await state.get_run_attempts("old-failed")
        assert [len(every["a"]), len(every["b"])] == [1, 1] and every["b"][0].error is not None
        assert await state.delete_runs(before=time.time() + 1, statuses=("completed",), limit=10) == ["old-done"]
        assert [run.run_id for run in await state.list_runs()] == ["old-failed"]
        assert not await admin.keys(f"{prefix}:*old-done*")
        old_claim = Job(claimed["id"], "orch", {}, attempts=int(claimed["attempts"]), owner=claimed["owner"])
        assert await queue.dead_letter(old_claim, "forged") is True
        [dead] = await queue.list_dead()
        assert (dead.id, dead.payload, dead.attempts, dead.reason) == ("1", {"run_id": "old-failed"}, 1, "forged")
        assert await queue.count("orch") == 1
        assert await queue.retry_dead("1") is True
        assert await queue.count("orch") == 1  # merged into the waiting job with its key
        [job] = await queue.claim(["orch"], owner="new-worker", lease_s=30)
        assert job.payload == {"run_id": "old-failed", "n": 2} and job.attempts == 1
    finally:
        await queue.close()
        await state.close()


@pytest.mark.redis
async def test_runs_of_a_keyspace_from_before_the_status_set_are_counted(redis_url: str, admin: aioredis.Redis) -> None:
    """count_runs on a keyspace written before ``:idx:statuses`` existed: its runs (a failed one, a
    completed one) are counted from the per-status index sets of the statuses pikku knows."""
    prefix = parse_url(redis_url)[1]
    await _restore_old_keyspace(admin, prefix, "redis_before_dead.json")
    assert not await admin.exists(f"{prefix}:idx:statuses")
    state, queue, _ = await open_pair(redis_url)
    try:
        assert await state.count_runs() == {"failed": 1, "completed": 1}
    finally:
        await queue.close()
        await state.close()


@pytest.mark.redis
async def test_runs_settled_without_an_index_entry_are_indexed_page_by_page_and_pruned_oldest_first(
    redis_url: str, admin: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the settled-run index by last change lacks runs (an older pikku settled them), delete_runs
    indexes them in pages of INDEX_PAGE first and then deletes oldest change first, as for indexed runs."""
    monkeypatch.setattr(redis_store, "INDEX_PAGE", 2)
    prefix = parse_url(redis_url)[1]
    state, queue, _ = await open_pair(redis_url)
    try:
        for i in range(5):
            await state.create_run(f"r{i}", "wf", "{}")
        for i in (3, 1, 4, 0, 2):  # settled in another order than created
            await state.complete_run(f"r{i}", "null")
        await admin.delete(f"{prefix}:idx:u:completed")  # as if an older pikku had settled them
        assert await state.delete_runs(before=time.time() + 1, statuses=("completed",), limit=3) == ["r3", "r1", "r4"]
        assert await admin.zcard(f"{prefix}:idx:u:completed") == 2
        assert await state.delete_runs(before=time.time() + 1, statuses=("completed",), limit=3) == ["r0", "r2"]
    finally:
        await queue.close()
        await state.close()


@pytest.mark.redis
async def test_a_keyspace_from_before_child_runs_reads_and_gets_children(redis_url: str, admin: aioredis.Redis) -> None:
    """``data/redis_before_children.json`` holds the keys the code before child runs (commit 94ef93b)
    wrote: a running run with a done step, a failed, a cancelled and a completed run. Their hashes lack the
    new fields and read as no parent, fork, cancel reason or resume; a child of an old run is listed;
    cancel keeps its reason; resume counts; pruning still works."""
    prefix = parse_url(redis_url)[1]
    await _restore_old_keyspace(admin, prefix, "redis_before_children.json")
    state, queue, _ = await open_pair(redis_url)
    try:
        live = await state.get_run("old-live")
        assert (live.parent_run_id, live.forked_from, live.cancel_reason, live.resumes) == (None, None, None, 0)
        assert [r.run_id for r in await state.list_runs(status="running")] == ["old-live"]
        assert await state.list_children("old-live") == []
        await state.create_run("old-live/kid", "wf", "{}", parent_run_id="old-live")
        assert [r.run_id for r in await state.list_children("old-live")] == ["old-live/kid"]
        assert await state.resume_run("old-failed") is True
        assert (await state.get_run("old-failed")).resumes == 1
        assert await state.cancel_run("old-live", "after the upgrade") is True
        run, steps = await state.lock_run("old-cancelled", "w", 30)
        assert (run.cancel_reason, steps) == (None, None)
        assert (await state.get_run("old-live")).cancel_reason == "after the upgrade"
        assert await state.delete_runs(before=time.time() + 1, statuses=("completed",), limit=10) == ["old-done"]
    finally:
        await queue.close()
        await state.close()
