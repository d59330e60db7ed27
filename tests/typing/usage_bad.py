"""Misuse the type checker must reject (each line marked with the error mypy must report on it)."""

from __future__ import annotations

from example_app.models import Order, OnboardingInput
from pikku_gen.workflow.map import workflows
from pikku_gen.workflow.types import Services

from pikku import wire_schedule


async def wrong_input() -> None:
    await workflows.onboarding.start(Order(order_id="o", customer_email="e", items=[]))  # E: arg-type


async def wrong_output() -> None:
    handle = await workflows.onboarding.start(OnboardingInput(email="a@b.c"))
    total: int = await handle.result()  # E: assignment


async def wrong_step_result(services: Services) -> None:
    count: int = await services.workflow.do("create", "users.create", {"email": "a@b.c"})  # E: assignment


async def unknown_rpc(services: Services) -> None:
    await services.workflow.do("x", "no.such.rpc", {})  # E: call-overload


async def awaited_patched(services: Services) -> None:
    await services.workflow.patched("fraud-check")  # E: misc


def patch_id_not_str(services: Services) -> None:
    services.workflow.patched(1)  # E: arg-type


def deprecate_patch_returns_nothing(services: Services) -> None:
    if services.workflow.deprecate_patch("fraud-check"):  # E: func-returns-value
        pass


async def unknown_child_workflow(services: Services) -> None:
    await services.workflow.call_workflow("x", "no-such-workflow", {})  # E: call-overload


async def wrong_child_input(services: Services) -> None:
    await services.workflow.call_workflow("x", "invoice", OnboardingInput(email="a@b.c"))  # E: call-overload


async def wrong_child_result(services: Services) -> None:
    count: int = await services.workflow.call_workflow("x", "onboarding", {"email": "a@b.c"})  # E: assignment
wire_schedule(name="n", cron="0 3 * * *", workflow="onboarding", catchup="sometimes")  # E: arg-type
