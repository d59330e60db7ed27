"""The route class of pikku's router: each route is guarded before FastAPI reads its body, and every
failure becomes pikku's error JSON (or the console's error page), never a traceback.

A router cannot install exception handlers (they belong to the app it is mounted in), so this happens in
the route itself, the way FastAPI documents custom ``APIRoute`` classes. What a route needs (its action,
the guard) rides on its endpoint, because ``include_router`` copies routes by their endpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from pikku._errors import PikkuError
from pikku.http._errors import error_body, internal_error_response, pikku_error_response
from pikku.http._guard import Action, Guard

F = TypeVar("F", bound=Callable[..., Any])
ErrorResponder = Callable[[Request, Exception], Response]
_SPEC = "__pikku_route__"


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """What a route does, for the guard: its action, the workflow it is fixed to, how errors answer."""

    guard: Guard
    action: Action
    workflow: str | None = None
    respond: ErrorResponder | None = None


def guarded(spec: RouteSpec) -> Callable[[F], F]:
    """Mark an endpoint with the spec its route guards it by."""

    def mark(endpoint: F) -> F:
        setattr(endpoint, _SPEC, spec)
        return endpoint

    return mark


def run_of(request: Request) -> Any:
    """The run the guard read for this request's ``run_id`` (a RunSummary), or None."""
    return getattr(request.state, "pikku_run", None)


class PikkuRoute(APIRoute):
    """An APIRoute that admits each request through its endpoint's :class:`RouteSpec` first."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """FastAPI's handler, wrapped: guard, then the handler; any failure answered as pikku's errors."""
        handler = super().get_route_handler()
        spec: RouteSpec | None = getattr(self.endpoint, _SPEC, None)
        if spec is None:
            return handler
        respond = spec.respond or api_error

        async def guarded_handler(request: Request) -> Response:
            try:
                workflow = spec.workflow or request.path_params.get("name") or request.query_params.get("workflow")
                request.state.pikku_run = await spec.guard.admit(request, spec.action, workflow)
                return await handler(request)
            except Exception as exc:
                return respond(request, exc)

        return guarded_handler


def api_error(request: Request, exc: Exception) -> Response:
    """The JSON answer for a failure: 422 with pydantic's errors, the table's status for a PikkuError,
    the status an HTTPException (from a hook) chose, else 500 ``PIKKU_INTERNAL``."""
    if isinstance(exc, RequestValidationError):
        errors = jsonable_encoder(exc.errors())
        message = "the request does not match the route's schema: " + "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in errors[:5]
        )
        return JSONResponse(error_body("PIKKU_INVALID_INPUT", message, errors), status_code=422)
    if isinstance(exc, PikkuError):
        return pikku_error_response(exc)
    if isinstance(exc, HTTPException):
        code = "PIKKU_HTTP_FORBIDDEN" if exc.status_code in (401, 403) else "PIKKU_HTTP_ERROR"
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers)
    return internal_error_response(exc)
