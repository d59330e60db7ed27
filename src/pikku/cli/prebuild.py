"""``pikku prebuild``: scan -> model -> render -> write (or, with --check, compare)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from pikku._config import PikkuConfig, load_config
from pikku.cli import render, write
from pikku.cli.diagnostics import print_diagnostics
from pikku.cli.model import ProjectModel
from pikku.cli.scan import scan_project


def build(config: PikkuConfig) -> tuple[ProjectModel, dict[str, str]]:
    """Scan the project and render its files (nothing written). Files are empty when there are errors."""
    model = scan_project(config.root, config.source)
    if model.has_errors:
        return model, {}
    return model, render.render_project(model, config.package)


def prebuild(
    check: bool = typer.Option(False, "--check", help="Exit 1 if the committed output is out of date."),
    root: Path | None = typer.Option(None, "--root", help="Project folder (default: nearest [tool.pikku])."),
) -> None:
    """Generate the workflow wirings, metadata, workers and typed client into the output folder."""
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    config = load_config(root)
    model, files = build(config)
    errors, warnings = print_diagnostics(model.diagnostics, console)
    if errors:
        console.print(f"[red]{errors} error(s)[/red], {warnings} warning(s): nothing was written.")
        raise typer.Exit(1)
    todo = write.plan(config.output_dir, config.package, files)
    out = config.output_dir.relative_to(config.root)
    if check:
        _report_check(todo, out, console)
        return
    write.apply(config.output_dir, files, todo)
    console.print(
        f"{len(model.workflows)} workflow(s), {len(model.functions)} function(s): "
        f"{len(todo.create)} created, {len(todo.update)} updated, {len(todo.delete)} removed in {out}/"
    )


def _report_check(todo: write.Plan, out: Path, console: Console) -> None:
    if todo.clean:
        console.print(f"{out}/ is up to date.")
        return
    for label, items in (("missing", todo.create), ("stale", todo.update), ("no longer generated", todo.delete)):
        for rel in items:
            console.print(f"  {label}: {out}/{rel}")
    console.print("[red]generated code is out of date[/red]: run `pikku prebuild` and commit the result.")
    raise typer.Exit(1)
