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
        console.print(
            f"{escape(str(d.location))}: [{colour}]{d.level}[/{colour}] [bold]{d.code}[/bold]: {escape(d.message)}"
        )
        console.print(f"    fix: {escape(d.hint)}")
        errors += d.level == "error"
        warnings += d.level == "warning"
    return errors, warnings
