"""Browser tests: Playwright for Python driving Debian's ``chromium`` (never a browser Playwright
downloads). Without Chromium (or Playwright) they skip with the reason, except under CI=true, where
.ci/run installs Chromium and a missing one is a failure.

Each test gets a runtime on SQLite, the app on uvicorn on a localhost port (in the test's event loop, so
the server and the test share the runtime), and a fresh headless page.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "http"))  # the API tests' shared helpers

from http_support import make_app, runtime_on, uvicorn_on_localhost

from pikku._runtime import Runtime

SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must have it (.ci/run installs chromium with apt-get)")
    pytest.skip(reason)


def chromium_path() -> str:
    """The system Chromium: $PIKKU_CHROMIUM, else Debian's package, else one on PATH."""
    for candidate in (os.environ.get("PIKKU_CHROMIUM"), *CANDIDATES, shutil.which("chromium")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    _unavailable("no Chromium found (apt-get install chromium, or set PIKKU_CHROMIUM)")
    raise AssertionError("unreachable")


@pytest.fixture
async def rt(tmp_path: Path) -> AsyncIterator[Runtime]:
    """A runtime on SQLite in the test's folder."""
    async with runtime_on(f"sqlite:///{tmp_path / 'browser.sqlite3'}") as runtime:
        yield runtime


@pytest.fixture
async def base(rt: Runtime) -> AsyncIterator[str]:
    """The app (router under /pikku, streams polling every 0.1 s) on uvicorn: the console's URL."""
    async with uvicorn_on_localhost(make_app(stream_interval=0.1)) as url:
        yield f"{url}/pikku/ui/"


@pytest.fixture
async def page(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """A headless Chromium page; after the test, its screenshot in tests/browser/screenshots/."""
    executable = chromium_path()
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        _unavailable("playwright is not installed (it is in the dev extra)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, headless=True)
        try:
            context = await browser.new_context(viewport={"width": 1200, "height": 900})
            tab = await context.new_page()
            tab.set_default_timeout(15_000)
            errors: list[str] = []
            tab.on("pageerror", lambda exc: errors.append(str(exc)))
            yield tab
            SCREENSHOTS.mkdir(exist_ok=True)
            await tab.screenshot(path=str(SCREENSHOTS / f"{request.node.name}.png"), full_page=True)
            assert errors == [], f"the page's script failed: {errors}"
        finally:
            await browser.close()
