"""The contract for child runs, forks and cancel reasons, on every backend: a run's parent, the run it was
forked from, why it was cancelled and how often it was resumed are stored with it, and a parent's children
are listed through an index."""

from __future__ import annotations

import time

import pytest

from pikku._errors import RunNotFoundError
from pikku._records import Enqueue, ErrorInfo
from pikku.backends._contract import JobQueue, StateStore

ERR = ErrorInfo(message="down", type="ConnectionError", stack="...", code=None)


async def test_a_child_run_records_its_parent_and_a_fork_its_origin(state: StateStore) -> None:
    """parent_run_id and forked_from come back from create_run, get_run, lock_run and list_runs; a plain
    run has neither, no cancel reason and no resume."""
    plain = await state.create_run("p", "wf", "{}")
    assert (plain.parent_run_id, plain.forked_from, plain.cancel_reason, plain.resumes) == (None, None, None, 0)
    made = await state.create_run("p/kid", "child", "1", parent_run_id="p")
    assert made.parent_run_id == "p"
    await state.create_run("fork", "wf", "{}", forked_from="p")
    assert (await state.get_run("p/kid")).parent_run_id == "p"
    assert (await state.get_run("fork")).forked_from == "p"
    locked, steps = await state.lock_run("p/kid", "w", 30)
    assert steps == {} and (locked.parent_run_id, locked.forked_from) == ("p", None)
    listed = {r.run_id: r for r in await state.list_runs()}
    assert (listed["p/kid"].parent_run_id, listed["fork"].forked_from, listed["p"].parent_run_id) == ("p", "p", None)


async def test_list_children_gives_a_parents_children_in_creation_order(state: StateStore) -> None:
    """Only that parent's children, oldest first; none for a run without children; RunNotFoundError for a
    run that does not exist."""
    await state.create_run("a", "wf", "{}")
    await state.create_run("b", "wf", "{}")
    for name in ("one", "two", "three"):
        await state.create_run(f"a/{name}", "child", "{}", parent_run_id="a")
    await state.create_run("b/other", "child", "{}", parent_run_id="b")
    assert [r.run_id for r in await state.list_children("a")] == ["a/one", "a/two", "a/three"]
    assert [r.workflow for r in await state.list_children("b")] == ["child"]
    assert await state.list_children("a/one") == []
    with pytest.raises(RunNotFoundError):
        await state.list_children("nope")


async def test_list_children_shows_each_childs_current_status(state: StateStore) -> None:
    """A listed child is read as it is now: settled children show their status and output."""
    await state.create_run("p", "wf", "{}")
    await state.create_run("p/x", "child", "{}", parent_run_id="p")
    await state.create_run("p/y", "child", "{}", parent_run_id="p")
    await state.complete_run("p/x", '"ok"')
    await state.cancel_run("p/y", "parent run 'p' was cancelled")
    x, y = await state.list_children("p")
    assert (x.status, x.output_json) == ("completed", '"ok"')
    assert (y.status, y.cancel_reason) == ("cancelled", "parent run 'p' was cancelled")


async def test_cancel_keeps_its_reason_and_resume_clears_it(state: StateStore) -> None:
    """The first cancel's reason is kept (a second cancel changes nothing); a resume clears it and counts
    itself; a cancel without a reason leaves none; other settles leave none."""
    await state.create_run("r", "wf", "{}")
    assert await state.cancel_run("r", "operator: duplicate order") is True
    assert await state.cancel_run("r", "another reason") is False
    assert (await state.get_run("r")).cancel_reason == "operator: duplicate order"
    assert await state.resume_run("r") is True
    resumed = await state.get_run("r")
    assert (resumed.status, resumed.cancel_reason, resumed.resumes) == ("running", None, 1)
    assert await state.cancel_run("r") is True
    assert (await state.get_run("r")).cancel_reason is None
    await state.resume_run("r")
    await state.fail_run("r", ERR)
    await state.resume_run("r")
    again = await state.get_run("r")
    assert (again.resumes, again.cancel_reason, again.error) == (3, None, None)
    await state.complete_run("r", "null")
    assert (await state.get_run("r")).cancel_reason is None


async def test_a_deleted_child_leaves_its_parents_list(state: StateStore) -> None:
    """Pruning a settled child takes it out of list_children; pruning the parent makes listing its
    children RunNotFoundError."""
    await state.create_run("p", "wf", "{}")
    await state.create_run("p/gone", "child", "{}", parent_run_id="p")
    await state.create_run("p/kept", "child", "{}", parent_run_id="p")
    await state.complete_run("p/gone", "null")
    assert await state.delete_runs(before=time.time() + 1, statuses=("completed",), limit=10) == ["p/gone"]
    assert [r.run_id for r in await state.list_children("p")] == ["p/kept"]
    await state.fail_run("p", ERR)
    assert await state.delete_runs(before=time.time() + 1, statuses=("failed",), limit=10) == ["p"]
    with pytest.raises(RunNotFoundError):
        await state.list_children("p")


async def test_a_child_created_with_its_first_job_in_one_write(state: StateStore, queue: JobQueue) -> None:
    """Where the store enqueues with its writes, a child run and its first job go in together; a second
    create of the same child id writes nothing and enqueues nothing."""
    if not getattr(state, "supports_handoff", False):
        pytest.skip("this backend has no co-located queue")
    await state.create_run("p", "wf", "{}")
    job = Enqueue("orch-children", {"run_id": "p/c"}, key="p/c")
    await state.create_run("p/c", "child", "{}", handoff=job, parent_run_id="p")
    with pytest.raises(ValueError):
        await state.create_run("p/c", "child", "{}", handoff=job, parent_run_id="p")
    assert await queue.count("orch-children") == 1
    assert [r.run_id for r in await state.list_children("p")] == ["p/c"]
