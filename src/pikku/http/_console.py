"""The web console at ``/ui/``: find runs and see why one failed. Server-rendered with Jinja; a little
plain JavaScript (static/console.js) swaps in fresh HTML when the SSE stream reports a change. Without
JavaScript every page still reads, and every form still posts.

Forms (cancel, resume, fork, send event) carry a CSRF token equal to the console's cookie (a
double-submit token, the cookie ``SameSite=Strict``), on top of the same-origin check every
state-changing route has. Pages are served with a Content-Security-Policy that allows only this
console's own script, and may not be framed.
"""

from __future__ import annotations

import datetime as dt
import importlib.resources
import json
import secrets
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from pikku import _control
from pikku._clock import now
from pikku._errors import InvalidInputError, PikkuError
from pikku._records import RUN_STATUSES, SETTLED_RUN_STATUSES
from pikku._registry import workflows
from pikku.http import _api, _timeline, _views
from pikku.http._errors import INTERNAL, error_detail, internal_error_response, status_of
from pikku.http._guard import Action, Guard, check_csrf, form_value
from pikku.http._route import RouteSpec, guarded

CSRF_COOKIE = "pikku_csrf"
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}
_STATIC = {"console.js": "text/javascript", "console.css": "text/css"}
#: Messages a redirect after a form may show (by key: the page never echoes text from the URL).
_NOTICES = {
    "cancelled": "Run cancelled.",
    "resumed": "Run resumed.",
    "forked": "This run was forked from another.",
    "event-sent": "Event sent.",
}
#: Run fields the run page shows in their own places; any other field (added by a later pikku) is listed.
_SHOWN_RUN_FIELDS = {
    "run_id",
    "workflow",
    "status",
    "created_at",
    "updated_at",
    "output",
    "error_code",
    "error_message",
}
_PARENT_FIELDS = ("parent", "parent_run_id", "parent_id")
_CHILD_FIELDS = ("children", "child_runs")


def environment() -> jinja2.Environment:
    """The console's one Jinja environment: autoescaped HTML, undefined names are errors."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("pikku.http", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def add_console_routes(router: APIRouter, guard: Guard, env: jinja2.Environment) -> None:
    """The console's pages, forms and static files under ``/ui/``."""

    def respond(request: Request, exc: Exception) -> Response:
        return error_page(env, request, exc)

    def spec(action: Action) -> RouteSpec:
        return RouteSpec(guard, action, respond=respond)

    @router.get("/ui/", name="pikku_console_runs", response_class=HTMLResponse, include_in_schema=False)
    @guarded(spec("read"))
    async def runs_page(
        request: Request,
        workflow: str = "",
        status: str = "",
        cursor: str = "",
        limit: int = Query(25, ge=1, le=_control.MAX_PAGE),
        fragment: bool = False,
    ) -> Response:
        page = await _api.read_page(workflow or None, status or None, limit, cursor or None)
        context = runs_context(request, page, workflow, status, cursor, limit)
        return page_response(env, request, "runs_table.html" if fragment else "runs.html", context)

    @router.get("/ui/static/{name}", include_in_schema=False)
    @guarded(spec("read"))
    async def static(name: str) -> Response:
        if name not in _STATIC:
            raise InvalidInputError(f"no console file {name!r}", hint="the console has console.js and console.css")
        text = importlib.resources.files("pikku.http").joinpath("static", name).read_text(encoding="utf-8")
        return Response(text, media_type=_STATIC[name], headers={"Cache-Control": "no-cache"})

    @router.post("/ui/runs/{run_id:path}/cancel", include_in_schema=False)
    @guarded(spec("cancel"))
    async def cancel(request: Request, run_id: str) -> Response:
        await posted_form(request)
        await _api.cancel_run(run_id, "cancelled from the console")
        return redirect(request, run_id, "cancelled")

    @router.post("/ui/runs/{run_id:path}/resume", include_in_schema=False)
    @guarded(spec("resume"))
    async def resume(request: Request, run_id: str) -> Response:
        await posted_form(request)
        await _api.resume_run(run_id)
        return redirect(request, run_id, "resumed")

    @router.post("/ui/runs/{run_id:path}/fork", include_in_schema=False)
    @guarded(spec("fork"))
    async def fork(request: Request, run_id: str) -> Response:
        form = await posted_form(request)
        new_id = await _control.fork_run(run_id, form.get("from_step") or "")
        return redirect(request, new_id, "forked")

    @router.post("/ui/runs/{run_id:path}/events", include_in_schema=False)
    @guarded(spec("signal"))
    async def send_event(request: Request, run_id: str) -> Response:
        form = await posted_form(request)
        event = (form.get("event") or "").strip()
        if not event:
            raise InvalidInputError("the event has no name", hint="type the name of the event the run waits for")
        run = await _control.get_run(run_id)
        await _api.deliver_event(run, event, parse_payload(form.get("payload") or ""), None)
        return redirect(request, run_id, "event-sent")

    @router.get("/ui/runs/{run_id:path}", response_class=HTMLResponse, include_in_schema=False)
    @guarded(spec("read"))
    async def run_page(request: Request, run_id: str, fragment: bool = False, notice: str = "") -> Response:
        detail = await _views.run_detail(run_id)
        context = run_context(request, detail, notice)
        return page_response(env, request, "run_body.html" if fragment else "run.html", context)


# -- building what the templates show (they only arrange it) -------------------------------------------


def urls(request: Request) -> dict[str, str]:
    """Base paths of the console and the API as the app mounts them (``/pikku/ui/``, ``/pikku/``)."""
    ui = request.url_for("pikku_console_runs").path
    return {"ui": ui, "api": ui[: -len("ui/")], "static": ui + "static/"}


def run_url(request: Request, run_id: str) -> str:
    """The console page of a run (its id quoted; the ``/`` of a child run's id kept)."""
    return urls(request)["ui"] + "runs/" + quote(run_id, safe="/")


def runs_context(
    request: Request, page: _control.RunPage, workflow: str, status: str, cursor: str, limit: int
) -> dict[str, Any]:
    """The run list: filters, rows, paging links and the stream that keeps it fresh."""
    base = urls(request)
    filters = {k: v for k, v in (("workflow", workflow), ("status", status)) if v}
    here = filters | ({"cursor": cursor} if cursor else {}) | ({"limit": str(limit)} if limit != 25 else {})
    rows = [
        {
            "run_id": r.run_id,
            "url": run_url(request, r.run_id),
            "workflow": r.workflow,
            "status": r.status,
            "colour": _timeline.colour(r.status),
            "created": when(r.created_at, short=True),
            "updated": when(r.updated_at, short=True),
            "error": clip(f"{r.error_code or ''} {r.error_message or ''}".strip()),
            "error_full": f"{r.error_code or ''} {r.error_message or ''}".strip(),
        }
        for r in page.runs
    ]
    return {
        "title": "Runs",
        "rows": rows,
        "workflows": sorted(workflows()),
        "statuses": [{"name": s, "colour": _timeline.colour(s)} for s in RUN_STATUSES],
        "chosen": {"workflow": workflow, "status": status},
        "next_url": base["ui"] + "?" + urlencode(filters | {"cursor": page.cursor, "limit": limit})
        if page.cursor
        else None,
        "first_url": base["ui"] + ("?" + urlencode(filters) if filters else "") if cursor else None,
        "stream_url": base["api"] + "runs/stream?" + urlencode(here | {"limit": str(limit)}),
        "fragment_url": base["ui"] + "?" + urlencode(here | {"fragment": "1"}),
        "settled": "",
    }


def run_context(request: Request, detail: dict[str, Any], notice: str) -> dict[str, Any]:
    """The run page: the run, its links, its timeline and steps, its actions and its stream."""
    run = detail["run"]
    run_id = run["run_id"]
    page = run_url(request, run_id)
    settled = run["status"] in SETTLED_RUN_STATUSES
    error = {"code": run["error_code"], "message": run["error_message"]} if run["error_message"] else None
    return {
        "title": f"Run {run_id}",
        "run": run,
        "run_colour": _timeline.colour(run["status"]),
        "created": when(run["created_at"]),
        "updated": when(run["updated_at"]),
        "took": _timeline.duration(run["updated_at"] - run["created_at"]) if settled else None,
        "output": pretty(run["output"]) if run["output"] is not None else None,
        "error": error,
        "parent": _parent(request, run),
        "children": _children(request, run),
        "extras": [(k, pretty(v)) for k, v in run.items() if k not in _SHOWN_RUN_FIELDS | _LINK_FIELDS],
        "timeline": _timeline.timeline(run, detail["steps"], now(), settled),
        "steps": [_step_row(request, s, page) for s in detail["steps"]],
        "notice": _NOTICES.get(notice),
        "version": detail["version"],
        "stream_url": urls(request)["api"] + "runs/" + quote(run_id, safe="/") + "/stream",
        "fragment_url": page + "?fragment=1",
        "settled": " ".join(sorted(SETTLED_RUN_STATUSES)),
        "is_settled": settled,
        "can_cancel": not settled,
        "can_resume": run["status"] in ("failed", "cancelled", "suspended"),
        "can_send": not settled,
        "waiting_for": list(run.get("waiting_for") or ()),
        "cancel_url": page + "/cancel",
        "resume_url": page + "/resume",
        "event_url": page + "/events",
    }


_LINK_FIELDS = set(_PARENT_FIELDS) | set(_CHILD_FIELDS)


def _parent(request: Request, run: dict[str, Any]) -> dict[str, str] | None:
    for field in _PARENT_FIELDS:
        value = _run_id_of(run.get(field))
        if value:
            return {"run_id": value, "url": run_url(request, value)}
    return None


def _children(request: Request, run: dict[str, Any]) -> list[dict[str, str]]:
    for field in _CHILD_FIELDS:
        values = run.get(field)
        if isinstance(values, list) and values:
            ids = [i for i in (_run_id_of(v) for v in values) if i]
            return [{"run_id": i, "url": run_url(request, i)} for i in ids]
    return []


def _run_id_of(value: Any) -> str | None:
    """A run id from a field holding an id, or a run (with ``run_id``) as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("run_id"), str):
        return str(value["run_id"])
    return None


def _step_row(request: Request, step: dict[str, Any], page: str) -> dict[str, Any]:
    attempts = [
        {
            "attempt": a["attempt"],
            "started": when(a["started_at"]),
            "took": _timeline.duration(a["ended_at"] - a["started_at"]) if a.get("ended_at") is not None else "running",
            "error": a.get("error"),
        }
        for a in step["attempts"]
    ]
    return {
        "name": step["name"],
        "what": f"rpc {step['rpc_name']}" if step.get("rpc_name") else step["form"],
        "status": step["status"],
        "colour": _timeline.colour(step["status"]),
        "attempts": attempts,
        "budget": f"{len(step['attempts'])}/{step['max_attempts']}",
        "took": _timeline.duration(step["duration"]) if step.get("duration") is not None else "",
        "input": pretty(step["input"]) if step.get("input") is not None else None,
        "output": pretty(step["output"]) if step.get("output") is not None else None,
        "error": step.get("error"),
        "fork_url": page + "/fork",
    }


def pretty(value: Any) -> str:
    """JSON data as indented text for a <pre> (strings as they are)."""
    return value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False, default=str)


def when(ts: float | None, *, short: bool = False) -> str:
    """A stored time as UTC text (to the millisecond, or to the second when ``short``)."""
    if ts is None:
        return ""
    text = dt.datetime.fromtimestamp(ts, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return text[:-7] if short else text[:-3] + " UTC"


def clip(text: str, limit: int = 120) -> str:
    """The first line of ``text``, cut to ``limit`` characters (the list shows the rest on hover)."""
    line = text.splitlines()[0] if text else ""
    return line if len(line) <= limit and line == text else line[: limit - 1].rstrip() + "…"


def parse_payload(text: str) -> Any:
    """The send-event form's payload: JSON text, empty for none; InvalidInputError (422) otherwise."""
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"the payload is not JSON: {exc}", hint='e.g. {"approved": true}') from None


# -- responses ------------------------------------------------------------------------------------------


async def posted_form(request: Request) -> dict[str, str]:
    """The fields of a posted console form, after its CSRF token matched the cookie."""
    body = await request.body()
    fields = {name: form_value(body, name) or "" for name in ("csrf_token", "from_step", "event", "payload")}
    check_csrf(request, fields["csrf_token"], CSRF_COOKIE)
    return fields


def csrf_token(request: Request) -> tuple[str, bool]:
    """The console's token: the cookie's, or a new one (True: the response must set the cookie)."""
    token = request.cookies.get(CSRF_COOKIE, "")
    if len(token) >= 32 and token.replace("-", "").replace("_", "").isalnum():
        return token, False
    return secrets.token_urlsafe(32), True


def page_response(
    env: jinja2.Environment, request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> Response:
    """A rendered page with the console's security headers and, on a first visit, its CSRF cookie."""
    token, fresh = csrf_token(request)
    html = env.get_template(template).render(**context, csrf=token, urls=urls(request))
    response = HTMLResponse(html, status_code=status_code, headers=_HEADERS)
    if fresh:
        response.set_cookie(
            CSRF_COOKIE, token, httponly=True, samesite="strict", path=urls(request)["ui"], secure=_secure(request)
        )
    return response


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def redirect(request: Request, run_id: str, notice: str) -> Response:
    """303 to a run's page after a form, with a notice chosen by key."""
    return RedirectResponse(run_url(request, run_id) + "?" + urlencode({"notice": notice}), status_code=303)


def error_page(env: jinja2.Environment, request: Request, exc: Exception) -> Response:
    """A failure as a console page: the code, the message and the fix, with the table's status."""
    if isinstance(exc, RequestValidationError):
        code, message, detail = "PIKKU_INVALID_INPUT", "the request's parameters are not valid", None
    elif isinstance(exc, PikkuError):
        code, message, detail = exc.code, exc.message, error_detail(exc)
    else:
        internal_error_response(exc)  # logs the traceback
        code, message, detail = INTERNAL, f"unexpected {type(exc).__name__} (the server's log has the details)", None
    hint = detail.get("hint") if isinstance(detail, dict) else None
    context = {"title": "Error", "code": code, "message": message, "hint": hint}
    run_id = request.path_params.get("run_id")
    context["back_url"] = run_url(request, run_id) if run_id else urls(request)["ui"]
    return page_response(env, request, "error.html", context, status_code=status_of(code))
