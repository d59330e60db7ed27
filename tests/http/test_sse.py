"""The live streams against uvicorn on a localhost port (httpx's ASGI transport buffers whole responses):
event ids are versions, events follow the run until it settles, keep-alives, ``Last-Event-ID`` reconnects,
and the run list's stream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from http_support import GATES, background_worker, make_app, uvicorn_on_localhost

from pikku._runtime import Runtime
from pikku.http import _sse


@pytest.fixture(autouse=True)
def _gates() -> None:
    GATES.clear()


async def _events(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """The stream's events as dicts (``id``, ``event``, ``data`` parsed); comments as ``{"comment": ...}``."""
    fields: dict[str, Any] = {}
    async for line in response.aiter_lines():
        if line == "":
            if fields:
                if "data" in fields:
                    fields["data"] = json.loads(fields["data"])
                yield fields
                fields = {}
        elif line.startswith(":"):
            yield {"comment": line[1:].strip()}
        else:
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value


async def _next_event(stream: AsyncIterator[dict[str, Any]], timeout: float = 20.0) -> dict[str, Any]:
    while True:
        item = await asyncio.wait_for(stream.__anext__(), timeout)
        if "comment" not in item:
            return item


async def _wait_until(check: Any, timeout: float = 20.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")


@pytest.fixture
async def base(app: FastAPI, rt: Runtime) -> AsyncIterator[str]:
    """The app on uvicorn: its base URL."""
    async with uvicorn_on_localhost(app) as url:
        yield url


async def test_a_run_stream_follows_the_run_until_it_settles(base: str, rt: Runtime) -> None:
    """First the state now (event ``run``, id = version), then each change (a step claimed: ``step``), and
    the settled run last, after which the server ends the stream. Ids only grow."""
    run_id = await rt.engine.start("http-gated", "g1")
    async with httpx.AsyncClient(timeout=30) as client, client.stream("GET", f"{base}/pikku/runs/{run_id}/stream") as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        stream = _events(r)
        first = await _next_event(stream)
        assert (first["event"], first["data"]["run"]["status"]) == ("run", "running")
        assert int(first["id"]) == first["data"]["version"]
        async with background_worker(rt):
            seen = [first]
            while not any(s["name"] == "wait-gate" for s in seen[-1]["data"]["steps"]):
                seen.append(await _next_event(stream))
            assert seen[-1]["event"] == "step"
            GATES.setdefault("g1", asyncio.Event()).set()
            async for item in stream:  # to the end: the server closes the stream once the run settled
                if "comment" not in item:
                    seen.append(item)
    assert seen[-1]["event"] == "run"
    assert seen[-1]["data"]["run"]["status"] == "completed"
    assert [s["status"] for s in seen[-1]["data"]["steps"]] == ["done", "done"]
    ids = [int(s["id"]) for s in seen]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


async def test_a_quiet_stream_sends_keep_alive_comments(rt: Runtime) -> None:
    """While nothing changes, a comment line goes out every ``keepalive`` seconds (15 by default)."""
    run_id = await rt.engine.start("http-sleepy", None)
    app = make_app(stream_interval=0.05, keepalive=0.2)
    async with (
        uvicorn_on_localhost(app) as base,
        httpx.AsyncClient(timeout=30) as client,
        client.stream("GET", f"{base}/pikku/runs/{run_id}/stream") as r,
    ):
        stream = _events(r)
        assert (await _next_event(stream))["event"] == "run"
        item = await asyncio.wait_for(stream.__anext__(), 10)
    assert item == {"comment": "keep-alive"}


async def test_a_reconnect_to_a_settled_run_it_has_seen_is_204(
    base: str, rt: Runtime, client: httpx.AsyncClient
) -> None:
    """``Last-Event-ID`` equal to a settled run's version: 204, which tells a browser to stop reconnecting;
    an older id gets the current state at once, and the stream ends."""
    run_id = await rt.engine.start("http-inline-add", {"a": 1, "b": 1})
    version = (await client.get(f"/pikku/runs/{run_id}")).json()["version"]
    async with httpx.AsyncClient(timeout=30) as live:
        same = await live.get(f"{base}/pikku/runs/{run_id}/stream", headers={"Last-Event-ID": str(version)})
        assert same.status_code == 204
        async with live.stream(
            "GET", f"{base}/pikku/runs/{run_id}/stream", headers={"Last-Event-ID": str(version - 1)}
        ) as r:
            items = [item async for item in _events(r) if "comment" not in item]
    assert [(i["event"], int(i["id"]), i["data"]["run"]["status"]) for i in items] == [("run", version, "completed")]


async def test_a_reconnect_with_the_current_version_waits_for_the_next_change(
    base: str, rt: Runtime, client: httpx.AsyncClient
) -> None:
    """``Last-Event-ID`` equal to a running run's version: nothing at once; the next change comes with a
    larger id (here: the run cancelled)."""
    run_id = await rt.engine.start("http-sleepy", None)
    version = (await client.get(f"/pikku/runs/{run_id}")).json()["version"]
    headers = {"Last-Event-ID": str(version)}
    async with (
        httpx.AsyncClient(timeout=30) as live,
        live.stream("GET", f"{base}/pikku/runs/{run_id}/stream", headers=headers) as r,
    ):
        stream = _events(r)
        await asyncio.sleep(0.3)  # several polls: a wrong immediate event would be read first below
        assert (await client.post(f"/pikku/runs/{run_id}/cancel")).status_code == 200
        item = await _next_event(stream)
    assert item["data"]["run"]["status"] == "cancelled"
    assert int(item["id"]) > version and item["event"] == "run"


async def test_the_run_list_stream_sends_the_page_again_when_it_changes(base: str, rt: Runtime) -> None:
    """``GET /runs/stream`` (filters as ``GET /runs``): event ``runs`` now, and again with a new run in it."""
    async with (
        httpx.AsyncClient(timeout=30) as live,
        live.stream("GET", f"{base}/pikku/runs/stream", params={"workflow": "http-sleepy"}) as r,
    ):
        stream = _events(r)
        first = await _next_event(stream)
        assert (first["event"], first["data"]["runs"]) == ("runs", [])
        run_id = await rt.engine.start("http-sleepy", None)
        second = await _next_event(stream)
    assert second["event"] == "runs"
    assert [row["run_id"] for row in second["data"]["runs"]] == [run_id]
    assert int(second["id"]) > int(first["id"])


class _Request:
    """What the stream asks of a request: whether its client left."""

    async def is_disconnected(self) -> bool:
        return False


async def test_a_change_the_version_does_not_show_still_gets_a_new_id() -> None:
    """Two states with one derived version (changes within a microsecond, or a clock stepped back) but
    different content: the second still goes out, with the previous id plus one."""
    states = iter(
        [
            {"run": {"status": "running"}, "steps": [{"status": "running"}], "version": 100},
            {"run": {"status": "completed"}, "steps": [{"status": "done"}], "version": 100},
        ]
    )
    first = {"run": {"status": "running"}, "steps": [], "version": 100}

    async def read() -> dict[str, Any]:
        return next(states)

    timing = _sse.StreamTiming(interval=0.0, keepalive=60.0)
    chunks = [
        c
        async for c in _sse._follow(
            _Request(), read, first, None, timing, _sse._run_kind, lambda s: s["run"]["status"] == "completed"
        )  # type: ignore[arg-type]
    ]
    ids = [int(line.split(": ")[1]) for c in chunks for line in c.splitlines() if line.startswith("id:")]
    kinds = [line.split(": ")[1] for c in chunks for line in c.splitlines() if line.startswith("event:")]
    assert ids == [100, 101, 102]
    assert kinds == ["run", "step", "run"]
