"""A wrapper for transitions whose writes lose their replies (imported by name: this directory is on
sys.path under pytest)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any


class RepliesLost:
    """Transitions whose ``writes`` are applied twice and answer with the second result: the reply of a
    write that committed was lost, and the driver's retry found it applied. Everything else passes through."""

    def __init__(self, inner: Any, *writes: str) -> None:
        self._inner = inner
        self._writes = frozenset(writes)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._inner, name)
        return _twice(method) if name in self._writes else method


def _twice(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def applied_twice(*args: Any, **kwargs: Any) -> Any:
        await method(*args, **kwargs)
        return await method(*args, **kwargs)

    return applied_twice
