"""Review: Redis queue.lua ``take`` against claim.lua's bookkeeping when a stream holds an undelivered entry
(a job enqueued before priorities, which claim.lua's ``adopt`` moves to the ready set first)."""

from __future__ import annotations

from typing import Any

import pytest

from pikku._records import Enqueue, NewStep, Take
from pikku.backends.redis import open_pair

pytestmark = pytest.mark.redis


async def test_take_delivers_its_own_entry_when_the_stream_holds_an_undelivered_one(redis_url: str) -> None:
    """F5: take() appends its entry and reads 'COUNT 1 >' from the stream: with an older undelivered entry
    there (claim.lua adopts such entries before reading; take does not), the read delivers the OLD entry to
    the taker and leaves the taken job's own entry undelivered, so the next claim adopts the taken job onto
    the ready set and hands it to another worker while the taker holds it."""
    state, queue, transitions = await open_pair(redis_url)
    try:
        db: Any = state._db
        P, client = db.prefix, db.client
        await state.create_run("r1", "wf", "null")
        stream = f"{P}:q:steps"
        # A legacy job: its hash and an undelivered stream entry (the group exists, nothing read yet).
        await client.hset(f"{P}:j:900", mapping={"q": "steps", "p": '{"kind": "step", "legacy": true}',
                                                  "r": "1.000000", "a": "0"})
        await client.sadd(f"{P}:queues", "steps")
        await client.xgroup_create(stream, "pikku", id="$", mkstream=True)
        await client.xadd(stream, {"j": "900"})
        assert await state.acquire_run_lock("r1", "me", 30)
        step = NewStep("r1", "s", "rpc", "f.x", "null", lease_s=30.0)
        job = Enqueue("steps", {"kind": "step", "run_id": "r1", "step": "s"})
        _, taken = await transitions.release_run_lock_dispatching("r1", "me", step=step, job=job, take=Take("me", 30))
        assert taken is not None
        others = await queue.claim(["steps"], owner="other", lease_s=30, limit=10)
        ids = sorted(j.id for j in others)
        assert taken.id not in ids, f"the job 'me' took was claimed by 'other' too: {ids}"
    finally:
        await queue.close()
        await state.close()
