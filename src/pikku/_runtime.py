"""The runtime a process uses: backend + engine + app services, one per event loop.

Created lazily from ``[tool.pikku]`` the first time a client or worker needs it, or installed explicitly
(``pikku.testing`` and the worker do). One per event loop because database drivers bind their connections
to the loop that opened them.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import sys
import weakref
from dataclasses import dataclass, field
from typing import Any

from pikku import _telemetry
from pikku._config import PikkuConfig, load_config
from pikku._engine.engine import Engine, Settings
from pikku._errors import ConfigError
from pikku.backends import Backend, open_backend


@dataclass(slots=True)
class Runtime:
    """A backend, the engine over it, and the config it came from (None when built by hand)."""

    engine: Engine
    config: PikkuConfig | None = None
    _closed: bool = field(default=False)

    @property
    def backend(self) -> Backend:
        """The state store and queue in use."""
        return self.engine.backend

    async def close(self) -> None:
        """Close the engine and the backend (idempotent)."""
        if not self._closed:
            self._closed = True
            await self.engine.close()  # the kept workflows first: they unwind without touching the backend
            await self.engine.backend.close()


@dataclass(slots=True)
class _Overrides:
    state_url: str | None = None
    queue_url: str | None = None
    services: Any = None
    settings: Settings | None = None


_overrides = _Overrides()
_runtimes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Runtime] = weakref.WeakKeyDictionary()
_opening: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


def configure(
    *,
    state_url: str | None = None,
    queue_url: str | None = None,
    services: Any = None,
    settings: Settings | None = None,
) -> None:
    """Override ``[tool.pikku]`` for runtimes opened after this call (scripts, tests, web apps)."""
    _overrides.state_url, _overrides.queue_url = state_url, queue_url
    _overrides.services, _overrides.settings = services, settings


async def open_runtime(
    *,
    config: PikkuConfig | None = None,
    state_url: str | None = None,
    queue_url: str | None = None,
    services: Any = None,
    settings: Settings | None = None,
) -> Runtime:
    """Open a new runtime: URLs and services from the arguments, else from ``config``."""
    if state_url is None:
        if config is None:
            raise ConfigError("no state URL given and no [tool.pikku] config", hint="pass state_url='sqlite:///...'")
        state_url = config.resolved_state_url()
        queue_url = queue_url or config.resolved_queue_url()
    backend = await open_backend(state_url, queue_url)
    if services is None and config is not None:
        services = await make_services(config)
    if settings is None and config is not None:
        settings = engine_settings(config)
    engine = Engine(backend, services, settings)
    _telemetry.instrument(engine)  # spans and metrics when an OpenTelemetry SDK is configured; else nothing
    return Runtime(engine, config)


def engine_settings(config: PikkuConfig) -> Settings:
    """``pikku.Settings`` from ``[tool.pikku.settings]`` (keys of the worker's sweep are left out)."""
    fields = set(Settings.__dataclass_fields__)
    return Settings(**{k: v for k, v in config.settings.items() if k in fields})  # type: ignore[arg-type]


async def make_services(config: PikkuConfig) -> Any:
    """Call the app's services factory (``module:function``, sync or async, optionally taking the config)."""
    if not config.services:
        return None
    module_name, _, attr = config.services.partition(":")
    _ensure_importable(config)
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f"[tool.pikku] services = {config.services!r} cannot be loaded: {exc}",
            hint="name a function as 'package.module:function'",
        ) from exc
    result = factory(config) if inspect.signature(factory).parameters else factory()
    return await result if inspect.isawaitable(result) else result


def _ensure_importable(config: PikkuConfig) -> None:
    for folder in (config.root, config.output_dir):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))


def import_wirings(config: PikkuConfig) -> None:
    """Import the generated wirings so every workflow and function of the project is registered."""
    _ensure_importable(config)
    importlib.import_module(f"{config.package}.workflow.wirings")


async def get_runtime() -> Runtime:
    """The runtime of the running event loop, opened on first use from configure() or [tool.pikku]."""
    loop = asyncio.get_running_loop()
    runtime = _runtimes.get(loop)
    if runtime is not None:
        return runtime
    lock = _opening.setdefault(loop, asyncio.Lock())
    async with lock:
        if loop not in _runtimes:
            _runtimes[loop] = await _open_default()
    return _runtimes[loop]


async def _open_default() -> Runtime:
    o = _overrides
    config = None if o.state_url else load_config()
    return await open_runtime(
        config=config, state_url=o.state_url, queue_url=o.queue_url, services=o.services, settings=o.settings
    )


def set_runtime(runtime: Runtime | None) -> None:
    """Install (or with None, forget) the runtime of the running event loop."""
    loop = asyncio.get_running_loop()
    if runtime is None:
        _runtimes.pop(loop, None)
    else:
        _runtimes[loop] = runtime
