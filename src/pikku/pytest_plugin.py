"""pikku's pytest plugin (registered through the ``pytest11`` entry point): the ``pikku_env`` fixture, a
:class:`pikku.testing.WorkflowEnvironment` with time skipping for one test.

    async def test_onboarding(pikku_env):
        handle = await workflows.onboarding.start(OnboardingInput(email="a@b.c"))
        assert (await pikku_env.result(handle)).user_id

Needs pytest-asyncio (or another plugin that runs async tests and fixtures); without it the fixture is
not defined and pytest says so at the test that asks for it.
"""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator

from pikku.testing import WorkflowEnvironment

# Loaded by every pytest run in a project that installed pikku: never fail without pytest-asyncio.
if importlib.util.find_spec("pytest_asyncio") is not None:
    import pytest_asyncio

    @pytest_asyncio.fixture
    async def pikku_env() -> AsyncIterator[WorkflowEnvironment]:
        """A WorkflowEnvironment with time skipping, the app's services, and a worker in the test's loop."""
        async with WorkflowEnvironment(time_skipping=True) as env:
            yield env
