"""What the HTTP API tests and the browser tests share: their workflows, an app around the router, a
runtime per backend, a worker in the background, and uvicorn on a localhost port (SSE and browsers need a
real socket: httpx's ASGI transport buffers whole responses)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel

import pikku.http
from pikku import Settings, pikku_func, wire_workflow
from pikku._registry import register_workflow_events
from pikku._runtime import Runtime
from pikku.testing import memory_runtime
from pikku.worker import Worker

ROOT = Path(__file__).resolve().parents[2]
GATES: dict[str, asyncio.Event] = {}


class AddInput(BaseModel):
    """Input of http-add."""

    a: int
    b: int


class AddOutput(BaseModel):
    """Output of http-add."""

    total: int


@pikku_func(name="http.add")
async def add(services: Any, data: dict[str, int]) -> int:
    return data["a"] + data["b"]


@pikku_func(name="http.boom")
async def boom(services: Any, data: None) -> None:
    raise ValueError("boom: the card was declined")


@pikku_func(name="http.gate")
async def gate(services: Any, data: str) -> str:
    await GATES.setdefault(data, asyncio.Event()).wait()
    return data


async def add_wf(services: Any, data: AddInput) -> AddOutput:
    total = await services.workflow.do("add", "http.add", {"a": data.a, "b": data.b})
    doubled = await services.workflow.do("double", lambda: total * 2)
    return AddOutput(total=doubled)


async def fail_wf(services: Any, data: None) -> None:
    await services.workflow.do("prepare", lambda: "ready")
    await services.workflow.do("charge", "http.boom")


async def sleepy_wf(services: Any, data: None) -> None:
    await services.workflow.do("before", lambda: 1)
    await services.workflow.sleep("1h", name="long-nap")


async def gated_wf(services: Any, data: str) -> str:
    value = await services.workflow.do("wait-gate", "http.gate", data)
    await services.workflow.do("after", lambda: "after")
    return str(value)


class Approval(BaseModel):
    """The payload of the event ``approval``."""

    ok: bool


async def approval_wf(services: Any, data: None) -> Any:
    """Waits for the event ``approval``, then records it."""
    payload = await services.workflow.wait_for_event("approval", Approval)
    await services.workflow.do("record", lambda: "recorded")
    return payload


wire_workflow(name="http-add", func=add_wf, description="Add two numbers and double the sum")
wire_workflow(name="http-inline-add", func=add_wf, execution_mode="inline")
wire_workflow(name="http-fail", func=fail_wf)
wire_workflow(name="http-sleepy", func=sleepy_wf)
wire_workflow(name="http-gated", func=gated_wf)
wire_workflow(name="http-approval", func=approval_wf)
register_workflow_events("http-approval", {"approval": Approval})  # what prebuild's wirings would register


def make_app(**options: Any) -> FastAPI:
    """A FastAPI app with the router under ``/pikku`` (as an existing app mounts it)."""
    app = FastAPI()
    options.setdefault("root", ROOT)
    app.include_router(pikku.http.router(**options), prefix="/pikku")
    return app


@contextlib.asynccontextmanager
async def runtime_on(url: str, payload_limit: int | None = None) -> AsyncIterator[Runtime]:
    """A runtime on ``url`` installed for this loop (short leases, no retries)."""
    settings = Settings(run_lock_lease=5, step_lease=5, lock_busy_delay=0.01, default_retries=0)
    if payload_limit is not None:
        settings.payload_limit = payload_limit
    async with memory_runtime(settings=settings, url=url) as runtime:
        yield runtime


@contextlib.asynccontextmanager
async def background_worker(runtime: Runtime) -> AsyncIterator[Worker]:
    """A worker serving every queue until the block ends."""
    worker = Worker(runtime.engine, concurrency=4, poll_interval=0.02, lease=5.0)
    task = asyncio.ensure_future(worker.run())
    try:
        yield worker
    finally:
        worker.stop()
        await task


@contextlib.asynccontextmanager
async def uvicorn_on_localhost(app: FastAPI) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1 (a free port) in this event loop; its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # bound before uvicorn starts: no race for the port
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="off", log_level="warning", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    for _ in range(500):
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    if task.done():
        task.result()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()
