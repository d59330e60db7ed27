"""The chaos workflows: a saga, a fan-out, a pipeline with a slow step, a sleeper and an inline-heavy run."""

from __future__ import annotations

import asyncio
from typing import Any

from pikku import current_step, pikku_func, wire_workflow


class StepFault(RuntimeError):
    """What a step raises when its input tells it to fail."""


async def _body(services: Any, data: dict[str, Any]) -> dict[str, Any]:
    """Ledger 'start' first (the side effect), then sleep, then fail or ledger 'done' and return."""
    step = services.step
    services.record("start", step)
    if data.get("sleep"):
        await asyncio.sleep(float(data["sleep"]))
    if data.get("fail_always") or step.attempt <= int(data.get("fail_until", 0)):
        services.record("fail", step)
        raise StepFault(f"{step.name} fails on attempt {step.attempt}")
    services.record("done", step)
    return {"step": step.name, "attempt": step.attempt}


@pikku_func(name="chaos.reserve")
async def reserve(services: Any, data: dict[str, Any]) -> dict[str, Any]:
    return await _body(services, data)


@pikku_func(name="chaos.charge")
async def charge(services: Any, data: dict[str, Any]) -> dict[str, Any]:
    return await _body(services, data)


@pikku_func(name="chaos.ship")
async def ship(services: Any, data: dict[str, Any]) -> dict[str, Any]:
    return await _body(services, data)


@pikku_func(name="chaos.leg")
async def leg(services: Any, data: dict[str, Any]) -> dict[str, Any]:
    return await _body(services, data)


@pikku_func(name="chaos.work")
async def work(services: Any, data: dict[str, Any]) -> dict[str, Any]:
    return await _body(services, data)


@pikku_func
async def saga(services: Any, data: dict[str, Any]) -> dict[str, Any]:
    """reserve -> charge -> ship; ``data['charge']``: 'ok', 'flaky' (fails twice) or 'broken' (always fails)."""
    wf = services.workflow
    mode = data.get("charge", "ok")
    pause = float(data.get("sleep", 0.0))
    reserved = await wf.do("reserve", "chaos.reserve", {"sleep": pause})
    charged = await wf.do(
        "charge",
        "chaos.charge",
        {"fail_until": 2 if mode == "flaky" else 0, "fail_always": mode == "broken", "sleep": pause},
        retries=2,
        retry_delay="0.2s",
    )
    shipped = await wf.do("ship", "chaos.ship", {"sleep": pause})
    return {"reserve": reserved["attempt"], "charge": charged["attempt"], "ship": shipped["attempt"]}


@pikku_func
async def fanout(services: Any, data: dict[str, Any]) -> list[int]:
    """8 legs at once; leg ``data['poison']`` always fails (retries=1), so the run fails."""
    wf = services.workflow
    poison = int(data.get("poison", -1))
    pause = float(data.get("sleep", 0.0))
    legs = [
        wf.do(f"leg-{i}", "chaos.leg", {"fail_always": i == poison, "sleep": pause}, retries=1, retry_delay="0.2s")
        for i in range(8)
    ]
    results = await asyncio.gather(*legs)
    return [r["attempt"] for r in results]


@pikku_func
async def pipeline(services: Any, data: dict[str, Any]) -> list[int]:
    """a -> b -> c, each sleeping ``data['sleep']``; b sleeps ``data['slow']`` (a step to catch running)."""
    wf = services.workflow
    pause = float(data.get("sleep", 0.0))
    a = await wf.do("a", "chaos.work", {"sleep": pause})
    b = await wf.do("b", "chaos.work", {"sleep": float(data.get("slow", pause))})
    c = await wf.do("c", "chaos.work", {"sleep": pause})
    return [a["attempt"], b["attempt"], c["attempt"]]


@pikku_func
async def napper(services: Any, data: dict[str, Any]) -> list[int]:
    """a -> durable sleep 2 s -> b."""
    wf = services.workflow
    a = await wf.do("a", "chaos.work", {})
    await wf.sleep("2s", name="nap")
    b = await wf.do("b", "chaos.work", {})
    return [a["attempt"], b["attempt"]]


@pikku_func
async def inliner(services: Any, data: dict[str, Any]) -> int:
    """An rpc step, then ``data['n']`` inline steps of ``data['sleep']`` s each, then an rpc step.

    The inline steps run in the orchestrator: the second pass replays ``head`` and then holds the
    orchestrator job and the run lock for n * sleep seconds, long enough to be killed in the middle.
    """
    wf = services.workflow
    pause = float(data.get("sleep", 0.05))
    head = await wf.do("head", "chaos.work", {})

    async def one() -> int:
        step = current_step()
        services.record("start", step)
        await asyncio.sleep(pause)
        services.record("done", step)
        return step.attempt if step else 0

    total = 0
    for i in range(int(data.get("n", 40))):
        total += await wf.do(f"inline-{i}", one)
    tail = await wf.do("tail", "chaos.work", {})
    return head["attempt"] + total + tail["attempt"]


wire_workflow(name="saga", func=saga)
wire_workflow(name="fanout", func=fanout)
wire_workflow(name="pipeline", func=pipeline)
wire_workflow(name="napper", func=napper)
wire_workflow(name="inliner", func=inliner)
