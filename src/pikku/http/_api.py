"""The JSON routes: start runs of each workflow (typed by its models), list and read runs, stream them,
and act on them (events, cancel, resume, fork)."""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from pikku import _control, _serde
from pikku._errors import ConfigError, InvalidInputError
from pikku._records import RUN_STATUSES, SETTLED_RUN_STATUSES
from pikku._registry import WorkflowDef, get_workflow, workflows
from pikku._runtime import get_runtime
from pikku.http import _models, _sse, _views
from pikku.http._errors import RunStateError
from pikku.http._guard import Action, Guard
from pikku.http._route import RouteSpec, guarded, run_of

#: The longest ``?wait=`` a start may ask for, in seconds.
MAX_WAIT = 300.0


def _wait() -> Any:
    return Query(None, ge=0, le=MAX_WAIT, description="Wait up to this many seconds for the run to settle.")


def _key() -> Any:
    return Header(
        None,
        alias="Idempotency-Key",
        description="The run's id: a second start with the same key returns that run (200) and creates nothing.",
    )


_RUN_ERRORS = _models.error_responses(403, 404)


def add_api_routes(router: APIRouter, guard: Guard, timing: _sse.StreamTiming) -> None:
    """Every JSON route, on ``router`` (whose route class is :class:`pikku.http._route.PikkuRoute`)."""

    def spec(action: Action, workflow: str | None = None) -> RouteSpec:
        return RouteSpec(guard, action, workflow)

    @router.get("/workflows", tags=["workflows"], response_model=list[_models.WorkflowModel])
    @guarded(spec("read"))
    async def list_workflows() -> list[dict[str, Any]]:
        """Every workflow this server can start, with its steps as the generated metadata lists them."""
        return [_workflow_json(wf) for _name, wf in sorted(workflows().items())]

    for name, wf in sorted(workflows().items()):
        _add_typed_start(router, wf, spec("start", name))

    @router.post(
        "/workflows/{name}/runs",
        tags=["workflows"],
        status_code=201,
        responses={200: {"model": _models.RunStarted[Any]}, **_models.error_responses(403, 404, 409, 413, 422)},
        include_in_schema=False,
    )
    @guarded(spec("start"))
    async def start_any(
        name: str,
        data: Annotated[Any, Body()] = None,
        wait: float | None = _wait(),
        idempotency_key: str | None = _key(),
    ) -> Response:
        """Start a run of a workflow registered after this router was built; 404 naming the known ones."""
        return await start(get_workflow(name).name, data, wait, idempotency_key)

    @router.get("/runs", tags=["runs"], response_model=_models.RunPageModel, responses=_RUN_ERRORS)
    @guarded(spec("read"))
    async def list_runs(
        workflow: str | None = None,
        status: str | None = Query(None, description=f"One of {', '.join(RUN_STATUSES)}."),
        limit: int = Query(50, ge=1, le=_control.MAX_PAGE),
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """Runs newest first, one page per call; ``cursor`` from the previous page fetches the next."""
        return _views.list_page(await read_page(workflow, status, limit, cursor))

    @router.get("/runs/stream", tags=["runs"], response_class=StreamingResponse, responses=_RUN_ERRORS)
    @guarded(spec("read"))
    async def stream_runs(
        request: Request,
        workflow: str | None = None,
        status: str | None = None,
        limit: int = Query(50, ge=1, le=_control.MAX_PAGE),
        cursor: str | None = None,
    ) -> StreamingResponse:
        """Server-Sent Events ``runs``: the page of runs now, then again each time it changes."""

        async def read() -> dict[str, Any]:
            page = await read_page(workflow, status, limit, cursor)
            return _views.list_page(page) | {"version": _views.list_version(page)}

        first = await read()
        return _streaming(_sse.list_stream(request, read, first, timing))

    @router.get("/runs/{run_id:path}/stream", tags=["runs"], response_class=StreamingResponse, responses=_RUN_ERRORS)
    @guarded(spec("read"))
    async def stream_run(request: Request, run_id: str) -> Response:
        """Server-Sent Events of one run: ``id:`` its version, ``event:`` ``run`` or ``step``, ``data:`` the
        JSON of ``GET /runs/{id}``. Ends once the run settles; 204 for a reconnect to a settled run whose
        version the client has (so that the browser stops reconnecting)."""
        first = await _views.run_detail(run_id)
        last = _sse.last_event_id(request)
        if _views.is_settled(first) and last == first["version"]:
            return Response(status_code=204)
        return _streaming(_sse.run_stream(request, run_id, first, last, timing))

    @router.post(
        "/runs/{run_id:path}/events/{event}",
        tags=["runs"],
        status_code=202,
        response_model=_models.EventAccepted,
        responses=_models.error_responses(403, 404, 409, 413, 422),
    )
    @guarded(spec("signal"))
    async def send_event(
        request: Request,
        run_id: str,
        event: str,
        payload: Annotated[Any, Body()] = None,
        event_id: str | None = Header(None, alias="Idempotency-Key", description="Deduplicates deliveries."),
    ) -> dict[str, Any]:
        """Hand an event (its payload is the body) to a run that waits for it, or will."""
        await deliver_event(run_of(request), event, payload, event_id)
        return {"run_id": run_id, "event": event, "accepted": True}

    @router.post("/runs/{run_id:path}/cancel", tags=["runs"], response_model=_models.Changed, responses=_RUN_ERRORS)
    @guarded(spec("cancel"))
    async def cancel(run_id: str, body: Annotated[dict[str, Any] | None, Body()] = None) -> dict[str, Any]:
        """End a run as ``cancelled``; 409 when it had settled already. Body (optional): ``{"reason": ...}``."""
        reason = (body or {}).get("reason")
        return await cancel_run(run_id, str(reason) if reason is not None else None)

    @router.post("/runs/{run_id:path}/resume", tags=["runs"], response_model=_models.Changed, responses=_RUN_ERRORS)
    @guarded(spec("resume"))
    async def resume(run_id: str) -> dict[str, Any]:
        """Resume a failed or cancelled run (done steps kept, the failed step tried again); 409 otherwise."""
        return await resume_run(run_id)

    @router.post(
        "/runs/{run_id:path}/fork",
        tags=["runs"],
        status_code=201,
        response_model=_models.Forked,
        responses=_models.error_responses(403, 404, 422),
    )
    @guarded(spec("fork"))
    async def fork(run_id: str, body: _models.ForkBody) -> dict[str, Any]:
        """A new run of the same input that keeps the results of the steps before ``from_step``."""
        return {"run_id": await _control.fork_run(run_id, body.from_step), "forked_from": run_id}

    @router.get("/runs/{run_id:path}", tags=["runs"], response_model=_models.RunDetail, responses=_RUN_ERRORS)
    @guarded(spec("read"))
    async def get_run(run_id: str) -> Response:
        """The run with its steps and their attempts, and its version."""
        return JSONResponse(await _views.run_detail(run_id))


def _add_typed_start(router: APIRouter, wf: WorkflowDef, spec: RouteSpec) -> None:
    """``POST /workflows/<name>/runs`` whose body is the workflow's input model and whose answer names
    its output model, so the OpenAPI schema shows both."""
    fn = wf.function
    typed = fn.takes_data and not _serde.is_any(fn.input_type) and fn.input_type is not type(None)
    name = wf.name

    async def endpoint(data: Any = None, wait: float | None = None, idempotency_key: str | None = None) -> Response:
        return await start(name, data, wait, idempotency_key)

    body = inspect.Parameter(
        "data",
        inspect.Parameter.KEYWORD_ONLY,
        annotation=Annotated[fn.input_type if typed else Any, Body()],
        default=inspect.Parameter.empty if typed else None,
    )
    endpoint.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            body,
            inspect.Parameter("wait", inspect.Parameter.KEYWORD_ONLY, default=_wait(), annotation=float | None),
            inspect.Parameter("idempotency_key", inspect.Parameter.KEYWORD_ONLY, default=_key(), annotation=str | None),
        ]
    )
    endpoint.__name__ = endpoint.__qualname__ = f"start_{name}"
    started: Any = _models.RunStarted.__class_getitem__(_serde_type(fn.output_type))
    router.add_api_route(
        f"/workflows/{name}/runs",
        guarded(spec)(endpoint),
        methods=["POST"],
        tags=["workflows"],
        status_code=201,
        summary=f"Start {name}",
        description=(wf.description or "") + "\n\n201: a new run; 200: the run the Idempotency-Key names.",
        operation_id=f"start_{name}",
        response_model=None,
        responses={201: {"model": started}, 200: {"model": started}, **_models.error_responses(403, 409, 413, 422)},
    )


def _serde_type(tp: Any) -> Any:
    return Any if _serde.is_any(tp) else tp


async def start(name: str, data: Any, wait: float | None, key: str | None) -> Response:
    """Start (or, with a key naming an existing run, find) a run; with ``wait`` wait for it to settle."""
    runtime = await get_runtime()
    run_id = None if key is None else _control.check_run_id(key)
    started = await runtime.engine.start_run(name, data, run_id=run_id)
    body = await _result(started.run_id, wait or 0.0)
    return JSONResponse(body | {"created": started.created}, status_code=201 if started.created else 200)


async def _result(run_id: str, wait: float) -> dict[str, Any]:
    """The run's status now, or once it settles within ``wait`` seconds; its output or error then."""
    state = (await get_runtime()).engine.state
    deadline = time.monotonic() + wait
    delay = 0.01
    while True:
        run = await state.get_run(run_id)
        if run.status in SETTLED_RUN_STATUSES or time.monotonic() >= deadline:
            break
        await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(0.5, delay * 2)
    output = json.loads(run.output_json) if run.output_json is not None else None
    return {"run_id": run_id, "status": run.status, "output": output, "error": run.error and run.error.to_dict()}


async def read_page(workflow: str | None, status: str | None, limit: int, cursor: str | None) -> _control.RunPage:
    """A page of runs; a cursor that names no run is a bad request (422), not a server fault."""
    await get_runtime()  # a misconfigured server fails here, as the 500 it is
    try:
        return await _control.list_runs(workflow, status, limit, cursor)
    except ConfigError as exc:
        raise InvalidInputError(exc.message, hint=exc.hint) from None


async def cancel_run(run_id: str, reason: str | None) -> dict[str, Any]:
    """Cancel; RunStateError (409) when the run had settled."""
    if not await _control.cancel_run(run_id, reason):
        status = (await _control.get_run(run_id)).status
        raise RunStateError(f"run {run_id!r} is {status}; only a run that has not settled can be cancelled")
    return {"run_id": run_id, "status": (await _control.get_run(run_id)).status}


async def resume_run(run_id: str) -> dict[str, Any]:
    """Resume; RunStateError (409) for a run that is not failed or cancelled."""
    try:
        resumed = await _control.resume_run(run_id)
    except InvalidInputError as exc:  # a completed run: nothing to resume
        raise RunStateError(exc.message, hint=exc.hint) from None
    if not resumed:
        status = (await _control.get_run(run_id)).status
        raise RunStateError(f"run {run_id!r} is {status}; only a failed or cancelled run can be resumed")
    return {"run_id": run_id, "status": (await _control.get_run(run_id)).status}


async def deliver_event(run: _control.RunSummary, event: str, payload: Any, event_id: str | None) -> None:
    """Hand ``event`` to the run (``pikku.send_event``): 409 for a settled run, 422 for an event it never
    waits for or a payload its model refuses (pydantic's errors in ``detail.errors``)."""
    await _control.send_event(run.run_id, event, payload, event_id=event_id)


def _workflow_json(wf: WorkflowDef) -> dict[str, Any]:
    steps = [s.name for s in wf.info.steps] if wf.info else []
    return {"name": wf.name, "description": wf.description, "execution_mode": wf.execution_mode, "steps": steps}


def _streaming(events: Any) -> StreamingResponse:
    return StreamingResponse(events, media_type=_sse.MEDIA_TYPE, headers=_sse.HEADERS)
