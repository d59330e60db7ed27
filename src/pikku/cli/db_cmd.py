"""``pikku db migrate``: create or upgrade the schema of the configured state and queue backends."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from pikku._config import load_config
from pikku._loop import run as run_loop
from pikku._redact import redact_url
from pikku.backends import open_backend
from pikku.backends._registry import scheme_of

db = typer.Typer(help="Database schema of the configured backends.", no_args_is_help=True)


@db.command()
def migrate(
    root: Path | None = typer.Option(None, "--root", help="Project folder (default: nearest [tool.pikku])."),
) -> None:
    """Create or upgrade the schema (idempotent; also done on first use). Prints the schema version."""
    config = load_config(root)
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    for url in dict.fromkeys((config.resolved_state_url(), config.resolved_queue_url())):
        console.print(f"{redact_url(url)}: {run_loop(_migrate(url))}")


async def _migrate(url: str) -> str:
    scheme = scheme_of(url)
    if scheme in ("postgresql", "postgres"):
        from pikku.backends.postgres.database import migrate as pg_migrate  # noqa: PLC0415 - psycopg is an optional extra

        return f"schema version {await pg_migrate(url)}"
    backend = await open_backend(url)  # the embedded backends create their schema when opened
    await backend.close()
    return "ready" if scheme != "memory" else "nothing to migrate (in-memory)"
