"""Callbacks optional integrations install for code that runs rarely (a leaf module: imports nothing)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class _Hooks:
    """``event``: a span event on the current span (a sleep reached, a patch decided); None when unused."""

    event: Callable[[str, dict[str, Any]], None] | None = None


HOOKS = _Hooks()

__all__ = ["HOOKS"]
