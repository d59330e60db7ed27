"""Typed use of events the type checker must accept: the generated send_event per (event, payload model),
and wait_for_event returning the model (or None)."""

from __future__ import annotations

from approvals.models import Approval, Documents
from approvals_gen.workflow.map import workflows
from approvals_gen.workflow.types import Services


async def send_each_event(run_id: str) -> None:
    sent: bool = await workflows.onboarding.send_event(run_id, "approval", Approval(approved=True, reviewer="ada"))
    await workflows.onboarding.send_event(run_id, "documents", Documents(pages=2), event_id="mail-7")
    await workflows.feedback.send_event(run_id, "note", {"text": "thanks"})
    assert sent


async def wait_typed(services: Services) -> str:
    decision = await services.workflow.wait_for_event("approval", Approval, timeout="3d")
    await services.workflow.suspend("hold")
    return "expired" if decision is None else decision.reviewer
