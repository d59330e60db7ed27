"""Workflows end to end through the engine and a real worker, on every backend."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
from typing import Any

import pytest
from pydantic import BaseModel

import pikku
from pikku import Settings, pikku_func, wire_workflow
from pikku._runtime import Runtime
from pikku.testing import memory_runtime, redeploy, settle
from pikku.wiring import WorkflowClient

CALLS: collections.Counter[str] = collections.Counter()
SEEN: list[tuple[str, Any]] = []
FLAGS: dict[str, Any] = {}


@pytest.fixture(autouse=True)
def _reset() -> None:
    CALLS.clear()
    SEEN.clear()
    FLAGS.clear()


class Point(BaseModel):
    x: int
    label: str


@dataclasses.dataclass
class Box:
    width: int
    tags: list[str]


@pikku_func(name="f.point")
async def make_point(services: Any, data: dict[str, int]) -> Point:
    CALLS["point"] += 1
    return Point(x=data["x"], label="p✓")


@pikku_func(name="f.box")
def make_box(services: Any, data: None) -> Box:
    CALLS["box"] += 1
    return Box(width=2**70, tags=["a", "é"])


@pikku_func(name="f.echo")
async def echo(services: Any, data: Any) -> Any:
    CALLS[f"echo:{data}"] += 1
    return data


@pikku_func(name="f.flaky")
async def flaky(services: Any, data: dict[str, int]) -> dict[str, int]:
    CALLS["flaky"] += 1
    FLAGS.setdefault("invocations", set()).add(services.step.invocation_id)
    if CALLS["flaky"] <= data["fail_times"]:
        raise ConnectionError(f"transient #{CALLS['flaky']}")
    return {"attempt": services.step.attempt}


@pikku_func(name="f.boom")
async def boom(services: Any, data: None) -> None:
    CALLS["boom"] += 1
    raise ValueError("the card was declined")


async def values_wf(services: Any, data: None) -> dict[str, Any]:
    wf = services.workflow
    point = await wf.do("point", "f.point", {"x": 3})
    box = await wf.do("box", "f.box")
    local = await wf.do("local", lambda: Point(x=1, label="inline"))
    plain = await wf.do("plain", lambda: {"n": 2**65, "s": "日本"})
    SEEN.append(("pass", (point, box, local, plain)))
    return {"x": point.x, "width": box.width, "local": local.label, "n": plain["n"]}


wire_workflow(name="f-values", func=values_wf)


async def test_values_are_identical_on_first_run_and_replay(rt: Runtime) -> None:
    """Step values are decoded from stored JSON on first execution and replay alike (typed by annotations)."""
    handle = await WorkflowClient("f-values").start(None)
    await settle(rt, [handle.run_id])
    assert await handle.result(timeout=1) == {"x": 3, "width": 2**70, "local": "inline", "n": 2**65}
    point, box, local, plain = SEEN[-1][1]
    assert isinstance(point, Point) and point.label == "p✓"
    assert isinstance(box, Box) and box == Box(width=2**70, tags=["a", "é"])
    assert isinstance(local, Point)
    assert plain == {"n": 2**65, "s": "日本"}
    assert CALLS == {"point": 1, "box": 1}


async def fanout_wf(services: Any, data: list[int]) -> list[Any]:
    wf = services.workflow
    results = await asyncio.gather(*(wf.do(f"echo-{n}", "f.echo", n) for n in data))
    again = [await wf.do("loop", "f.echo", f"loop{i}") for i in range(3)]
    return [*results, *again]


wire_workflow(name="f-fanout", func=fanout_wf)


async def test_fanout_and_loops_run_each_step_once(rt: Runtime) -> None:
    """Parallel steps (gather) and a name reached in a loop (name, name#1, name#2) each run exactly once."""
    handle = await WorkflowClient("f-fanout").start([1, 2, 3, 4, 5])
    await settle(rt, [handle.run_id])
    assert await handle.result(timeout=1) == [1, 2, 3, 4, 5, "loop0", "loop1", "loop2"]
    assert all(v == 1 for v in CALLS.values()) and len(CALLS) == 8
    steps = await rt.engine.state.get_steps(handle.run_id)
    assert {"loop", "loop#1", "loop#2"} <= set(steps)


async def fail_wf(services: Any, data: None) -> None:
    await services.workflow.do("charge", "f.boom", retries=0)


wire_workflow(name="f-fail", func=fail_wf)


async def test_failing_step_fails_the_run_with_its_error(rt: Runtime) -> None:
    """A step that exhausts its attempts fails the run with the step's message, type and stack."""
    handle = await WorkflowClient("f-fail").start(None)
    await settle(rt, [handle.run_id])
    run = await handle.get_run()
    assert run.status == "failed" and run.error is not None
    assert run.error.type == "ValueError"
    assert "charge" in run.error.message and "the card was declined" in run.error.message
    assert "raise ValueError" in run.error.stack
    with pytest.raises(pikku.WorkflowFailedError):
        await handle.result(timeout=1)
    assert CALLS["boom"] == 1


async def retry_wf(services: Any, data: int) -> dict[str, int]:
    result: dict[str, int] = await services.workflow.do(
        "flaky", "f.flaky", {"fail_times": data}, retries=3, retry_delay="10ms"
    )
    return result


wire_workflow(name="f-retry", func=retry_wf)


async def test_transient_failures_are_retried_under_one_invocation_id(rt: Runtime) -> None:
    """Two failures then success: the run completes, three attempts recorded, one invocation id."""
    handle = await WorkflowClient("f-retry").start(2)
    await settle(rt, [handle.run_id])
    assert await handle.result(timeout=1) == {"attempt": 3}
    attempts = await rt.engine.state.get_attempts(handle.run_id, "flaky")
    assert [a.attempt for a in attempts] == [1, 2, 3]
    assert [a.error is not None for a in attempts] == [True, True, False]
    assert FLAGS["invocations"] == {pikku.invocation_id(handle.run_id, "flaky")}


async def inline_retry_wf(services: Any, data: None) -> int:
    def sometimes() -> int:
        CALLS["inline"] += 1
        if CALLS["inline"] < 3:
            raise TimeoutError("slow upstream")
        return CALLS["inline"]

    value: int = await services.workflow.do("sometimes", sometimes, retries=5, retry_delay=0.01)
    return value


wire_workflow(name="f-inline-retry", func=inline_retry_wf)


async def test_inline_form_steps_retry_too(rt: Runtime) -> None:
    """An inline-form step that fails twice is retried by the orchestrator and then cached."""
    handle = await WorkflowClient("f-inline-retry").start(None)
    await settle(rt, [handle.run_id])
    assert await handle.result(timeout=1) == 3
    assert CALLS["inline"] == 3


async def drift_wf(services: Any, data: None) -> None:
    await services.workflow.do("first", FLAGS.get("rpc", "f.echo"), "a")


wire_workflow(name="f-drift", func=drift_wf)


async def test_changed_code_under_a_running_run_is_a_coded_non_determinism_error(rt: Runtime) -> None:
    """A replay that finds a recorded step with another rpc name fails the run naming run, step, both."""
    handle = await WorkflowClient("f-drift").start(None)
    await rt.engine.orchestrate(handle.run_id)  # dispatches step "first" calling f.echo
    await redeploy(rt)
    FLAGS["rpc"] = "f.point"
    await rt.engine.orchestrate(handle.run_id)
    run = await handle.get_run()
    assert run.status == "failed" and run.error is not None
    assert run.error.code == "PIKKU_NON_DETERMINISM"
    for part in (handle.run_id, "'first'", "'f.echo'", "'f.point'"):
        assert part in run.error.message


async def unserializable_wf(services: Any, data: None) -> None:
    await services.workflow.do("opaque", lambda: object())  # noqa: PLW0108 - the inline form under test


wire_workflow(name="f-unserializable", func=unserializable_wf)


async def test_a_value_that_cannot_be_stored_fails_its_step_by_name(rt: Runtime) -> None:
    """An unserializable step result fails the run with a serialization error naming the step."""
    handle = await WorkflowClient("f-unserializable").start(None)
    await settle(rt, [handle.run_id])
    run = await handle.get_run()
    assert run.status == "failed" and run.error is not None
    assert run.error.code == "PIKKU_STEP_SERIALIZATION"
    assert "'opaque'" in run.error.message


class StrictInput(BaseModel):
    email: str
    age: int


async def strict_wf(services: Any, data: StrictInput) -> int:
    return data.age


wire_workflow(name="f-strict", func=strict_wf)


async def test_bad_input_is_refused_before_a_run_exists(rt: Runtime) -> None:
    """Input failing the workflow's model raises InvalidInputError naming the field; no run is created."""
    with pytest.raises(pikku.InvalidInputError, match="age"):
        await WorkflowClient("f-strict", StrictInput).start({"email": "a@b.c", "age": "old"})
    assert await rt.engine.state.list_runs() == []
    with pytest.raises(pikku.UnknownWorkflowError, match="no-such-workflow"):
        await WorkflowClient("no-such-workflow").start({})


async def test_settled_runs_are_left_alone(rt: Runtime) -> None:
    """An orchestrator job for a completed run is acknowledged without replaying or taking the lock."""
    handle = await WorkflowClient("f-strict", StrictInput).start({"email": "a@b.c", "age": 3})
    await settle(rt, [handle.run_id])
    outcome = await rt.engine.orchestrate(handle.run_id)
    assert outcome.kind == "settled"
    assert await rt.engine.state.acquire_run_lock(handle.run_id, "someone-else", 5)


class CountingState:
    """Delegates to a real store and counts the step reads."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.reads: collections.Counter[str] = collections.Counter()
        self.steps_read: collections.Counter[str] = collections.Counter()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name in ("get_steps", "get_step", "lock_run", "lock_run_kept"):

            async def counted(*args: Any, **kwargs: Any) -> Any:
                self.reads[name] += 1
                found = await attr(*args, **kwargs)
                if name == "lock_run_kept" and found[1] is not None:
                    self.steps_read[name] += len(found[1])
                return found

            return counted
        return attr


async def test_each_replay_pass_reads_step_states_once(rt: Runtime) -> None:
    """Every pass of a whole run opens with one lock_run (lock + run + all steps), or for a kept run one
    lock_run_kept (lock + run + the one step it waits on); no pass reads steps again."""
    rt.engine.settings.local_steps = False  # every step through its queue: one pass per hand-off
    rt.engine.settings.local_handoff = False  # else a step's settle locks the run for its pass (no lock read)
    counting = CountingState(rt.engine.state)
    rt.engine.state = counting  # type: ignore[assignment]
    handle = await WorkflowClient("f-fanout").start(list(range(10)))
    await settle(rt, [handle.run_id])
    assert await handle.result(timeout=1) == [*range(10), "loop0", "loop1", "loop2"]
    # The fan-out's passes replay (its pause comes from sibling tasks: nothing is kept); after it, the
    # workflow waits in place at each loop step and each later pass reads just the step it waits on.
    kept = counting.reads["lock_run_kept"]
    assert kept >= 3 and counting.steps_read["lock_run_kept"] == kept
    assert counting.reads["lock_run"] >= 1
    assert set(counting.reads) == {"lock_run", "lock_run_kept"}  # no get_steps, no per-step get_step


async def test_without_kept_runs_each_pass_replays_from_one_lock_run(backend_url: str) -> None:
    """``kept_runs = 0``: every pass opens with lock_run and replays from the top, as before kept runs."""
    settings = Settings(run_lock_lease=5, step_lease=5, lock_busy_delay=0.01, local_steps=False, kept_runs=0)
    async with memory_runtime(settings=settings, url=backend_url) as runtime:
        counting = CountingState(runtime.engine.state)
        runtime.engine.state = counting  # type: ignore[assignment]
        handle = await WorkflowClient("f-fanout").start(list(range(10)))
        await settle(runtime, [handle.run_id])
        assert await handle.result(timeout=1) == [*range(10), "loop0", "loop1", "loop2"]
        assert counting.reads["lock_run"] >= 4 and set(counting.reads) == {"lock_run"}


@pikku_func(name="f.big")
async def big(services: Any, data: int) -> str:
    CALLS["big"] += 1
    return "x" * data


async def big_wf(services: Any, data: int) -> int:
    text: str = await services.workflow.do("produce", "f.big", data, retries=3)
    return len(text)


wire_workflow(name="f-big", func=big_wf)


async def test_an_oversized_step_result_is_refused_at_that_step(backend_url: str) -> None:
    """A result over the payload limit fails its step (no retries: it cannot shrink) with a clear error."""
    settings = Settings(run_lock_lease=5, step_lease=5, lock_busy_delay=0.01, default_retries=0, payload_limit=1000)
    async with memory_runtime(settings=settings, url=backend_url) as runtime:
        ok = await WorkflowClient("f-big").start(10)
        too_big = await WorkflowClient("f-big").start(5000)
        await settle(runtime, [ok.run_id, too_big.run_id])
        assert await ok.result(timeout=1) == 10
        run = await too_big.get_run()
        assert run.status == "failed" and run.error is not None
        assert run.error.code == "PIKKU_PAYLOAD_TOO_LARGE"
        assert "'produce'" in run.error.message and "1000-byte limit" in run.error.message
        assert CALLS["big"] == 2  # one each: a payload error is not retried
        runs_before = len(await runtime.engine.state.list_runs())
        with pytest.raises(pikku.PayloadTooLargeError, match="input of workflow 'f-strict'"):
            await WorkflowClient("f-strict", StrictInput).start({"email": "a" * 2000, "age": 1})
        assert len(await runtime.engine.state.list_runs()) == runs_before  # refused before a run exists
