"""The ``pikku`` command: prebuild, worker, start, serve, db, runs, jobs, schedules.

User mistakes print a coded message; anything unexpected prints one PIKKU_INTERNAL line naming a file
that holds the traceback. Never a traceback on the terminal.
"""

from __future__ import annotations

import os
import sys
import tempfile
import traceback

import typer
from rich.console import Console
from rich.markup import escape

from pikku._errors import PikkuError
from pikku.cli.db_cmd import db
from pikku.cli.diagnostics import printable
from pikku.cli.prebuild import prebuild
from pikku.cli.runs_cmd import jobs, runs
from pikku.cli.schedules_cmd import schedules
from pikku.cli.serve_cmd import serve
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
app.command()(serve)
app.add_typer(db, name="db")
app.add_typer(runs, name="runs")
app.add_typer(jobs, name="jobs")
app.add_typer(schedules, name="schedules")


def main() -> None:
    """Entry point of the ``pikku`` script: every failure ends in one coded line, never a traceback.

    Exit codes: 0 done, 1 failed (a coded error, user code with errors, stale output, or a bug in
    pikku), 2 the command line itself was wrong (typer's usage errors), 130 interrupted.
    """
    try:
        app()
    except PikkuError as exc:
        _print_error(exc.code, exc.message, exc.hint)
        sys.exit(1)
    except KeyboardInterrupt:
        _print_error("PIKKU_INTERRUPTED", "interrupted", None)
        sys.exit(130)
    except Exception as exc:  # anything else is a bug in pikku: keep the traceback, but in a file
        log = _write_traceback(exc)
        where = f"the traceback is in {log}" if log else "the traceback could not be written to a file"
        summary = " ".join(str(exc).split())[:200]  # one line, whatever the exception's text holds
        _print_error(INTERNAL, f"unexpected {type(exc).__name__}: {summary} (a bug in pikku: {where})", None)
        sys.exit(1)


#: The code of an unexpected failure: a bug in pikku, not a mistake of its user.
INTERNAL = "PIKKU_INTERNAL"


def _print_error(code: str, message: str, hint: str | None) -> None:
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    console.print(f"[red]error[/red] [bold]{code}[/bold]: {escape(printable(message))}")
    if hint:
        console.print(f"    fix: {escape(printable(hint))}")


def _write_traceback(exc: BaseException) -> str | None:
    """Write ``exc``'s traceback to a new file in the system temp folder; its path, or None."""
    try:
        fd, path = tempfile.mkstemp(prefix="pikku-internal-", suffix=".log")
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as fh:
            fh.write(f"pikku {' '.join(sys.argv[1:])}\n\n")
            fh.write("".join(traceback.format_exception(exc)))
    except OSError:
        return None
    return path
