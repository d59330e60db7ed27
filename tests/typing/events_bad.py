"""Misuse of events the type checker must reject (each line marked with the error mypy must report on it)."""

from __future__ import annotations

from approvals.models import Approval, Documents
from approvals_gen.workflow.map import workflows
from approvals_gen.workflow.types import Services


async def wrong_event_name(run_id: str) -> None:
    await workflows.onboarding.send_event(run_id, "aproval", Approval(approved=True, reviewer="a"))  # E: call-overload


async def wrong_payload(run_id: str) -> None:
    await workflows.onboarding.send_event(run_id, "approval", Documents(pages=1))  # E: call-overload


async def wrong_event_name_of_a_one_event_workflow(run_id: str) -> None:
    await workflows.feedback.send_event(run_id, "notes", {"text": "x"})  # E: arg-type


async def wrong_payload_of_a_one_event_workflow(run_id: str) -> None:
    await workflows.feedback.send_event(run_id, "note", Approval(approved=True, reviewer="a"))  # E: arg-type


async def payload_may_be_none(services: Services) -> str:
    decision = await services.workflow.wait_for_event("approval", Approval)
    return decision.reviewer  # E: union-attr
