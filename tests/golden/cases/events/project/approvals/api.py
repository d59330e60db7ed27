from approvals_gen.workflow.map import workflows

from .models import Approval


async def approve(run_id: str) -> None:
    await workflows.onboarding.send_event(run_id, "approval", Approval(approved=True, reviewer="ada"))
