"""pikku's HTTP API and web console, as a FastAPI ``APIRouter`` (``pip install 'pikku[http]'``).

    from fastapi import FastAPI
    import pikku.http

    app = FastAPI()
    app.include_router(pikku.http.router(), prefix="/pikku")   # API at /pikku/runs, console at /pikku/ui/

``pikku serve`` runs the same router on uvicorn, mounted at ``/``. Each workflow of the project gets
``POST /workflows/<name>/runs`` whose body is its input model; runs are read, streamed (Server-Sent
Events) and acted on under ``/runs``. Every route passes the ``authorize`` hook (``[tool.pikku.http]``
or ``authorize=``); without a hook only clients on this machine are served.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from fastapi import APIRouter

from pikku._config import PikkuConfig, find_pyproject, load_config
from pikku._errors import ConfigError
from pikku._runtime import import_wirings
from pikku.http._api import add_api_routes
from pikku.http._console import add_console_routes, environment
from pikku.http._errors import STATUS_BY_CODE
from pikku.http._guard import ACTIONS, Action, Authorize, Guard, load_authorize
from pikku.http._route import PikkuRoute
from pikku.http._sse import StreamTiming


def router(
    *,
    root: str | Path | None = None,
    authorize: Authorize | None = None,
    insecure_no_auth: bool = False,
    trusted_origins: Iterable[str] = (),
    console: bool = True,
    stream_interval: float = 0.5,
    keepalive: float = 15.0,
) -> APIRouter:
    """The API (and, with ``console``, the web console at ``ui/``) as an APIRouter to include in an app.

    The project is found from ``root`` (default: the nearest pyproject.toml with ``[tool.pikku]``); its
    generated wirings are imported, so every workflow has its typed start route. ``authorize`` (default:
    ``[tool.pikku.http] authorize``) is called as ``await authorize(request, action, workflow, run)`` for
    every request; False answers 403. Without a hook only loopback clients are served, unless
    ``insecure_no_auth``. ``trusted_origins`` may post to the API besides the server's own origin.
    ``stream_interval`` is how often a stream looks at the store, ``keepalive`` how long it stays silent.
    """
    config = _project(root)
    hook = authorize if authorize is not None else (load_authorize(config) if config else None)
    origins = set(trusted_origins) | set(config.http.get("trusted_origins", []) if config else ())
    guard = Guard(hook, insecure_no_auth, frozenset(origins))
    api = APIRouter(route_class=PikkuRoute)
    add_api_routes(api, guard, StreamTiming(stream_interval, keepalive))
    if console:
        add_console_routes(api, guard, environment())
    return api


def _project(root: str | Path | None) -> PikkuConfig | None:
    """The project's config with its wirings imported; None when no [tool.pikku] is found from the
    working folder (an app that imported its wirings itself)."""
    if root is None:
        try:
            find_pyproject()
        except ConfigError:
            return None
    config = load_config(Path(root) if root is not None else None)
    try:
        import_wirings(config)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith(config.package):
            raise ConfigError(
                f"generated code {config.package}.workflow.wirings not found under {config.output_dir}",
                hint="run `pikku prebuild` first",
            ) from exc
        raise
    return config


__all__ = ["ACTIONS", "STATUS_BY_CODE", "Action", "Authorize", "router"]
