"""The onboarding shape (rpc, inline, rpc, sleep) and a 10-step workflow."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from pikku import pikku_func, wire_workflow


class Signup(BaseModel):
    email: str


class Welcome(BaseModel):
    user_id: str
    tax_rate: float


@pikku_func(name="scale.create_user")
async def create_user(services: Any, data: Signup) -> dict[str, str]:
    await services.record(services.step.run_id, services.step.name, services.step.invocation_id)
    return {"id": f"u-{data.email}", "region": "EU" if data.email.endswith(".eu") else "US"}


@pikku_func(name="scale.send_email")
async def send_email(services: Any, data: dict[str, str]) -> bool:
    await services.record(services.step.run_id, services.step.name, services.step.invocation_id)
    return True


@pikku_func(name="scale.work")
async def work(services: Any, data: dict[str, int]) -> dict[str, int]:
    await services.record(services.step.run_id, services.step.name, services.step.invocation_id)
    return {"i": data["i"], "square": data["i"] * data["i"]}


@pikku_func(name="scale.onboarding")
async def onboarding(services: Any, data: Signup) -> Welcome:
    wf = services.workflow
    user = await wf.do("createUser", "scale.create_user", {"email": data.email})
    rate = await wf.do("calculateTaxRate", lambda: 0.2 if user["region"] == "EU" else 0.08)
    await wf.do("sendEmail", "scale.send_email", {"to": data.email})
    await wf.sleep("1s")
    return Welcome(user_id=user["id"], tax_rate=rate)


@pikku_func(name="scale.tenstep")
async def tenstep(services: Any, data: dict[str, int]) -> int:
    total = 0
    for i in range(10):
        result = await services.workflow.do(f"step-{i}", "scale.work", {"i": i + data["offset"]})
        total += result["square"]
    return total


# Names are prefixed so this app can share a test process with the example app (one registry per process).
wire_workflow(name="scale-onboarding", func=onboarding)
wire_workflow(name="scale-tenstep", func=tenstep)
