"""The JSON API over httpx's ASGI transport, on SQLite and PostgreSQL: starting runs (typed bodies,
idempotency keys, waiting), listing and reading them, and acting on them (cancel, resume, fork, events)."""

from __future__ import annotations

import asyncio

import httpx
from http_support import background_worker

import pikku
from pikku._runtime import Runtime
from pikku.testing import settle

START = "/pikku/workflows/{}/runs"


async def _start(client: httpx.AsyncClient, workflow: str, body: object = None, key: str | None = None) -> str:
    headers = {"Idempotency-Key": key} if key else {}
    response = await client.post(START.format(workflow), json=body, headers=headers)
    assert response.status_code == 201, response.text
    run_id: str = response.json()["run_id"]
    return run_id


async def test_a_start_creates_a_run_and_the_same_key_finds_it(client: httpx.AsyncClient, rt: Runtime) -> None:
    """201 with the run's id and status; a second start with the same Idempotency-Key is 200 for that run
    and creates nothing (its input is ignored)."""
    first = await client.post(START.format("http-add"), json={"a": 1, "b": 2}, headers={"Idempotency-Key": "k-1"})
    again = await client.post(START.format("http-add"), json={"a": 5, "b": 5}, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 201
    assert first.json() | {"created": True} == {
        "run_id": "k-1",
        "status": "running",
        "created": True,
        "output": None,
        "error": None,
    }
    assert again.status_code == 200
    assert again.json()["run_id"] == "k-1"
    assert again.json()["created"] is False
    page = await pikku.list_runs(workflow="http-add")
    assert [r.run_id for r in page.runs] == ["k-1"]
    await settle(rt, ["k-1"])
    assert (await client.get("/pikku/runs/k-1")).json()["run"]["output"] == {"total": 6}


async def test_a_body_that_does_not_match_the_input_model_is_422_with_pydantic_errors(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    """The input model validates the body: 422 PIKKU_INVALID_INPUT whose detail lists each field error."""
    response = await client.post(START.format("http-add"), json={"a": "one"})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "PIKKU_INVALID_INPUT"
    locations = {tuple(e["loc"]) for e in body["detail"]}
    assert locations == {("body", "a"), ("body", "b")}
    assert (await pikku.list_runs()).runs == []


async def test_invalid_json_and_a_reserved_key_are_422(client: httpx.AsyncClient, rt: Runtime) -> None:
    """A body that is not JSON, and an Idempotency-Key pikku cannot use as a run id ('/' names child runs)."""
    broken = await client.post(
        START.format("http-add"), content=b'{"a": 1,', headers={"Content-Type": "application/json"}
    )
    assert (broken.status_code, broken.json()["code"]) == (422, "PIKKU_INVALID_INPUT")
    reserved = await client.post(START.format("http-add"), json={"a": 1, "b": 2}, headers={"Idempotency-Key": "a/b"})
    assert (reserved.status_code, reserved.json()["code"]) == (422, "PIKKU_INVALID_INPUT")


async def test_an_unknown_workflow_is_404_listing_the_known_ones(client: httpx.AsyncClient, rt: Runtime) -> None:
    """404 PIKKU_WORKFLOW_NOT_FOUND, with the names that do exist in ``detail.known``."""
    response = await client.post(START.format("no-such-flow"), json={})
    assert response.status_code == 404
    body = response.json()
    assert body["code"] == "PIKKU_WORKFLOW_NOT_FOUND"
    assert {"http-add", "onboarding", "invoice"} <= set(body["detail"]["known"])


async def test_an_id_of_another_workflows_run_is_409(client: httpx.AsyncClient, rt: Runtime) -> None:
    """An Idempotency-Key naming a run of another workflow: 409 PIKKU_RUN_ID_IN_USE."""
    await _start(client, "http-add", {"a": 1, "b": 1}, key="shared-id")
    response = await client.post(START.format("http-sleepy"), headers={"Idempotency-Key": "shared-id"})
    assert (response.status_code, response.json()["code"]) == (409, "PIKKU_RUN_ID_IN_USE")


async def test_wait_returns_the_output_once_the_run_settles(client: httpx.AsyncClient, rt: Runtime) -> None:
    """``?wait=`` holds the answer until the run completes (a worker runs it meanwhile): status and output."""
    async with background_worker(rt):
        response = await client.post(START.format("http-add") + "?wait=20", json={"a": 2, "b": 3})
    assert response.status_code == 201
    assert response.json()["status"] == "completed"
    assert response.json()["output"] == {"total": 10}


async def test_wait_gives_up_with_the_status_it_has(client: httpx.AsyncClient, rt: Runtime) -> None:
    """Without a worker the run stays running: ``?wait=0.2`` answers with ``running`` after the wait."""
    response = await client.post(START.format("http-add") + "?wait=0.2", json={"a": 2, "b": 3})
    assert (response.status_code, response.json()["status"]) == (201, "running")
    too_long = await client.post(START.format("http-add") + "?wait=100000", json={"a": 2, "b": 3})
    assert too_long.status_code == 422


async def test_an_inline_workflow_answers_when_its_run_is_driven(client: httpx.AsyncClient, rt: Runtime) -> None:
    """An inline workflow's run is driven by the request that starts it (as ``pikku start`` does)."""
    response = await client.post(START.format("http-inline-add"), json={"a": 1, "b": 1})
    assert response.status_code == 201
    assert (response.json()["status"], response.json()["output"]) == ("completed", {"total": 4})


async def test_list_runs_filters_and_pages(client: httpx.AsyncClient, rt: Runtime) -> None:
    """``GET /runs`` filters by workflow and status and pages with the cursor it returns."""
    ids = [await _start(client, "http-add", {"a": i, "b": 0}) for i in range(3)]
    failed = await _start(client, "http-fail")
    await settle(rt, [*ids, failed])
    first = (await client.get("/pikku/runs", params={"limit": 2})).json()
    second = (await client.get("/pikku/runs", params={"limit": 2, "cursor": first["cursor"]})).json()
    listed = [r["run_id"] for r in first["runs"] + second["runs"]]
    assert sorted(listed) == sorted([*ids, failed]) and second["cursor"] is None
    only_failed = (await client.get("/pikku/runs", params={"status": "failed"})).json()["runs"]
    assert [(r["run_id"], r["status"]) for r in only_failed] == [(failed, "failed")]
    only_add = (await client.get("/pikku/runs", params={"workflow": "http-add"})).json()["runs"]
    assert sorted(r["run_id"] for r in only_add) == sorted(ids)


async def test_list_runs_refuses_a_bad_status_or_cursor_with_422(client: httpx.AsyncClient, rt: Runtime) -> None:
    """An unknown status names the valid ones; a cursor that names no run is the caller's mistake (422)."""
    status = await client.get("/pikku/runs", params={"status": "exploded"})
    assert status.status_code == 422 and "running" in status.json()["detail"]["hint"]
    cursor = await client.get("/pikku/runs", params={"cursor": "no-such-run"})
    assert (cursor.status_code, cursor.json()["code"]) == (422, "PIKKU_INVALID_INPUT")


async def test_get_run_shows_steps_attempts_errors_and_a_version(client: httpx.AsyncClient, rt: Runtime) -> None:
    """A failed run: every step in order with its attempts, the failing step's error with its traceback
    text, and an integer version."""
    run_id = await _start(client, "http-fail")
    await settle(rt, [run_id])
    body = (await client.get(f"/pikku/runs/{run_id}")).json()
    assert body["run"]["status"] == "failed"
    assert [(s["name"], s["status"]) for s in body["steps"]] == [("prepare", "done"), ("charge", "failed")]
    charge = body["steps"][1]
    assert charge["error"]["message"] == "boom: the card was declined"
    assert "ValueError" in charge["error"]["stack"]
    assert len(charge["attempts"]) == 1 and charge["attempts"][0]["error"]["type"] == "ValueError"
    assert isinstance(body["version"], int) and body["version"] >= int(body["run"]["updated_at"] * 1_000_000) - 1


async def test_an_unknown_run_is_404_on_every_run_route(client: httpx.AsyncClient, rt: Runtime) -> None:
    """Read, stream, cancel, resume, fork and events all answer 404 PIKKU_RUN_NOT_FOUND for an unknown id."""
    calls = [
        client.get("/pikku/runs/nope"),
        client.get("/pikku/runs/nope/stream"),
        client.post("/pikku/runs/nope/cancel"),
        client.post("/pikku/runs/nope/resume"),
        client.post("/pikku/runs/nope/fork", json={"from_step": "x"}),
        client.post("/pikku/runs/nope/events/approval", json={}),
    ]
    for response in await asyncio.gather(*calls):
        assert (response.status_code, response.json()["code"]) == (404, "PIKKU_RUN_NOT_FOUND")


async def test_cancel_a_running_run_then_409_once_settled(client: httpx.AsyncClient, rt: Runtime) -> None:
    """Cancel answers the new status; cancelling again is 409 PIKKU_RUN_STATE_CONFLICT naming the status."""
    run_id = await _start(client, "http-sleepy")
    first = await client.post(f"/pikku/runs/{run_id}/cancel", json={"reason": "not needed"})
    assert (first.status_code, first.json()) == (200, {"run_id": run_id, "status": "cancelled"})
    again = await client.post(f"/pikku/runs/{run_id}/cancel")
    assert again.status_code == 409
    assert again.json()["code"] == "PIKKU_RUN_STATE_CONFLICT" and "cancelled" in again.json()["message"]


async def test_resume_a_failed_run_and_409_for_running_or_completed(client: httpx.AsyncClient, rt: Runtime) -> None:
    """A failed run resumes (running again); resuming it while running, or a completed run, is 409."""
    failed = await _start(client, "http-fail")
    done = await _start(client, "http-add", {"a": 1, "b": 1})
    await settle(rt, [failed, done])
    resumed = await client.post(f"/pikku/runs/{failed}/resume")
    assert (resumed.status_code, resumed.json()["status"]) == (200, "running")
    running = await client.post(f"/pikku/runs/{failed}/resume")
    assert (running.status_code, running.json()["code"]) == (409, "PIKKU_RUN_STATE_CONFLICT")
    completed = await client.post(f"/pikku/runs/{done}/resume")
    assert (completed.status_code, completed.json()["code"]) == (409, "PIKKU_RUN_STATE_CONFLICT")


async def test_fork_makes_a_new_run_and_an_unknown_step_is_422(client: httpx.AsyncClient, rt: Runtime) -> None:
    """201 with the new run's id; a step the run does not have is 422 listing the run's steps."""
    run_id = await _start(client, "http-add", {"a": 1, "b": 2})
    await settle(rt, [run_id])
    forked = await client.post(f"/pikku/runs/{run_id}/fork", json={"from_step": "double"})
    assert forked.status_code == 201
    new_id = forked.json()["run_id"]
    assert forked.json()["forked_from"] == run_id and new_id != run_id
    await settle(rt, [new_id])
    assert (await client.get(f"/pikku/runs/{new_id}")).json()["run"]["output"] == {"total": 6}
    unknown = await client.post(f"/pikku/runs/{run_id}/fork", json={"from_step": "nope"})
    assert (unknown.status_code, unknown.json()["code"]) == (422, "PIKKU_INVALID_INPUT")
    missing = await client.post(f"/pikku/runs/{run_id}/fork", json={})
    assert missing.status_code == 422


async def test_events_are_accepted_refused_when_bad_and_409_once_settled(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    """202 for an event to a waiting run, which then completes with its payload; 422 with pydantic's errors
    for a payload the model refuses and for an event the workflow never waits for (nothing stored); the
    Idempotency-Key stores one event; 409 once the run has settled."""
    run_id = await _start(client, "http-approval")
    async with background_worker(rt):
        for _ in range(500):
            if (await pikku.get_run(run_id)).status == "waiting":
                break
            await asyncio.sleep(0.02)
        bad = await client.post(f"/pikku/runs/{run_id}/events/approval", json={"ok": "maybe"})
        assert (bad.status_code, bad.json()["code"]) == (422, "PIKKU_INVALID_EVENT_PAYLOAD")
        assert bad.json()["detail"]["errors"][0]["loc"] == ["ok"]
        unknown = await client.post(f"/pikku/runs/{run_id}/events/refund", json={})
        assert (unknown.status_code, unknown.json()["code"]) == (422, "PIKKU_UNKNOWN_EVENT")
        assert (await rt.engine.state.get_events(run_id)) == []
        headers = {"Idempotency-Key": "mail-1"}
        for _ in range(2):
            accepted = await client.post(f"/pikku/runs/{run_id}/events/approval", json={"ok": True}, headers=headers)
            assert accepted.status_code == 202
        await settle(rt, [run_id])
    assert len(await rt.engine.state.get_events(run_id)) == 1
    body = (await client.get(f"/pikku/runs/{run_id}")).json()
    assert (body["run"]["status"], body["run"]["output"]) == ("completed", {"ok": True})
    late = await client.post(f"/pikku/runs/{run_id}/events/approval", json={"ok": False})
    assert (late.status_code, late.json()["code"]) == (409, "PIKKU_RUN_SETTLED")


async def test_workflows_lists_each_workflow_with_its_steps(client: httpx.AsyncClient, rt: Runtime) -> None:
    """``GET /workflows`` names every workflow; the example's steps come from the generated metadata."""
    listed = {w["name"]: w for w in (await client.get("/pikku/workflows")).json()}
    assert listed["onboarding"]["steps"] == ["createUser", "calculateTaxRate", "sendEmail", "sleep:5s"]
    assert listed["invoice"]["execution_mode"] == "inline"
    assert listed["http-add"]["description"] == "Add two numbers and double the sum"
