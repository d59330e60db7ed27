"""Keyed jobs: one waiting job per (queue, key). The engine keys a run's orchestrator jobs by run id, so
timers, hand-offs, events and cancels that wake one run while a replay is already waiting add nothing."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from pikku._records import Enqueue, NewStep
from pikku.backends import Backend, open_backend
from pikku.backends._contract import JobQueue

SLACK = 1.0


async def _claim(queue: JobQueue, name: str = "q") -> list:  # type: ignore[type-arg]
    return await queue.claim([name], owner="w", lease_s=30, limit=10)


async def test_a_second_keyed_job_merges_into_the_waiting_one(queue: JobQueue) -> None:
    """Two enqueues with one key while the first waits: one job, the first's payload, the first's id."""
    first = await queue.enqueue("q", {"n": 1}, key="run-1")
    second = await queue.enqueue("q", {"n": 2}, key="run-1")
    assert second == first
    assert await queue.count("q") == 1
    [job] = await _claim(queue)
    assert job.payload == {"n": 1}


async def test_the_merged_job_is_due_at_the_earlier_time(queue: JobQueue) -> None:
    """A wake-up due now pulls a waiting job due in a minute forward; a later one never pushes it back."""
    await queue.enqueue("q", {"n": 1}, delay=60, key="r")
    await queue.enqueue("q", {"n": 2}, key="r")
    [job] = await _claim(queue)
    assert job.run_at <= time.time() + SLACK
    await queue.enqueue("q", {"n": 3}, key="s")
    await queue.enqueue("q", {"n": 4}, delay=60, key="s")
    assert len(await _claim(queue)) == 1


async def test_the_merged_job_keeps_the_lower_priority(queue: JobQueue) -> None:
    """The merged job is ordered by the lower of the two priorities."""
    await queue.enqueue("q", {"n": "late"}, priority=50.0, key="a")
    await queue.enqueue("q", {"n": "mid"}, priority=20.0)
    await queue.enqueue("q", {"n": "late-again"}, priority=10.0, key="a")
    [job] = await queue.claim(["q"], owner="w", lease_s=30)
    assert job.payload == {"n": "late"}


async def test_a_claimed_job_does_not_absorb_a_new_one(queue: JobQueue) -> None:
    """While the keyed job is claimed (a replay is running), the next enqueue adds a job of its own."""
    await queue.enqueue("q", {"n": 1}, key="r")
    [running] = await _claim(queue)
    await queue.enqueue("q", {"n": 2}, key="r")
    assert await queue.count("q") == 2
    [waiting] = await _claim(queue)
    assert waiting.payload == {"n": 2}
    assert await queue.ack(running) and await queue.ack(waiting)


async def test_a_released_job_merges_into_a_waiting_one(queue: JobQueue) -> None:
    """Releasing a claimed keyed job while another with its key waits leaves one job, due at the earlier."""
    await queue.enqueue("q", {"n": 1}, key="r")
    [claimed] = await _claim(queue)
    await queue.enqueue("q", {"n": 2}, delay=60, key="r")
    assert await queue.release(claimed) is True
    assert await queue.count("q") == 1
    [job] = await _claim(queue)
    assert job.run_at <= time.time() + SLACK


async def test_keys_are_per_queue_and_keyless_jobs_never_merge(queue: JobQueue) -> None:
    """The same key on two queues is two jobs; jobs without a key are always separate."""
    await queue.enqueue("a", {}, key="k")
    await queue.enqueue("b", {}, key="k")
    await queue.enqueue("a", {})
    await queue.enqueue("a", {})
    assert await queue.count("a") == 3 and await queue.count("b") == 1


async def test_transition_handoffs_honour_the_key(backend: Backend) -> None:
    """A hand-off that rides along a store transition merges into a waiting job with its key."""
    state, transitions = backend.state, backend.transitions
    handoff = Enqueue("orch", {"kind": "orchestrate", "run_id": "r1"}, key="r1")
    await transitions.create_run("r1", "wf", "{}", first_job=handoff)
    for name in ("a", "b"):
        await state.insert_step(NewStep("r1", name, "rpc", "f", "null", "pending", 3))
        claimed = await state.claim_step("r1", name, "w", 30)
        assert claimed is not None
        assert await transitions.settle_step("r1", name, "1", owner="w", handoff=handoff)
    assert await backend.queue.count("orch") == 1


@pytest.mark.parametrize("delay", [0.0, 60.0])
async def test_a_keyed_enqueue_returns_an_id_the_queue_claims(queue: JobQueue, delay: float) -> None:
    """The id returned for a merged enqueue is the id the claim reports."""
    job_id = await queue.enqueue("q", {}, key="k")
    assert await queue.enqueue("q", {}, delay=delay, key="k") == job_id
    [job] = await _claim(queue)
    assert job.id == job_id


def _enqueue_keyed_in_child(url: str, barrier: Any, out: Any) -> None:
    """Child process: open the backend, wait for everyone, then enqueue 10 jobs with one key."""

    async def main() -> list[str]:
        opened = await open_backend(url)
        try:
            barrier.wait(timeout=60)
            return [await opened.queue.enqueue("race", {"i": i}, key="one") for i in range(10)]
        finally:
            await opened.close()

    out.put(asyncio.run(main()))


async def test_keyed_enqueues_racing_in_processes_add_one_job(
    queue: JobQueue, shared_url: str, race_processes: Any
) -> None:
    """4 processes enqueueing with one key at once leave one waiting job, whose id every enqueue returned."""
    ids = {job_id for returned in race_processes(_enqueue_keyed_in_child, shared_url) for job_id in returned}
    assert await queue.count("race") == 1
    [job] = await _claim(queue, "race")
    assert ids == {job.id}
