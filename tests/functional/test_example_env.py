"""The README's example: the example app's onboarding workflow, 5-second sleep and all, tested through the
generated client in a time-skipping environment (the `pikku_env` fixture from pikku's pytest plugin)."""

from __future__ import annotations

import time

from pikku_gen.workflow.map import workflows

from example_app.models import OnboardingInput
from pikku.testing import WorkflowEnvironment


class FakeMailer:
    """Keeps what would have been sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, to: str, subject: str, idempotency_key: str) -> str:
        self.sent.append((to, subject))
        return f"fake-{len(self.sent)}"


async def test_onboarding(pikku_env: WorkflowEnvironment) -> None:
    """The run completes with its output, and the welcome mail went to the fake mailer."""
    mailer = FakeMailer()
    pikku_env.override_services(mailer=mailer)
    started = time.perf_counter()
    handle = await workflows.onboarding.start(OnboardingInput(email="ada@example.eu"))
    output = await pikku_env.result(handle)
    print(f"onboarding with its 5 s sleep took {1000 * (time.perf_counter() - started):.1f} ms")
    assert output.tax_rate == 0.2 and output.user_id
    assert mailer.sent == [("ada@example.eu", "Welcome!")]
