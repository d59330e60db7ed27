"""``pikku runs list|show|cancel|resume|signal|...``: see and control runs from the shell (``--json`` for
scripts).

A wrong run id or status is one line on stderr with its code and exit code 2, never a traceback.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pikku import _control
from pikku._config import load_config
from pikku._errors import (
    InvalidDurationError,
    InvalidInputError,
    PikkuError,
    RunNotFoundError,
    RunSettledError,
    UnknownEventError,
)
from pikku._loop import run as run_loop
from pikku._runtime import set_runtime
from pikku.cli._project import load_project, project_runtime

runs = typer.Typer(help="List, inspect, cancel, resume and signal workflow runs.", no_args_is_help=True)
T = TypeVar("T")

ROOT = typer.Option(None, "--root", help="Project folder (default: nearest [tool.pikku]).")
AS_JSON = typer.Option(False, "--json", help="Print JSON instead of a table.")
_STATUS_STYLE = {
    "completed": "green",
    "failed": "red",
    "cancelled": "yellow",
    "running": "cyan",
    "waiting": "blue",
    "suspended": "magenta",
    "done": "green",
}


@runs.command("list")
def list_cmd(
    workflow: str | None = typer.Option(None, "--workflow", "-w", help="Only runs of this workflow."),
    status: str | None = typer.Option(
        None, "--status", "-s", help="running, waiting, suspended, completed, failed or cancelled."
    ),
    limit: int = typer.Option(20, "--limit", "-n", help="How many runs (newest first)."),
    cursor: str | None = typer.Option(None, "--cursor", help="The cursor a previous page printed."),
    as_json: bool = AS_JSON,
    root: Path | None = ROOT,
) -> None:
    """List runs, newest first."""
    page = _call(root, lambda: _control.list_runs(workflow, status, limit, cursor))
    if as_json:
        _print_json({"runs": [dataclasses.asdict(r) for r in page.runs], "cursor": page.cursor})
        return
    table = Table(box=None, pad_edge=False)
    table.add_column("run id", no_wrap=True, min_width=min(48, max((len(r.run_id) for r in page.runs), default=6)))
    for column in ("workflow", "status", "started (UTC)"):
        table.add_column(column, no_wrap=True)
    table.add_column("error")
    for run in page.runs:
        error = f"{run.error_code or ''} {run.error_message or ''}".strip()
        table.add_row(
            escape(run.run_id), escape(run.workflow), _status(run.status), _when(run.created_at), escape(error[:80])
        )
    console = Console(highlight=False, soft_wrap=True)
    console.print(table)
    if page.cursor:
        console.print(f"more: pikku runs list --cursor {page.cursor}")


@runs.command("show")
def show_cmd(
    run_id: str = typer.Argument(..., help="The run's id."), as_json: bool = AS_JSON, root: Path | None = ROOT
) -> None:
    """A run and its steps: status, attempts, duration and error of each."""

    async def read() -> tuple[_control.RunSummary, list[_control.StepView], list[_control.RunSummary]]:
        return await _control.get_run(run_id), await _control.get_steps(run_id), await _control.list_children(run_id)

    run, steps, children = _call(root, read)
    if as_json:
        _print_json({
            "run": dataclasses.asdict(run),
            "steps": [dataclasses.asdict(s) for s in steps],
            "children": [dataclasses.asdict(c) for c in children],
        })  # fmt: skip
        return
    console = Console(highlight=False, soft_wrap=True)
    console.print(f"run [bold]{escape(run.run_id)}[/bold] of {escape(run.workflow)}: {_status(run.status)}")
    _print_origin(console, run)
    if run.error_message:
        console.print(f"  error {escape(run.error_code or '')}: {escape(run.error_message)}")
    if run.waiting_for:
        console.print(
            f"  waits for event {escape(', '.join(run.waiting_for))} (pikku runs signal {escape(run_id)} ...)"
        )
    table = Table("step", "form", "status", "attempts", "duration", "error", box=None, pad_edge=False)
    for step in steps:
        what = _what(step.form, step.rpc_name)
        error = getattr(step.error, "message", "") or ""
        duration = "" if step.duration is None else f"{step.duration * 1000:.0f} ms"
        table.add_row(
            escape(step.name), escape(what), _status(step.status), str(len(step.attempts)), duration, escape(error[:80])
        )
    console.print(table)
    if children:
        kids = Table("child run", "workflow", "status", box=None, pad_edge=False)
        for child in children:
            kids.add_row(escape(child.run_id), escape(child.workflow), _status(child.status))
        console.print(kids)


def _print_origin(console: Console, run: _control.RunSummary) -> None:
    """Where a run came from (its parent, the run it was forked from) and why it was cancelled."""
    if run.parent_run_id is not None:
        console.print(f"  child of run {escape(run.parent_run_id)}")
    if run.forked_from is not None:
        console.print(f"  forked from run {escape(run.forked_from)}")
    if run.cancel_reason is not None:
        console.print(f"  cancelled: {escape(run.cancel_reason)}")


@runs.command("cancel")
def cancel_cmd(
    run_id: str = typer.Argument(..., help="The run's id."),
    reason: str | None = typer.Option(None, "--reason", help="Why (kept on the run: runs show prints it)."),
    as_json: bool = AS_JSON,
    root: Path | None = ROOT,
) -> None:
    """Cancel a running run and its running child runs (a settled run is left as it is, and the command
    says so)."""
    cancelled = _call(root, lambda: _control.cancel_run(run_id, reason))
    if as_json:
        _print_json({"run_id": run_id, "cancelled": cancelled})
    elif cancelled:
        Console(highlight=False).print(f"run {escape(run_id)} cancelled")
    else:
        Console(highlight=False).print(f"run {escape(run_id)} had already settled; nothing changed")


@runs.command("resume")
def resume_cmd(
    run_id: str = typer.Argument(..., help="The run's id."), as_json: bool = AS_JSON, root: Path | None = ROOT
) -> None:
    """Resume a failed, cancelled or suspended run: done steps kept, the failed step retried with a fresh budget."""
    resumed = _call(root, lambda: _control.resume_run(run_id))
    if as_json:
        _print_json({"run_id": run_id, "resumed": resumed})
    else:
        Console(highlight=False).print(
            f"run {escape(run_id)} " + ("resumed" if resumed else "is running or waiting already; nothing changed")
        )


@runs.command("signal")
def signal_cmd(
    run_id: str = typer.Argument(..., help="The run's id."),
    event: str = typer.Argument(..., help="The event's name, as its wait_for_event names it."),
    payload: str = typer.Argument(..., help="The payload as JSON, e.g. '{\"approved\": true}'."),
    event_id: str | None = typer.Option(None, "--event-id", help="Send at most once under this id."),
    as_json: bool = AS_JSON,
    root: Path | None = ROOT,
) -> None:
    """Send an event to a run (what its workflow.wait_for_event waits for); the payload is checked first."""
    try:
        data = json.loads(payload)
    except ValueError as exc:
        _usage_error(InvalidInputError(f"the payload is not JSON: {exc}", hint="quote it: '{\"approved\": true}'"))
    stored = _call(root, lambda: _control.send_event(run_id, event, data, event_id=event_id))
    if as_json:
        _print_json({"run_id": run_id, "event": event, "event_id": event_id, "stored": stored})
    elif stored:
        Console(highlight=False).print(f"event {escape(event)} sent to run {escape(run_id)}")
    else:
        Console(highlight=False).print(
            f"event id {escape(event_id or '')} was sent to run {escape(run_id)} before; nothing stored"
        )


@runs.command("fork")
def fork_cmd(
    run_id: str = typer.Argument(..., help="The run's id."),
    from_step: str = typer.Option(..., "--from", help="The step to run again from (earlier results are kept)."),
    as_json: bool = AS_JSON,
    root: Path | None = ROOT,
) -> None:
    """Start a new run with the same input that keeps the results of the steps before --from."""
    new_id = _call(root, lambda: _control.fork_run(run_id, from_step))
    if as_json:
        _print_json({"run_id": new_id, "forked_from": run_id})
    else:
        Console(highlight=False).print(f"run {escape(new_id)} forked from {escape(run_id)} at {escape(from_step)}")


@runs.command("prune")
def prune_cmd(
    older_than: str = typer.Option(..., "--older-than", help="Age of the last change, e.g. 30d."),
    status: list[str] = typer.Option(["completed"], "--status", "-s", help="Statuses to prune (repeatable)."),
    as_json: bool = AS_JSON,
    root: Path | None = ROOT,
) -> None:
    """Delete settled runs (and their steps) last changed more than --older-than ago."""
    deleted = _call(root, lambda: _control.prune_runs(older_than, status))
    if as_json:
        _print_json({"deleted": deleted})
    else:
        Console(highlight=False).print(f"{deleted} run(s) deleted")


@runs.command("export")
def export_cmd(run_id: str = typer.Argument(..., help="The run's id."), root: Path | None = ROOT) -> None:
    """Print the run's full history as JSON (for `pikku.testing.replay` in CI)."""
    _print_json(_call(root, lambda: _control.export_run(run_id)))


def _call(root: Path | None, op: Callable[[], Awaitable[T]]) -> T:
    """Run ``op`` on the project's runtime; a bad id or argument is one coded line and exit code 2."""
    load_project(root)

    async def main() -> T:
        runtime = await project_runtime(load_config(root))
        set_runtime(runtime)
        try:
            return await op()
        finally:
            set_runtime(None)
            await runtime.close()

    try:
        return run_loop(main())
    except (RunNotFoundError, InvalidInputError, InvalidDurationError, RunSettledError, UnknownEventError) as exc:
        _usage_error(exc)


def _usage_error(exc: PikkuError) -> NoReturn:
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    console.print(f"[red]error[/red] [bold]{exc.code}[/bold]: {escape(exc.message)}")
    if exc.hint:
        console.print(f"    fix: {escape(exc.hint)}")
    raise typer.Exit(2)


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, default=_default, ensure_ascii=False) + "\n")


def _default(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return str(value)


def _what(form: str, rpc_name: str | None) -> str:
    if form == "child":
        return f"child {rpc_name}"
    return f"rpc {rpc_name}" if rpc_name else form


def _status(status: str) -> str:
    style = _STATUS_STYLE.get(status)
    return f"[{style}]{status}[/{style}]" if style else status


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


jobs = typer.Typer(help="Dead-lettered jobs: list them, put them back, or delete them.", no_args_is_help=True)


@jobs.command("dead")
def dead_cmd(limit: int = typer.Option(50, "--limit", "-n"), as_json: bool = AS_JSON, root: Path | None = ROOT) -> None:
    """List dead-lettered jobs, newest first, with why each was taken out of delivery."""
    dead = _call(root, lambda: _control.list_dead_jobs(limit))
    if as_json:
        _print_json([dataclasses.asdict(d) for d in dead])
        return
    table = Table("job id", "queue", "deliveries", "died (UTC)", "reason", box=None, pad_edge=False)
    for job in dead:
        table.add_row(escape(job.id), escape(job.queue), str(job.attempts), _when(job.died_at), escape(job.reason))
    Console(highlight=False, soft_wrap=True).print(table)


@jobs.command("retry")
def retry_cmd(job_id: str = typer.Argument(...), root: Path | None = ROOT) -> None:
    """Put a dead job back on its queue."""
    if not _call(root, lambda: _control.retry_dead_job(job_id)):
        _usage_error(InvalidInputError(f"no dead job {job_id!r}", hint="list them with: pikku jobs dead"))
    Console(highlight=False).print(f"job {escape(job_id)} is back on its queue")


@jobs.command("drop")
def drop_cmd(job_id: str = typer.Argument(...), root: Path | None = ROOT) -> None:
    """Delete a dead job for good."""
    if not _call(root, lambda: _control.drop_dead_job(job_id)):
        _usage_error(InvalidInputError(f"no dead job {job_id!r}", hint="list them with: pikku jobs dead"))
    Console(highlight=False).print(f"job {escape(job_id)} deleted")
