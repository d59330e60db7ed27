"""Correct use of the generated client and types: must type-check cleanly under mypy --strict."""

from __future__ import annotations

from pikku_gen.workflow.map import workflows
from pikku_gen.workflow.types import Services, Workflow

from example_app.models import Email, Invoice, OnboardingInput, OnboardingOutput, Order, User
from pikku import ScheduleView, WorkflowHandle, WorkflowRun, list_schedules, trigger_schedule, wire_schedule
from pikku._engine.context import WorkflowContext


async def start_and_wait() -> OnboardingOutput:
    handle = await workflows.onboarding.start(OnboardingInput(email="a@b.c"))
    run: WorkflowRun[OnboardingOutput] = await workflows.onboarding.get_run(handle.run_id)
    assert run.status in ("running", "completed", "failed", "cancelled")
    return await handle.result(timeout=30)


def start_from_sync_code() -> str:
    return workflows.onboarding.start_sync(OnboardingInput(email="a@b.c")).run_id


async def a_workflow(services: Services, data: OnboardingInput) -> str:
    user: User = await services.workflow.do("create", "users.create", {"email": data.email})
    receipt = await services.workflow.do("mail", "email.send", Email(to=user.email, subject="hi"))
    rate: float = await services.workflow.do("rate", lambda: 0.2)
    await services.workflow.sleep("1s", description="wait")
    return f"{receipt.message_id}{rate}"


async def a_patched_workflow(services: Services, data: OnboardingInput) -> str:
    workflow = services.workflow
    workflow.deprecate_patch("welcome-v1")
    if workflow.patched("fraud-check"):
        await workflow.do("fraud", lambda: None)
    taken: bool = workflow.patched("audit")
    return f"{data.email}{taken}"


async def a_parent_workflow(services: Services, data: Order) -> str:
    invoice: Invoice = await services.workflow.call_workflow("bill", "invoice", data, description="Bill it")
    welcome: WorkflowHandle[OnboardingOutput] = await services.workflow.start_workflow(
        "welcome", "onboarding", {"email": data.customer_email}
    )
    paid = await services.workflow.do(
        "pay", "payments.charge", {"order_id": "o", "amount": 1.0}, on_error="users.create"
    )
    return f"{invoice.total}{welcome.run_id}{paid.payment_id}"


def the_runtime_context_is_a_workflow(context: WorkflowContext) -> Workflow:
    # The generated protocol promises nothing the engine's services.workflow lacks.
    return context


wire_schedule(
    name="typed-nightly",
    cron="0 3 * * *",
    workflow="onboarding",
    input={"email": "a@b.c"},
    catchup="all",
    overlap="allow",
)


async def operate_schedules() -> str:
    views: list[ScheduleView] = await list_schedules()
    next_tick: float = views[0].next_tick
    return await trigger_schedule("typed-nightly") + str(next_tick)
