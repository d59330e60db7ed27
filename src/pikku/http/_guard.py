"""Access control of every route: who may call it, from which site, with how large a body.

In order, for each request: a state-changing request from another site is refused (``Sec-Fetch-Site``,
then ``Origin`` against ``Host``); the run a route names is read (404 only after the hook agreed to say
so: a run id is never treated as a secret); the ``authorize`` hook decides, or without one only clients
on this machine (loopback) are served; a request body over the engine's payload limit is refused (413)
before it is read whole.
"""

from __future__ import annotations

import hmac
import importlib
import inspect
import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args
from urllib.parse import parse_qs, urlsplit

from starlette.requests import Request

from pikku import _control, _serde
from pikku._config import PikkuConfig
from pikku._errors import ConfigError, PayloadTooLargeError, RunNotFoundError
from pikku._runtime import get_runtime
from pikku.http._errors import CrossOriginError, CSRFError, ForbiddenError

Action = Literal["start", "read", "signal", "cancel", "resume", "fork"]
ACTIONS: tuple[Action, ...] = get_args(Action)

#: ``async def authorize(request, action, workflow, run) -> bool``: ``workflow`` is the workflow's name
#: (None where the route names none, e.g. the list of every run); ``run`` is the run the route acts on
#: (a :class:`pikku.RunSummary`), None for starts and lists, and for a run id that names no run.
Authorize = Callable[[Request, Action, str | None, "_control.RunSummary | None"], Awaitable[bool] | bool]

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_SAME_SITE_FETCH = frozenset({"same-origin", "none"})
HOOK_HINT = (
    'add [tool.pikku.http] authorize = "your_app.auth:authorize" (an async (request, action, workflow, run) -> '
    "bool), pass authorize= to pikku.http.router(), or serve anyone with --insecure-no-auth"
)


@dataclass(frozen=True, slots=True)
class Guard:
    """The access rules one router applies to each of its routes."""

    authorize: Authorize | None = None
    insecure_no_auth: bool = False
    trusted_origins: frozenset[str] = field(default_factory=frozenset)

    async def admit(self, request: Request, action: Action, workflow: str | None) -> _control.RunSummary | None:
        """Check the request for ``action``; the run its path names (None when it names none).

        CrossOriginError, ForbiddenError, RunNotFoundError (after the hook agreed), PayloadTooLargeError.
        """
        if request.method not in _SAFE_METHODS:
            check_same_origin(request, self.trusted_origins)
        run_id = request.path_params.get("run_id")
        run = None
        if run_id is not None:
            try:
                run = await _control.get_run(run_id)
            except RunNotFoundError:
                await self.allow(request, action, workflow, None)
                raise
            workflow = run.workflow
        await self.allow(request, action, workflow, run)
        if request.method not in _SAFE_METHODS:
            await check_body_size(request)
        return run

    async def allow(
        self, request: Request, action: Action, workflow: str | None, run: _control.RunSummary | None
    ) -> None:
        """ForbiddenError unless the hook (or, without one, the loopback rule) lets ``action`` through."""
        if self.authorize is None:
            if not self.insecure_no_auth and not is_loopback_client(request):
                client = request.client.host if request.client else "an unknown address"
                raise ForbiddenError(
                    f"request from {client} refused: without an authorize hook only this machine (loopback) is served",
                    hint=HOOK_HINT,
                )
            return
        verdict = self.authorize(request, action, workflow, run)
        if inspect.isawaitable(verdict):
            verdict = await verdict
        if verdict is not True:
            what = f"run {run.run_id!r}" if run else f"workflow {workflow!r}" if workflow else "runs"
            raise ForbiddenError(f"the authorize hook refused {action} on {what}", hint="ask for access")


def is_loopback_client(request: Request) -> bool:
    """Whether the peer is this machine (127.0.0.0/8, ::1); an unknown peer is not."""
    return request.client is not None and is_loopback(request.client.host)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address or ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_same_origin(request: Request, trusted: frozenset[str]) -> None:
    """CrossOriginError for a state-changing request a browser sent from another site.

    Browsers tell where a request comes from (``Sec-Fetch-Site``, ``Origin``); clients that are not browsers
    send neither and pass (they are no cross-site forgery risk: they hold their own credentials).
    """
    origin = request.headers.get("origin")
    if origin is not None and origin in trusted:
        return
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in _SAME_SITE_FETCH:
        raise CrossOriginError(
            f"a {request.method} from another site ({site}, origin {origin or 'unknown'}) is refused",
            hint="call the API from the console's own pages, or add the origin to [tool.pikku.http] trusted_origins",
        )
    if origin is None:
        return
    host = request.headers.get("host", "")
    if origin == "null" or urlsplit(origin).netloc.lower() != host.lower():
        raise CrossOriginError(
            f"a {request.method} from origin {origin} to host {host or 'unknown'} is refused",
            hint="call the API from the same origin, or add the origin to [tool.pikku.http] trusted_origins",
        )


async def payload_limit() -> int:
    """The engine's payload limit in bytes (``payload_limit`` in [tool.pikku.settings])."""
    runtime = await get_runtime()
    return runtime.engine.settings.payload_limit


async def check_body_size(request: Request) -> None:
    """PayloadTooLargeError for a body over the payload limit: from ``Content-Length`` when it is given,
    else while reading (a chunked body is never held beyond the limit)."""
    limit = await payload_limit()
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(f"{int(declared)} bytes", limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(f"more than {limit} bytes", limit)
        chunks.append(chunk)
    # Starlette's Request keeps a read body here; FastAPI's body parsing then reads this copy.
    request._body = b"".join(chunks)


def _too_large(size: str, limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"request body of {size} is over the payload limit of {limit} bytes",
        hint="send less, or raise payload_limit in [tool.pikku.settings] (it also bounds stored values)",
    )


def check_csrf(request: Request, token: str | None, cookie: str) -> None:
    """CSRFError unless the form's token equals the console's cookie (a double-submit token)."""
    expected = request.cookies.get(cookie)
    if not token or not expected or not hmac.compare_digest(token.encode(), expected.encode()):
        raise CSRFError(
            "the form's token does not match this browser's console session",
            hint="reload the console page and submit the form again",
        )


def load_authorize(config: PikkuConfig) -> Authorize | None:
    """The hook ``[tool.pikku.http] authorize`` names, imported only from the project's own packages.

    The same rule as stored type tags (``pikku._serde``): the module must belong to a package of the app
    (a ``source`` folder of [tool.pikku], or a package its workflows and functions live in), never another
    installed module. ConfigError naming the fix otherwise.
    """
    spec = config.http.get("authorize")
    if spec is None:
        return None
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr.isidentifier():
        raise ConfigError(
            f"[tool.pikku.http] authorize = {spec!r} is not 'package.module:function'",
            hint='authorize = "your_app.auth:authorize"',
        )
    allowed = project_packages(config)
    if module_name.partition(".")[0] not in allowed:
        raise ConfigError(
            f"[tool.pikku.http] authorize = {spec!r} is outside the project's packages "
            f"({', '.join(sorted(allowed)) or 'none found'})",
            hint="put the hook in your app's own package, e.g. your_app/auth.py",
        )
    try:
        hook = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f"[tool.pikku.http] authorize = {spec!r} cannot be loaded: {exc}",
            hint="name an async function (request, action, workflow, run) -> bool",
        ) from exc
    if not callable(hook):
        raise ConfigError(f"[tool.pikku.http] authorize = {spec!r} is not a function", hint="name a function")
    checked: Authorize = hook
    return checked


def project_packages(config: PikkuConfig) -> frozenset[str]:
    """Top-level packages of the app: its ``source`` folders and the packages its code registered from."""
    return frozenset(Path(s).name for s in config.source) | _serde.app_packages()


def form_value(body: bytes, name: str) -> str | None:
    """One field of an ``application/x-www-form-urlencoded`` body (the console's forms)."""
    values = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).get(name)
    return values[0] if values else None
