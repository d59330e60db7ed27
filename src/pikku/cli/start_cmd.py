"""``pikku start <workflow> '<json>' [--wait]``: start a run from the shell."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from pikku._client import WorkflowClient
from pikku._config import load_config
from pikku._errors import ConfigError, WorkflowTimeoutError
from pikku._loop import run as run_loop
from pikku._records import SETTLED_RUN_STATUSES, StepRecord
from pikku._registry import get_workflow
from pikku._runtime import set_runtime
from pikku.cli._project import load_project, project_runtime


def start(
    workflow: str = typer.Argument(..., help="Workflow name."),
    data: str = typer.Argument("{}", help="Input as JSON."),
    wait: bool = typer.Option(False, "--wait", help="Show each step as it completes, then the output."),
    timeout: float = typer.Option(60.0, "--timeout", help="With --wait: give up after this many seconds."),
    root: Path | None = typer.Option(None, "--root", help="Project folder (default: nearest [tool.pikku])."),
) -> None:
    """Start a workflow run (remote runs need a `pikku worker`)."""
    payload = _parse_input(data)
    load_project(root)
    wf = get_workflow(workflow)
    ok = run_loop(_start(wf.name, payload, wait, timeout, root))
    if not ok:
        raise typer.Exit(1)


def _parse_input(data: str) -> Any:
    """The JSON input, or a coded error: invalid JSON, or nesting deeper than the parser can follow."""
    try:
        return json.loads(data)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"input is not valid JSON: {exc}", hint='quote it: \'{"email": "a@b.c"}\'') from exc
    except RecursionError as exc:
        raise ConfigError(
            "input JSON is nested too deeply to be read (arrays or objects inside each other ~1,000 levels deep)",
            hint="pass the input with far fewer levels of nesting",
        ) from exc


async def _start(name: str, payload: Any, wait: bool, timeout: float, root: Path | None) -> bool:
    console = Console(highlight=False, soft_wrap=True)
    runtime = await project_runtime(load_config(root))
    set_runtime(runtime)
    try:
        client: WorkflowClient[Any, Any] = WorkflowClient(name, get_workflow(name).function.input_type)
        handle = await client.start(payload)
        console.print(f"started {name} run [bold]{handle.run_id}[/bold]")
        if not wait:
            return True
        return await _follow(client, handle.run_id, timeout, console)
    finally:
        await runtime.close()


async def _follow(client: WorkflowClient[Any, Any], run_id: str, timeout: float, console: Console) -> bool:
    shown: set[str] = set()
    deadline = time.monotonic() + timeout
    while True:
        run = await client.get_run(run_id)
        for step in await client.get_steps(run_id):
            if step.status in ("done", "failed") and step.name not in shown:
                shown.add(step.name)
                console.print(_step_line(step))
        if run.status in SETTLED_RUN_STATUSES:
            break
        if time.monotonic() > deadline:
            raise WorkflowTimeoutError(
                f"run {run_id} is still {run.status} after {timeout}s", hint="is a `pikku worker` running?"
            )
        await asyncio.sleep(0.05)
    if run.status == "completed":
        console.print(f"[green]completed[/green] output: {escape(json.dumps(_jsonable(run.output)))}")
        return True
    error = run.error
    console.print(f"[red]{run.status}[/red]: {escape(error.type + ': ' + error.message) if error else ''}")
    return False


def _step_line(step: StepRecord) -> str:
    mark = "[green]✓[/green]" if step.status == "done" else "[red]✗[/red]"
    what = step.rpc_name or step.form
    result = step.result_json if step.status == "done" else (step.error.message if step.error else "")
    return f"  {mark} {escape(step.name)} ({escape(what)}): {escape(result or '')}"


def _jsonable(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    return dump(mode="json") if callable(dump) else value
