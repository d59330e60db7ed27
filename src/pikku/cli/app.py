"""The ``pikku`` command: prebuild, worker, start. User mistakes print a coded message, never a traceback."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from pikku._errors import PikkuError
from pikku.cli.db_cmd import db
from pikku.cli.prebuild import prebuild
from pikku.cli.runs_cmd import runs
from pikku.cli.start_cmd import start
from pikku.cli.worker_cmd import worker

app = typer.Typer(
    name="pikku",
    help="Durable workflows for Python: generate wiring, run workers, start runs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(prebuild)
app.command()(worker)
app.command()(start)
app.add_typer(db, name="db")
app.add_typer(runs, name="runs")


def main() -> None:
    """Entry point of the ``pikku`` script."""
    try:
        app()
    except PikkuError as exc:
        console = Console(stderr=True, highlight=False, soft_wrap=True)
        console.print(f"[red]error[/red] [bold]{exc.code}[/bold]: {escape(exc.message)}")
        if exc.hint:
            console.print(f"    fix: {escape(exc.hint)}")
        sys.exit(1)
