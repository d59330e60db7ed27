"""A parent that runs four child workflows at once (each an rpc step, a durable sleep, an rpc step)
between two rpc steps of its own."""

from __future__ import annotations

import asyncio
from typing import Any

from pikku import pikku_func, wire_workflow


@pikku_func(name="kids.work")
async def work(services: Any, data: dict[str, int]) -> int:
    services.record(services.step.run_id, services.step.name)
    return data["n"] * 10 + data["i"]


async def child(services: Any, data: dict[str, int]) -> int:
    first = await services.workflow.do("a", "kids.work", data)
    await services.workflow.sleep("200ms", name="nap")
    second = await services.workflow.do("b", "kids.work", data)
    return int(first + second)


async def parent(services: Any, data: dict[str, int]) -> int:
    wf = services.workflow
    await wf.do("prepare", "kids.work", {"n": data["n"], "i": 0})
    results = await asyncio.gather(
        *(wf.call_workflow(f"child-{i}", "kids-child", {"n": data["n"], "i": i}) for i in range(4))
    )
    return int(await wf.do("finish", "kids.work", {"n": sum(results), "i": 0}))


wire_workflow(name="kids-child", func=child)
wire_workflow(name="kids-parent", func=parent)
