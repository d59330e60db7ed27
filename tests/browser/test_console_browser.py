"""The console in a real browser (headless Chromium): what an operator sees and does. Each scenario
leaves a screenshot in tests/browser/screenshots/."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from http_support import GATES, background_worker
from playwright.async_api import expect

from pikku._runtime import Runtime
from pikku.testing import settle


@pytest.fixture(autouse=True)
def _gates() -> None:
    GATES.clear()


async def _statuses(page: Any, selector: str, attribute: str) -> list[str]:
    values: list[str] = await page.locator(selector).evaluate_all(f"els => els.map(e => e.getAttribute('{attribute}'))")
    return values


async def _mark_page(page: Any) -> None:
    """Leave a mark in the page's JavaScript state: a reload or navigation would wipe it."""
    await page.evaluate("window.__pikkuMark = 'still here'")


async def _mark_kept(page: Any) -> bool:
    kept: bool = await page.evaluate("window.__pikkuMark === 'still here'")
    return kept


async def test_a_completed_run_shows_every_step_done(page: Any, base: str, rt: Runtime) -> None:
    """The run page of a completed run: the run completed, each step done on the timeline and in the list,
    and the output shown."""
    run_id = await rt.engine.start("http-add", {"a": 20, "b": 1})
    await settle(rt, [run_id])
    await page.goto(f"{base}runs/{run_id}")
    await expect(page.locator("#run-head")).to_have_attribute("data-run-status", "completed")
    assert await _statuses(page, "article.step", "data-step-status") == ["done", "done"]
    assert await _statuses(page, ".lane", "data-step-status") == ["done", "done"]
    await expect(page.locator("#run-head .output pre")).to_contain_text('"total": 42')
    assert await page.locator(".lane .bar").count() == 2


async def test_a_failed_run_shows_the_failing_step_with_its_error(page: Any, base: str, rt: Runtime) -> None:
    """The failing step is marked failed with its error message, and its traceback opens on a click."""
    run_id = await rt.engine.start("http-fail", None)
    await settle(rt, [run_id])
    await page.goto(f"{base}runs/{run_id}")
    await expect(page.locator("#run-head")).to_have_attribute("data-run-status", "failed")
    failing = page.locator('article.step[data-step="charge"]')
    await expect(failing).to_have_attribute("data-step-status", "failed")
    await expect(failing.locator(".error-message")).to_have_text("boom: the card was declined")
    await failing.locator(".step-error summary").click()
    await expect(failing.locator(".step-error pre")).to_contain_text("ValueError")
    await expect(page.locator('article.step[data-step="prepare"]')).to_have_attribute("data-step-status", "done")
    await expect(page.locator(".lane[data-step='charge'] .bar")).to_have_attribute("data-bar-status", "failed")


async def test_cancel_from_the_run_page(page: Any, base: str, rt: Runtime) -> None:
    """Clicking "Cancel run" cancels the run; the page shows it cancelled without a reload, and the
    button is disabled then."""
    run_id = await rt.engine.start("http-sleepy", None)
    await page.goto(f"{base}runs/{run_id}")
    await expect(page.locator("#run-head")).to_have_attribute("data-run-status", "running")
    await _mark_page(page)
    await page.locator("#cancel-run").click()
    await expect(page.locator("#run-head")).to_have_attribute("data-run-status", "cancelled")
    await expect(page.locator("#notice")).to_have_text("Run cancelled.")
    await expect(page.locator("#cancel-run")).to_be_disabled()
    assert await _mark_kept(page)
    assert (await rt.engine.state.get_run(run_id)).status == "cancelled"


async def test_the_list_filtered_to_failed_runs(page: Any, base: str, rt: Runtime) -> None:
    """Choosing status "failed" and filtering lists the failed run only."""
    done = await rt.engine.start("http-add", {"a": 1, "b": 1})
    failed = await rt.engine.start("http-fail", None)
    await settle(rt, [done, failed])
    await page.goto(base)
    await expect(page.locator("tr.run-row")).to_have_count(2)
    await page.select_option("#filter-status", "failed")
    await page.get_by_role("button", name="Filter").click()
    await expect(page).to_have_url(f"{base}?workflow=&status=failed")
    await expect(page.locator("tr.run-row")).to_have_count(1)
    row = page.locator("tr.run-row")
    await expect(row).to_have_attribute("data-run-status", "failed")
    await expect(row).to_have_attribute("data-run-id", failed)


async def test_the_run_page_follows_a_run_live(page: Any, base: str, rt: Runtime) -> None:
    """A page open on a running run shows its steps and its completion as they happen (SSE), no reload."""
    run_id = await rt.engine.start("http-gated", "live")
    await page.goto(f"{base}runs/{run_id}")
    await expect(page.locator("body")).to_have_attribute("data-live", "on")
    await _mark_page(page)
    async with background_worker(rt):
        await expect(page.locator('article.step[data-step="wait-gate"]')).to_have_attribute(
            "data-step-status", "running"
        )
        GATES.setdefault("live", asyncio.Event()).set()
        await expect(page.locator("#run-head")).to_have_attribute("data-run-status", "completed")
    assert await _statuses(page, "article.step", "data-step-status") == ["done", "done"]
    assert await _mark_kept(page)
    await expect(page.locator("body")).to_have_attribute("data-live", "off")


async def test_the_list_shows_a_new_run_live(page: Any, base: str, rt: Runtime) -> None:
    """The run list gets a run started after it was opened, without a reload."""
    await page.goto(base)
    await expect(page.locator("tr.run-row")).to_have_count(0)
    await _mark_page(page)
    run_id = await rt.engine.start("http-sleepy", None)
    await expect(page.locator(f'tr.run-row[data-run-id="{run_id}"]')).to_have_attribute("data-run-status", "running")
    assert await _mark_kept(page)


async def test_sending_an_event_completes_a_waiting_run_live(page: Any, base: str, rt: Runtime) -> None:
    """A run waiting for "approval": "Send event" with a payload completes it, and the page shows the run
    completed without a reload."""
    run_id = await rt.engine.start("http-approval", None)
    async with background_worker(rt):
        await page.goto(f"{base}runs/{run_id}")
        await expect(page.locator("#run-head")).to_have_attribute("data-run-status", "waiting")
        await page.goto(f"{base}runs/{run_id}")  # the form names the event the run waits for
        await expect(page.locator("#event-name")).to_have_value("approval")
        await _mark_page(page)
        await page.fill("#event-payload", '{"ok": true}')
        await page.locator("#send-event").click()
        await expect(page.locator("#notice")).to_have_text("Event sent.")
        await expect(page.locator("#run-head")).to_have_attribute("data-run-status", "completed")
    await expect(page.locator("#run-head .output pre")).to_contain_text('"ok": true')
    assert await _mark_kept(page)
