"""Loading a project for the runtime commands: config, generated wirings, runtime."""

from __future__ import annotations

import importlib
from pathlib import Path

from pikku._config import PikkuConfig, load_config
from pikku._errors import ConfigError
from pikku._registry import QueueWorker
from pikku._runtime import Runtime, import_wirings, open_runtime


def load_project(root: Path | None) -> PikkuConfig:
    """Config plus the generated wirings imported (every workflow and function registered)."""
    config = load_config(root)
    try:
        import_wirings(config)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith(config.package):
            raise ConfigError(
                f"generated code {config.package}.workflow.wirings not found under {config.output_dir}",
                hint="run `pikku prebuild` first",
            ) from exc
        raise
    return config


def queue_workers(config: PikkuConfig) -> tuple[QueueWorker, ...]:
    """The generated queue workers of the project."""
    module = importlib.import_module(f"{config.package}.workflow.workers")
    workers: tuple[QueueWorker, ...] = module.QUEUE_WORKERS
    return workers


async def project_runtime(config: PikkuConfig) -> Runtime:
    """A runtime on the project's configured backend with its services."""
    return await open_runtime(config=config)
