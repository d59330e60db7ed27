from pydantic import BaseModel

from pikku import pikku_func, wire_workflow


class Spec(BaseModel):
    name: str


class Box(BaseModel):
    host: str


@pikku_func(name="boxes.make")
async def make(services, data: Spec) -> Box:
    return Box(host=data.name)


@pikku_func(name="boxes.destroy")
async def destroy(services, data: dict[str, str]) -> None:
    return None


@pikku_func(name="orders.compensate")
async def compensate(services, data: dict[str, str]) -> None:
    return None


async def provision(services, data: Spec) -> Box:
    return await services.workflow.do("make", "boxes.make", data, on_error="boxes.destroy")


async def onboard(services, data: Spec) -> str:
    wf = services.workflow
    box = await wf.call_workflow("provision", "provisioning", data, description="Provision a box")
    await wf.do("tidy", lambda: None, on_error="boxes.destroy")
    handle = await wf.start_workflow("kickoff", workflow="provisioning", data={"name": "side"})
    for i in range(2):
        await wf.call_workflow(f"extra-{i}", "provisioning", data)
    return box.host + handle.run_id


wire_workflow(name="provisioning", func=provision)
wire_workflow(name="onboarding", func=onboard, on_failure="orders.compensate")
