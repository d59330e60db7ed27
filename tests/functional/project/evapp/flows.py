"""An approval that waits for ever, and one whose wait times out after a few seconds."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from pikku import current_step, pikku_func, wire_workflow


class Approval(BaseModel):
    approved: bool
    reviewer: str


class Request(BaseModel):
    name: str
    timeout: float | None = None


@pikku_func(name="evapp.record")
async def record(services: Any, data: str) -> str:
    step = current_step()
    assert step is not None
    services.record(step.run_id, data)
    return data


async def approval(services: Any, data: Request) -> str:
    workflow = services.workflow
    await workflow.do("prepare", "evapp.record", "prepare")
    decision = await workflow.wait_for_event("approval", Approval, timeout=data.timeout)
    outcome = "expired" if decision is None else decision.reviewer
    await workflow.do("finish", "evapp.record", f"finish {outcome}")
    return outcome


wire_workflow(name="evapp-approval", func=approval)
