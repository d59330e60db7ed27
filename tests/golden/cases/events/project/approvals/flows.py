from __future__ import annotations

from typing import TYPE_CHECKING

from pikku import pikku_func, wire_workflow

from . import models
from .models import Applicant, Approval

if TYPE_CHECKING:
    from approvals_gen.workflow.types import Services


@pikku_func
async def onboarding(services: Services, data: Applicant) -> str:
    workflow = services.workflow
    await workflow.suspend(f"Hold onboarding for {data.email}")
    decision = await workflow.wait_for_event("approval", Approval, timeout="3d", description="Manager approval")
    docs = await workflow.wait_for_event("documents", models.Documents, name="docs")
    again = await workflow.wait_for_event("approval", Approval)
    if decision is None or docs is None or again is None:
        return "expired"
    return decision.reviewer


@pikku_func
async def feedback(services: Services, data: None) -> str | None:
    note = await services.workflow.wait_for_event("note", models.Note, timeout=3600)
    return None if note is None else note["text"]


wire_workflow(name="onboarding", func=onboarding)
wire_workflow(name="feedback", func=feedback)
