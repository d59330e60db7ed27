"""``pikku worker``: serve the generated queue workers until SIGINT/SIGTERM."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.logging import RichHandler

from pikku._config import PikkuConfig
from pikku._errors import ConfigError
from pikku._logcontext import JsonFormatter
from pikku._loop import run as run_loop
from pikku._redact import redact_url
from pikku._runtime import set_runtime
from pikku.cli._project import load_project, project_runtime, queue_workers
from pikku.worker import Worker

log = logging.getLogger("pikku.worker")


def worker(
    queue: list[str] = typer.Option(None, "--queue", "-q", help="Serve only this queue (repeatable)."),
    concurrency: int = typer.Option(10, "--concurrency", "-c", min=1, help="Jobs processed at once."),
    lease: float = typer.Option(30.0, "--lease", help="Seconds a claimed job is held before redelivery."),
    stop_grace: float = typer.Option(
        10.0, "--stop-grace", help="On SIGINT/SIGTERM: seconds in-flight jobs get to finish before release."
    ),
    root: Path | None = typer.Option(None, "--root", help="Project folder (default: nearest [tool.pikku])."),
    log_format: str = typer.Option(
        "text", "--log-format", help="text (human-readable) or json (one object per line, for log shippers)."
    ),
    run_schedules: bool = typer.Option(
        True, "--schedules/--no-schedules", help="Start the runs of the project's schedules at their ticks."
    ),
) -> None:
    """Run queue workers: step workers and orchestrators, all of them or those named with --queue; and the
    project's schedules (each tick's run started once across all workers) unless --no-schedules."""
    _configure_logging(log_format)
    config = load_project(root)
    queues = _chosen_queues(config, queue or [])
    run_loop(_serve(config, queues, concurrency, lease, stop_grace, run_schedules))


def _configure_logging(log_format: str) -> None:
    """Log records of pikku and the app to stderr: readable by default, JSON lines with ``json``. Records
    written in a pass or a step carry run_id, workflow, step and attempt (see pikku._logcontext)."""
    if log_format not in ("text", "json"):
        raise ConfigError(f"unknown --log-format {log_format!r}", hint="use text or json")
    handler: logging.Handler
    if log_format == "json":
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
    elif sys.stderr.isatty():  # a person watching: rich's columns and colours
        handler = RichHandler(console=Console(stderr=True), show_path=False, rich_tracebacks=False)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    else:  # a log file or a pipe: one plain line per record, never wrapped
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)


def _chosen_queues(config: PikkuConfig, wanted: list[str]) -> list[str] | None:
    if not wanted:
        return None
    known = {w.queue for w in queue_workers(config)}
    unknown = sorted(set(wanted) - known)
    if unknown:
        raise ConfigError(
            f"unknown queue(s): {', '.join(unknown)}",
            hint=f"generated queues are: {', '.join(sorted(known))}",
        )
    return sorted(set(wanted))


async def _serve(
    config: PikkuConfig,
    queues: list[str] | None,
    concurrency: int,
    lease: float,
    stop_grace: float,
    run_schedules: bool = True,
) -> None:
    runtime = await project_runtime(config)
    set_runtime(runtime)
    sweep = config.settings
    w = Worker(
        runtime.engine,
        queues=queues,
        concurrency=concurrency,
        lease=lease,
        stop_grace=stop_grace,
        recovery_interval=float(sweep.get("recovery_interval", 30.0)) or None,
        recovery_stale_after=float(sweep.get("recovery_stale_after", 300.0)),
        retention=config.retention,
        schedules=run_schedules,
    )
    w.install_signal_handlers()
    served = "all queues" if queues is None else ", ".join(queues)
    local = "steps of served queues run in the pass" if runtime.engine.settings.local_steps else "local steps off"
    ticking = len(w.scheduler.schedules) if w.scheduler is not None else 0
    log.info(
        "pikku worker %s: %s, concurrency %d, %s, %d schedule(s), %s",
        runtime.engine.owner,
        served,
        concurrency,
        local,
        ticking,
        redact_url(runtime.backend.state_url),
    )
    try:
        await w.run()
    finally:
        await runtime.close()
        log.info("pikku worker stopped after %d job(s).", w.processed)
