"""Resume, fork and prune on every backend."""

from __future__ import annotations

import asyncio
import collections
from typing import Any

import pytest

import pikku
from pikku import pikku_func, wire_workflow
from pikku._engine.recovery import SweepCursor, recover
from pikku._engine.retention import Retention, prune_once
from pikku._runtime import Runtime
from pikku.testing import settle
from pikku.wiring import WorkflowClient
from pikku.worker import Worker

CALLS: collections.Counter[str] = collections.Counter()
BROKEN: set[str] = set()


@pytest.fixture(autouse=True)
def _reset() -> None:
    CALLS.clear()
    BROKEN.clear()


@pikku_func(name="rf.step")
async def step(services: Any, data: str) -> str:
    CALLS[data] += 1
    if data in BROKEN:
        raise ConnectionError(f"{data} is down")
    return data.upper()


async def chain_wf(services: Any, data: None) -> list[str]:
    return [str(await services.workflow.do(name, "rf.step", name, retries=0)) for name in ("a", "b", "c")]


async def sleepy_wf(services: Any, data: None) -> str:
    await services.workflow.sleep("1h", name="nap")
    return "woke"


wire_workflow(name="rf-chain", func=chain_wf)
wire_workflow(name="rf-sleepy", func=sleepy_wf)


async def test_resume_reruns_the_failed_step_and_keeps_the_done_ones(rt: Runtime) -> None:
    """A run failed at b is resumed after the fix: a is not run again, b gets a fresh attempt budget."""
    BROKEN.add("b")
    handle = await WorkflowClient("rf-chain").start(None)
    await settle(rt, [handle.run_id])
    assert (await handle.get_run()).status == "failed"
    BROKEN.clear()
    assert await pikku.resume_run(handle.run_id) is True
    await settle(rt, [handle.run_id])
    assert await handle.result(timeout=1) == ["A", "B", "C"]
    assert CALLS == {"a": 1, "b": 2, "c": 1}
    run = await handle.get_run()
    assert run.error is None


async def test_resume_a_cancelled_run_and_refuse_a_completed_one(rt: Runtime) -> None:
    """A cancelled run resumes (and runs to the end); resuming a running run is a no-op; a completed run
    cannot be resumed."""
    handle = await WorkflowClient("rf-sleepy").start(None)
    await rt.engine.orchestrate(handle.run_id)
    assert await pikku.resume_run(handle.run_id) is False  # still running
    await handle.cancel()
    assert await pikku.resume_run(handle.run_id) is True
    assert (await handle.get_run()).status == "running"
    done = await WorkflowClient("rf-chain").start(None)
    await settle(rt, [done.run_id])
    with pytest.raises(pikku.InvalidInputError, match="completed"):
        await pikku.resume_run(done.run_id)


async def test_resume_racing_the_recovery_sweep_runs_the_step_once(rt: Runtime) -> None:
    """A resume and a recovery sweep queue passes at once: the failed step still runs exactly once more."""
    BROKEN.add("b")
    handle = await WorkflowClient("rf-chain").start(None)
    await settle(rt, [handle.run_id])
    BROKEN.clear()
    await asyncio.gather(
        pikku.resume_run(handle.run_id),
        recover(rt.engine, stale_after=0.0, cursor=SweepCursor()),
    )
    await settle(rt, [handle.run_id])
    assert await handle.result(timeout=1) == ["A", "B", "C"]
    assert CALLS == {"a": 1, "b": 2, "c": 1}


async def test_fork_keeps_the_steps_before_and_runs_from_there(rt: Runtime) -> None:
    """fork_run(from_step='b'): a new run with the same input, a copied, b and c run again."""
    handle = await WorkflowClient("rf-chain").start(None)
    await settle(rt, [handle.run_id])
    new_id = await pikku.fork_run(handle.run_id, from_step="b")
    assert new_id != handle.run_id
    await settle(rt, [new_id])
    assert await WorkflowClient("rf-chain").handle(new_id).result(timeout=1) == ["A", "B", "C"]
    assert CALLS == {"a": 1, "b": 2, "c": 2}


async def test_fork_from_an_unknown_step_lists_the_runs_steps(rt: Runtime) -> None:
    """A step the run does not have: an error naming the steps it has, in order; nothing is created."""
    handle = await WorkflowClient("rf-chain").start(None)
    await settle(rt, [handle.run_id])
    with pytest.raises(pikku.InvalidInputError) as err:
        await pikku.fork_run(handle.run_id, from_step="zz")
    assert "a, b, c" in str(err.value)
    assert len((await pikku.list_runs()).runs) == 1


async def test_prune_deletes_old_settled_runs_and_never_a_running_one(rt: Runtime) -> None:
    """prune_runs removes completed runs older than the cutoff; a sleeping (running) run stays."""
    done = [await WorkflowClient("rf-chain").start(None) for _ in range(3)]
    await settle(rt, [h.run_id for h in done])
    sleeping = await WorkflowClient("rf-sleepy").start(None)
    assert await pikku.prune_runs("1h") == 0  # nothing that old
    await asyncio.sleep(0.05)
    assert await pikku.prune_runs(0.01, status=("completed", "failed")) == 3
    assert [r.run_id for r in (await pikku.list_runs()).runs] == [sleeping.run_id]
    with pytest.raises(pikku.InvalidInputError):
        await pikku.prune_runs("1d", status=("running",))


async def test_a_worker_with_retention_prunes_old_settled_runs_now_and_then(rt: Runtime) -> None:
    """A worker given a Retention deletes settled runs of the chosen statuses once they are old enough,
    again and again, and leaves active runs and other statuses alone."""
    BROKEN.add("b")
    failed = await WorkflowClient("rf-chain").start(None)
    await settle(rt, [failed.run_id])
    BROKEN.clear()
    done = [await WorkflowClient("rf-chain").start(None) for _ in range(2)]
    await settle(rt, [h.run_id for h in done])
    sleeping = await WorkflowClient("rf-sleepy").start(None)
    await asyncio.sleep(0.05)
    retention = Retention(older_than=0.02, statuses=("completed",), interval=0.02)
    worker = Worker(rt.engine, retention=retention, recovery_interval=None, poll_interval=0.01)
    task = asyncio.ensure_future(worker.run())
    try:
        await _until_listed(lambda ids: not set(ids) & {h.run_id for h in done})
        later = await WorkflowClient("rf-chain").start(None)  # completes under the worker, pruned in turn
        await _until_listed(lambda ids: later.run_id not in ids)
    finally:
        worker.stop()
        await task
    left = {r.run_id: r.status for r in (await pikku.list_runs()).runs}
    assert left == {failed.run_id: "failed", sleeping.run_id: "waiting"}


async def _until_listed(done: Any, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not done([r.run_id for r in (await pikku.list_runs()).runs]):
        assert loop.time() < deadline, "retention did not prune in time"
        await asyncio.sleep(0.02)


async def test_prune_once_logs_and_survives_a_failing_store(rt: Runtime, caplog: pytest.LogCaptureFixture) -> None:
    """A store error during a worker's prune is logged and the worker keeps going (returns 0)."""

    class Broken:
        async def delete_runs(self, **_: Any) -> list[str]:
            raise ConnectionError("db down")

    assert await prune_once(Broken(), Retention(older_than=1.0)) == 0  # type: ignore[arg-type]
    assert "retention: pruning failed" in caplog.text
