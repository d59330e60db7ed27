"""Printing diagnostics: all of them, together, sorted; the exit code is decided once by the caller."""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console
from rich.markup import escape

from pikku.cli.model import Diagnostic


def print_diagnostics(diagnostics: Iterable[Diagnostic], console: Console) -> tuple[int, int]:
    """Print every diagnostic as ``file:line:col: level CODE: message`` + fix hint; (errors, warnings)."""
    errors = warnings = 0
    for d in diagnostics:
        colour = "red" if d.level == "error" else "yellow"
        where, message = printable(str(d.location)), printable(d.message)
        console.print(f"{escape(where)}: [{colour}]{d.level}[/{colour}] [bold]{d.code}[/bold]: {escape(message)}")
        console.print(f"    fix: {escape(printable(d.hint))}")
        errors += d.level == "error"
        warnings += d.level == "warning"
    return errors, warnings


def printable(text: str) -> str:
    """``text`` safe for any terminal: what UTF-8 cannot encode (a file name's undecodable bytes) escaped."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
