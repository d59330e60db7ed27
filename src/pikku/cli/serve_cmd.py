"""``pikku serve``: the HTTP API and the web console on uvicorn, mounted at ``/`` (console at ``/ui/``).

Without an authorize hook it listens on this machine only: a non-loopback ``--host`` is refused (exit code
2) unless ``--insecure-no-auth`` says to serve anyone who can reach it.
"""

from __future__ import annotations

import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from pikku._errors import ConfigError
from pikku._loop import run as run_loop
from pikku._runtime import set_runtime
from pikku.cli._project import load_project, project_runtime

log = logging.getLogger("pikku.serve")


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (loopback unless a hook is set)."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="Port to listen on."),
    insecure_no_auth: bool = typer.Option(
        False, "--insecure-no-auth", help="Serve every client without an authorize hook (never on a shared network)."
    ),
    root: Path | None = typer.Option(None, "--root", help="Project folder (default: nearest [tool.pikku])."),
) -> None:
    """Serve the HTTP API and the web console (http://HOST:PORT/ui/)."""
    try:
        from pikku.http import router  # noqa: PLC0415 - fastapi is the optional http extra
        from pikku.http._guard import HOOK_HINT, is_loopback  # noqa: PLC0415
    except ImportError as exc:
        raise ConfigError(
            f"pikku serve needs the http extra ({exc.name or exc} is not installed)", hint="pip install 'pikku[http]'"
        ) from exc
    config = load_project(root)
    if not config.http.get("authorize") and not insecure_no_auth and not is_loopback(host):
        _refuse(
            f"refusing to listen on {host}: there is no authorize hook, so anyone reaching it could act on runs",
            f"{HOOK_HINT}; or listen on 127.0.0.1",
        )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    app = _app(router(root=config.root, insecure_no_auth=insecure_no_auth), config)
    if not config.http.get("authorize") and insecure_no_auth:
        log.warning("serving without an authorize hook to every client (--insecure-no-auth): %s", HOOK_HINT)
    previous = signal.signal(signal.SIGTERM, _raise_stop)
    try:
        run_loop(_serve(app, host, port))
    except (KeyboardInterrupt, _Stopped):  # uvicorn shut down gracefully, then passed the signal on
        log.info("pikku serve stopped")
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Stopped(Exception):
    """SIGTERM, raised once uvicorn has finished its graceful shutdown: a clean stop, exit code 0."""


def _raise_stop(signum: int, frame: Any) -> None:
    raise _Stopped


def _refuse(message: str, hint: str) -> NoReturn:
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    console.print(f"[red]error[/red] [bold]PIKKU_HTTP_NO_AUTH[/bold]: {escape(message)}")
    console.print(f"    fix: {escape(hint)}")
    raise typer.Exit(2)


def _app(api: Any, config: Any) -> Any:
    """A FastAPI app with the router at ``/``, ``/`` redirecting to the console, and the project's runtime
    opened at startup (closed at shutdown)."""
    from fastapi import FastAPI  # noqa: PLC0415 - optional extra
    from starlette.responses import RedirectResponse  # noqa: PLC0415

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        runtime = await project_runtime(config)
        set_runtime(runtime)
        try:
            yield
        finally:
            set_runtime(None)
            await runtime.close()

    app = FastAPI(title="pikku", summary="Start, inspect and operate workflow runs.", lifespan=lifespan)
    app.include_router(api)

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse("/ui/")

    return app


async def _serve(app: Any, host: str, port: int) -> None:
    import uvicorn  # noqa: PLC0415 - optional extra

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="info", lifespan="on"))
    await server.serve()
