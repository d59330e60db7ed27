"""Smoke: remote and inline workflows on the in-memory backend, with call counters."""

from __future__ import annotations

import collections

from pydantic import BaseModel

import pikku
from pikku import pikku_func, wire_workflow
from pikku.testing import memory_runtime, settle
from pikku.wiring import WorkflowClient

CALLS: collections.Counter[str] = collections.Counter()


class In(BaseModel):
    email: str


class User(BaseModel):
    id: str
    email: str
    region: str


class Out(BaseModel):
    user_id: str
    tax_rate: float


@pikku_func(name="t.users.create")
async def create_user(services: pikku.Services, data: In) -> User:
    CALLS["create"] += 1
    return User(id="u1", email=data.email, region="EU")


@pikku_func(name="t.email.send")
def send_email(services: pikku.Services, data: dict[str, str]) -> dict[str, bool]:
    CALLS["email"] += 1
    return {"sent": True}


async def onboarding(services: pikku.Services, data: In) -> Out:
    wf = services.workflow
    user = await wf.do("createUser", "t.users.create", {"email": data.email})
    assert isinstance(user, User)
    rate = await wf.do("rate", lambda: 0.2 if user.region == "EU" else 0.08)
    await wf.do("sendEmail", "t.email.send", {"to": user.email})
    await wf.sleep("10ms")
    return Out(user_id=user.id, tax_rate=rate)


wire_workflow(name="t-onboarding", func=onboarding)
wire_workflow(name="t-onboarding-inline", func=onboarding, execution_mode="inline")


async def test_remote_runs_each_rpc_once() -> None:
    """A remote run completes with typed output and each rpc body ran exactly once across replays."""
    CALLS.clear()
    async with memory_runtime() as rt:
        client = WorkflowClient("t-onboarding", In, Out)
        handle = await client.start(In(email="a@b.c"))
        await settle(rt, [handle.run_id])
        out = await handle.result(timeout=1)
        assert out == Out(user_id="u1", tax_rate=0.2)
        assert CALLS == {"create": 1, "email": 1}


async def test_inline_runs_in_process() -> None:
    """An inline run finishes inside start() with no worker."""
    CALLS.clear()
    async with memory_runtime():
        client = WorkflowClient("t-onboarding-inline", In, Out)
        handle = await client.start(In(email="a@b.c"))
        run = await handle.get_run()
        assert run.status == "completed"
        assert run.output == Out(user_id="u1", tax_rate=0.2)
        assert CALLS == {"create": 1, "email": 1}
