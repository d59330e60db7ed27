"""``pikku schedules list|pause|resume|trigger``: see and steer the project's schedules (``--json`` for scripts).

An unknown schedule name is one line on stderr with its code and exit code 2, never a traceback.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pikku import _schedule_control as control

# The runs commands' plumbing: a call on the project's runtime (bad input: one line, exit code 2), JSON out.
from pikku.cli.runs_cmd import AS_JSON, ROOT
from pikku.cli.runs_cmd import _call as call
from pikku.cli.runs_cmd import _print_json as print_json
from pikku.cli.runs_cmd import _status as status_markup

schedules = typer.Typer(help="List, pause, resume and trigger schedules (wire_schedule).", no_args_is_help=True)
NAME = typer.Argument(..., help="The schedule's name (see pikku schedules list).")


def _iso(moment: float | None) -> str | None:
    if moment is None:
        return None
    return dt.datetime.fromtimestamp(moment, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _as_json(view: control.ScheduleView) -> dict[str, Any]:
    data = dataclasses.asdict(view)
    data["next_tick"], data["last_tick"] = _iso(view.next_tick), _iso(view.last_tick)
    return data


@schedules.command("list")
def list_cmd(as_json: bool = AS_JSON, root: Path | None = ROOT) -> None:
    """Every schedule: its cron, next tick, last tick and the status of its last run, and whether paused."""
    views = call(root, control.list_schedules)
    if as_json:
        print_json({"schedules": [_as_json(v) for v in views]})
        return
    table = Table(box=None, pad_edge=False)
    for column in ("schedule", "workflow", "cron", "next tick (UTC)", "last tick (UTC)", "last run", "paused"):
        table.add_column(column, overflow="fold")  # a narrow terminal folds names, never cuts them
    for v in views:
        cron = v.cron if v.timezone == "UTC" else f"{v.cron} ({v.timezone})"
        last_run = "-"
        if v.last_run_id is not None:
            last_run = f"{escape(v.last_run_id)} {status_markup(v.last_run_status or 'pruned')}"
        table.add_row(
            escape(v.name),
            escape(v.workflow),
            escape(cron),
            _iso(v.next_tick) or "",
            _iso(v.last_tick) or "-",
            last_run,
            "[yellow]paused[/yellow]" if v.paused else "no",
        )
    console = Console(highlight=False, soft_wrap=True)
    console.print(table if views else "no schedules: wire one with wire_schedule(...) and run pikku prebuild")


@schedules.command("pause")
def pause_cmd(name: str = NAME, as_json: bool = AS_JSON, root: Path | None = ROOT) -> None:
    """Stop the schedule's ticks from starting runs (every worker, from its next tick)."""
    paused = call(root, lambda: control.pause_schedule(name))
    if as_json:
        print_json({"schedule": name, "paused": True, "changed": paused})
    else:
        Console(highlight=False).print(f"schedule {escape(name)} " + ("paused" if paused else "was paused already"))


@schedules.command("resume")
def resume_cmd(name: str = NAME, as_json: bool = AS_JSON, root: Path | None = ROOT) -> None:
    """Let the schedule's ticks start runs again from its next tick (ticks that fell due meanwhile are not run)."""
    resumed = call(root, lambda: control.resume_schedule(name))
    if as_json:
        print_json({"schedule": name, "paused": False, "changed": resumed})
    else:
        Console(highlight=False).print(f"schedule {escape(name)} " + ("resumed" if resumed else "was not paused"))


@schedules.command("trigger")
def trigger_cmd(name: str = NAME, as_json: bool = AS_JSON, root: Path | None = ROOT) -> None:
    """Start a run of the schedule's workflow with its input now (a worker runs it); prints the run id."""
    run_id = call(root, lambda: control.trigger_schedule(name))
    if as_json:
        print_json({"schedule": name, "run_id": run_id})
    else:
        Console(highlight=False).print(f"schedule {escape(name)} triggered: run {escape(run_id)}")
