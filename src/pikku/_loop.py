"""The event loop pikku's own entry points run on: uvloop when it is installed (``pip install
'pikku[fast]'``), else asyncio's own.

uvloop runs the same asyncio code on a loop written in C. An engine pass is mostly database round trips,
each a few loop callbacks (a reader added and removed, a timer), so uvloop cuts pikku's CPU per step (by
10-20% on PostgreSQL in A/B runs; a queue drain 5-15% faster, see bench/NOTES.md).
``PIKKU_EVENT_LOOP=asyncio`` keeps the standard loop, for instance to rule uvloop out while debugging.
Applications that run their own loop (an ASGI server) keep it: this only applies where pikku creates the
loop (the CLI, workers, the sync facade).
"""

from __future__ import annotations

import asyncio
import importlib
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from pikku._errors import ConfigError

T = TypeVar("T")

ENV = "PIKKU_EVENT_LOOP"


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """The constructor of the loop pikku runs on, as ``PIKKU_EVENT_LOOP`` (auto, uvloop, asyncio) asks."""
    choice = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if choice not in ("auto", "uvloop", "asyncio"):
        raise ConfigError(f"{ENV}={choice!r} is not a loop pikku knows", hint="use auto, uvloop or asyncio")
    if choice == "asyncio":
        return asyncio.new_event_loop
    try:
        factory: Callable[[], asyncio.AbstractEventLoop] = importlib.import_module("uvloop").new_event_loop
    except ImportError:  # not installed (or a broken wheel): auto settles for the standard loop
        if choice == "uvloop":
            raise ConfigError(f"{ENV}=uvloop but uvloop cannot be imported", hint="pip install 'pikku[fast]'") from None
        return asyncio.new_event_loop
    return factory


def loop_name() -> str:
    """``uvloop`` or ``asyncio``: what :func:`new_loop` makes here."""
    return "asyncio" if loop_factory() is asyncio.new_event_loop else "uvloop"


def new_loop() -> asyncio.AbstractEventLoop:
    """A new event loop of pikku's choice (not set as the current one)."""
    return loop_factory()()


def run(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on pikku's loop."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(coro)
