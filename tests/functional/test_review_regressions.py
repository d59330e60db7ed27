"""Regressions a review of the architecture change found: each test failed before its fix."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import pikku
from pikku import WorkflowCancelled, _clock, pikku_func, wire_workflow
from pikku._engine.history import export_history
from pikku._runtime import Runtime
from pikku.testing import WorkflowEnvironment, replay, settle
from pikku.wiring import WorkflowClient


async def patched_fanout_wf(services: Any, data: None) -> int:
    wf = services.workflow
    if wf.patched("fan-out"):
        a, b = await asyncio.gather(wf.do("a", lambda: 1), wf.do("b", lambda: 2))
        return int(a + b)
    return 0


wire_workflow(name="rv-patched-fanout", func=patched_fanout_wf)


async def test_patched_then_gather(rt: Runtime) -> None:
    """A patch taken right before a fan-out: both siblings write the pending marker."""
    handle = await WorkflowClient("rv-patched-fanout").start(None)
    runs = await settle(rt, [handle.run_id], timeout=10)
    assert runs[0].status == "completed", runs[0].error
    assert await handle.result(timeout=1) == 3


FLAKY: dict[str, int] = {"calls": 0}


@pikku_func(name="rv.flaky")
async def rv_flaky(services: Any, data: None) -> str:
    FLAKY["calls"] += 1
    if FLAKY["calls"] == 1:
        raise RuntimeError("first call fails")
    return "ok"


async def flaky_wf(services: Any, data: None) -> str:
    return str(await services.workflow.do("flaky", "rv.flaky", None, retries=2, retry_delay=0.05))


wire_workflow(name="rv-flaky", func=flaky_wf)


class _FailRetryEnqueueOnce:
    """The queue, except the first delayed enqueue (a retry's step job) fails like a dropped connection."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.failed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def enqueue(self, queue: str, payload: dict[str, Any], *, delay: float = 0.0, **kw: Any) -> str:
        if not self.failed and payload.get("kind") == "step" and delay > 0:
            self.failed = True
            raise ConnectionError("queue unreachable for a moment")
        return await self._inner.enqueue(queue, payload, delay=delay, **kw)


async def test_local_retry_survives_a_failed_retry_enqueue(rt: Runtime, backend_kind: str) -> None:
    """A local step's retry whose job cannot be enqueued once (write-then-enqueue: the file backend): the
    run still finishes without waiting for the recovery sweep."""
    if backend_kind != "file":
        pytest.skip("only write-then-enqueue backends enqueue a retry separately")
    FLAKY["calls"] = 0
    proxy = _FailRetryEnqueueOnce(rt.engine.queue)
    rt.engine.queue = proxy
    handle = await WorkflowClient("rv-flaky").start(None)
    runs = await settle(rt, [handle.run_id], timeout=8)
    assert proxy.failed
    assert runs[0].status == "completed", runs[0].error


def _lazy_result() -> Any:
    from rv_app.heavy import Result

    return Result(total=42)


async def lazy_wf(services: Any, data: None) -> int:
    res = await services.workflow.do("compute", _lazy_result)
    await services.workflow.sleep(0.05, name="nap")
    return int(res.total)


wire_workflow(name="rv-lazy", func=lazy_wf)


async def test_replay_of_a_lazily_imported_dataclass(rt: Runtime, tmp_path: Path, backend_kind: str) -> None:
    """An inline step returns a dataclass from a module of the app's own package imported inside the step;
    a later pass runs in a process that has not imported that module (a restarted or another worker)."""
    if backend_kind != "memory":
        pytest.skip("one backend is enough")
    app = tmp_path / "rv_app"
    app.mkdir()
    (app / "__init__.py").write_text("")
    (app / "funcs.py").write_text(
        "from pikku import pikku_func\n\n"
        "@pikku_func(name='rv_app.noop')\nasync def noop(services, data: None) -> None: ...\n"
    )
    (app / "heavy.py").write_text("import dataclasses\n\n@dataclasses.dataclass\nclass Result:\n    total: int\n")
    sys.path.insert(0, str(tmp_path))
    try:
        __import__("rv_app.funcs")  # the app's functions register: its package is the app's own
        handle = await WorkflowClient("rv-lazy").start(None)
        await rt.engine.orchestrate(handle.run_id)  # "compute" stored with its type tag, then the sleep pauses
        steps = await rt.engine.state.get_steps(handle.run_id)
        assert steps["compute"].result_type == "rv_app.heavy:Result", steps["compute"].error
        del sys.modules["rv_app.heavy"]  # as in a fresh worker process
        runs = await settle(rt, [handle.run_id], timeout=5)
        assert runs[0].status == "completed", runs[0].error
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == "rv_app" or m.startswith("rv_app.")]:
            del sys.modules[name]


async def self_cancel_wf(services: Any, data: None) -> None:
    await services.workflow.do("look", lambda: 1)
    raise WorkflowCancelled("nothing to do")


wire_workflow(name="rv-self-cancel", func=self_cancel_wf)


async def test_replay_of_a_run_that_cancelled_itself(rt: Runtime, backend_kind: str) -> None:
    """The replay check accepts the unchanged code of a run that ended itself with WorkflowCancelled."""
    if backend_kind != "memory":
        pytest.skip("one backend is enough")
    handle = await WorkflowClient("rv-self-cancel").start(None)
    runs = await settle(rt, [handle.run_id], timeout=5)
    assert runs[0].status == "cancelled"
    state = rt.engine.state
    steps = sorted((await state.get_steps(handle.run_id)).values(), key=lambda s: s.created_at)
    history = export_history(runs[0], steps, {s.name: await state.get_attempts(handle.run_id, s.name) for s in steps})
    await replay(history)


async def _real_io() -> float:
    await asyncio.sleep(0.05)  # a fake HTTP call, a thread, a subprocess: real time passes, no timer
    return _clock.now()


async def inline_io_wf(services: Any, data: None) -> float:
    before = await services.workflow.do("before", _clock.now)
    after = await services.workflow.do("io", _real_io)
    return float(after - before)


wire_workflow(name="rv-inline-io", func=inline_io_wf, execution_mode="inline")


async def test_env_run_does_not_skip_time_while_an_inline_pass_works(backend_kind: str) -> None:
    """No timer is due during the pass, so the environment's time should stand still."""
    if backend_kind != "memory":
        pytest.skip("one backend is enough")
    async with WorkflowEnvironment() as env:
        handle = await env.run(WorkflowClient("rv-inline-io").start(None))
        assert await handle.result(timeout=1) < 1.0


async def inline_nap_wf(services: Any, data: None) -> str:
    await services.workflow.sleep(3, name="nap")
    return "rested"


wire_workflow(name="rv-inline-nap", func=inline_nap_wf, execution_mode="inline")


async def test_cancel_ends_an_inline_drivers_sleep(rt: Runtime, backend_kind: str) -> None:
    """start() of an inline run returns soon after the run is cancelled, not at the sleep's wake-up."""
    if backend_kind != "memory":
        pytest.skip("one backend is enough")
    began = time.monotonic()
    starting = asyncio.ensure_future(WorkflowClient("rv-inline-nap").start(None, run_id="nap-1"))
    await asyncio.sleep(0.2)
    assert await pikku.cancel_run("nap-1")
    await starting
    assert time.monotonic() - began < 1.5


class _FailFirstEnqueue:
    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.failed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def enqueue(self, queue: str, payload: dict[str, Any], *, delay: float = 0.0, **kw: Any) -> str:
        if not self.failed:
            self.failed = True
            raise ConnectionError("queue unreachable for a moment")
        return await self._inner.enqueue(queue, payload, delay=delay, **kw)


async def test_retried_idempotent_start_after_a_failed_enqueue(rt: Runtime, backend_kind: str) -> None:
    """start(run_id=...) fails on the enqueue; the caller retries it; the run should still be driven."""
    if backend_kind != "file":
        pytest.skip("write-then-enqueue")
    proxy = _FailFirstEnqueue(rt.engine.queue)
    rt.engine.queue = proxy
    with pytest.raises(ConnectionError):
        await WorkflowClient("rv-self-cancel").start(None, run_id="order-42")
    handle = await WorkflowClient("rv-self-cancel").start(None, run_id="order-42")
    runs = await settle(rt, [handle.run_id], timeout=3)
    assert runs[0].status == "cancelled"
