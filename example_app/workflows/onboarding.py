"""User onboarding: runs remotely, each RPC step on its own queue worker."""

from __future__ import annotations

from typing import TYPE_CHECKING

from example_app.models import OnboardingInput, OnboardingOutput
from pikku import pikku_func, wire_workflow

if TYPE_CHECKING:
    from pikku_gen.workflow.types import Services


@pikku_func
async def onboarding(services: Services, data: OnboardingInput) -> OnboardingOutput:
    """Create the account, work out the tax rate, send a welcome email, wait for delivery."""
    workflow = services.workflow
    user = await workflow.do(
        "createUser", "users.create", {"email": data.email}, description="Create user account"
    )
    tax_rate = await workflow.do(
        "calculateTaxRate", lambda: 0.2 if user.region == "EU" else 0.08, description="Calculate tax rate"
    )
    await workflow.do(
        "sendEmail", "email.send", {"to": user.email, "subject": "Welcome!"}, description="Send welcome email"
    )
    await workflow.sleep("5s", description="Wait for email delivery")
    return OnboardingOutput(user_id=user.id, tax_rate=tax_rate)


wire_workflow(
    name="onboarding",
    description="User onboarding workflow",
    execution_mode="remote",
    func=onboarding,
)
