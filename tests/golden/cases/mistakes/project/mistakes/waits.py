from mistakes_gen.workflow.map import workflows
from pydantic import BaseModel

from pikku import wire_workflow


class A(BaseModel):
    ok: bool


class B(BaseModel):
    ok: bool


async def waits(services, data: None) -> None:
    name = "dynamic"
    await services.workflow.wait_for_event(name, A)
    await services.workflow.wait_for_event("a", A)
    await services.workflow.wait_for_event("a", B)
    await services.workflow.wait_for_event("b", A, timeout="soon")


wire_workflow(name="waits", func=waits)


async def sender(run_id: str) -> None:
    await workflows.waits.send_event(run_id, "a", A(ok=True))
    await workflows.waits.send_event(run_id, "c", A(ok=True))
    await workflows.waits.send_event(run_id, event="d", payload=A(ok=True))
