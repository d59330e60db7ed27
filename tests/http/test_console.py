"""The console's pages and forms over the ASGI transport (the browser tests drive the same pages in
Chromium): status attributes, filters, the CSRF token, error pages, security headers."""

from __future__ import annotations

import re

import httpx
import pytest
from http_support import gated_wf  # noqa: F401  (registers the test workflows)

import pikku
from pikku._records import RUN_STATUSES
from pikku._runtime import Runtime
from pikku.testing import settle

UI = "/pikku/ui/"


def _token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF token"
    return found.group(1)


async def _run(rt: Runtime, workflow: str, data: object = None, *, settled: bool = True) -> str:
    run_id = await rt.engine.start(workflow, data)
    if settled:
        await settle(rt, [run_id])
    return run_id


async def test_the_list_shows_runs_with_status_attributes_and_filters(client: httpx.AsyncClient, rt: Runtime) -> None:
    """Each row carries ``data-run-status``; the status filter offers every status pikku has and filters."""
    done = await _run(rt, "http-add", {"a": 1, "b": 1})
    failed = await _run(rt, "http-fail")
    page = await client.get(UI)
    assert page.status_code == 200
    assert f'data-run-id="{done}" data-run-status="completed"' in page.text
    assert f'data-run-id="{failed}" data-run-status="failed"' in page.text
    for status in RUN_STATUSES:
        assert f'<option value="{status}"' in page.text
    only_failed = await client.get(UI, params={"status": "failed"})
    assert re.findall(r'data-run-status="(\w+)"', only_failed.text) == ["failed"]


async def test_the_run_page_shows_each_step_with_its_status_and_error(client: httpx.AsyncClient, rt: Runtime) -> None:
    """``data-run-status`` on the run, ``data-step-status`` per step (in the timeline and the step list),
    the failing step's error message and its traceback text."""
    run_id = await _run(rt, "http-fail")
    page = await client.get(f"{UI}runs/{run_id}")
    assert page.status_code == 200
    assert 'id="run-head" data-run-id="' in page.text and 'data-run-status="failed"' in page.text
    steps = re.findall(r'<article class="step" data-step="([^"]+)" data-step-status="(\w+)"', page.text)
    assert steps == [("prepare", "done"), ("charge", "failed")]
    lanes = re.findall(r'<div class="lane" data-step="([^"]+)" data-step-status="(\w+)"', page.text)
    assert lanes == steps
    assert "boom: the card was declined" in page.text
    assert "Traceback" in page.text and "ValueError" in page.text


async def test_a_new_run_status_gets_a_badge_and_a_filter_by_itself(
    client: httpx.AsyncClient, rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Statuses come from RUN_STATUSES: one added later is offered as a filter and coloured, unchanged code."""
    from pikku.http import _console, _timeline

    monkeypatch.setattr(_console, "RUN_STATUSES", (*RUN_STATUSES, "hibernating"))
    page = await client.get(UI)
    assert '<option value="hibernating"' in page.text
    assert _timeline.colour("hibernating").startswith("hsl(")
    assert _timeline.colour("hibernating") == _timeline.colour("hibernating")


async def test_a_form_without_the_csrf_token_is_refused(client: httpx.AsyncClient, rt: Runtime) -> None:
    """Posting the cancel form without the page's token (or with another one) is 403 and cancels nothing."""
    run_id = await _run(rt, "http-sleepy", settled=False)
    await client.get(f"{UI}runs/{run_id}")  # sets the console's cookie
    missing = await client.post(f"{UI}runs/{run_id}/cancel", data={})
    forged = await client.post(f"{UI}runs/{run_id}/cancel", data={"csrf_token": "x" * 43})
    for response in (missing, forged):
        assert response.status_code == 403
        assert 'data-error-code="PIKKU_HTTP_CSRF"' in response.text
    assert (await pikku.list_runs(status="cancelled")).runs == []


async def test_the_cancel_form_with_its_token_cancels_and_redirects(client: httpx.AsyncClient, rt: Runtime) -> None:
    """The form as the page renders it: 303 back to the run page, which then shows the run cancelled."""
    run_id = await _run(rt, "http-sleepy", settled=False)
    page = await client.get(f"{UI}runs/{run_id}")
    response = await client.post(f"{UI}runs/{run_id}/cancel", data={"csrf_token": _token(page.text)})
    assert response.status_code == 303
    assert response.headers["location"] == f"{UI}runs/{run_id}?notice=cancelled"
    after = await client.get(response.headers["location"])
    assert 'data-run-status="cancelled"' in after.text and "Run cancelled." in after.text


async def test_a_valid_token_from_another_site_is_still_refused(client: httpx.AsyncClient, rt: Runtime) -> None:
    """The same-origin check applies to console forms too (defence in depth next to the token)."""
    run_id = await _run(rt, "http-sleepy", settled=False)
    page = await client.get(f"{UI}runs/{run_id}")
    response = await client.post(
        f"{UI}runs/{run_id}/cancel", data={"csrf_token": _token(page.text)}, headers={"Origin": "http://evil.example"}
    )
    assert response.status_code == 403 and 'data-error-code="PIKKU_HTTP_CROSS_ORIGIN"' in response.text
    assert (await pikku.list_runs(status="running")).runs


async def test_fork_and_resume_forms(client: httpx.AsyncClient, rt: Runtime) -> None:
    """Fork from a step redirects to the new run's page; resume of a failed run redirects back to it."""
    run_id = await _run(rt, "http-fail")
    token = _token((await client.get(f"{UI}runs/{run_id}")).text)
    forked = await client.post(f"{UI}runs/{run_id}/fork", data={"csrf_token": token, "from_step": "charge"})
    assert forked.status_code == 303
    new_id = forked.headers["location"].split("/runs/")[1].split("?")[0]
    assert new_id != run_id and (await pikku.get_steps(new_id))[0].name == "prepare"
    resumed = await client.post(f"{UI}runs/{run_id}/resume", data={"csrf_token": token})
    assert resumed.status_code == 303
    assert (await client.get(f"/pikku/runs/{run_id}")).json()["run"]["status"] == "running"


async def test_errors_are_pages_with_the_tables_status(client: httpx.AsyncClient, rt: Runtime) -> None:
    """An unknown run is a 404 page naming the code; resuming a running run is a 409 page."""
    missing = await client.get(f"{UI}runs/no-such-run")
    assert missing.status_code == 404 and 'data-error-code="PIKKU_RUN_NOT_FOUND"' in missing.text
    run_id = await _run(rt, "http-sleepy", settled=False)
    token = _token((await client.get(f"{UI}runs/{run_id}")).text)
    conflict = await client.post(f"{UI}runs/{run_id}/resume", data={"csrf_token": token})
    assert conflict.status_code == 409 and "PIKKU_RUN_STATE_CONFLICT" in conflict.text


async def test_pages_are_escaped_and_carry_security_headers(client: httpx.AsyncClient, rt: Runtime) -> None:
    """A run id with markup is shown as text; pages may not be framed and run only the console's script;
    the CSRF cookie is HttpOnly and SameSite=Strict."""
    run_id = await rt.engine.start("http-sleepy", None, run_id="<script>alert(1)</script>")
    page = await client.get(f"{UI}runs/{run_id}")
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/pikku/ui/" in cookie


async def test_the_fragment_is_the_live_region_only(client: httpx.AsyncClient, rt: Runtime) -> None:
    """``?fragment=1`` renders what the script swaps in: the run's region, without the page around it."""
    run_id = await _run(rt, "http-add", {"a": 1, "b": 2})
    fragment = await client.get(f"{UI}runs/{run_id}", params={"fragment": "1"})
    assert fragment.text.lstrip().startswith('<section class="run" id="run-head"')
    assert "<html" not in fragment.text
    listing = await client.get(UI, params={"fragment": "1"})
    assert listing.text.lstrip().startswith('<table class="runs"')


async def test_static_files_are_served_and_others_are_not(client: httpx.AsyncClient, rt: Runtime) -> None:
    """The console's script and stylesheet, and nothing else from the package."""
    script = await client.get(f"{UI}static/console.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert (await client.get(f"{UI}static/console.css")).status_code == 200
    assert (await client.get(f"{UI}static/..%2F_console.py")).status_code in (404, 422)
    assert (await client.get(f"{UI}static/_console.py")).status_code == 422
