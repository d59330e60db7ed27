"""Callbacks optional integrations install for code that runs rarely (a leaf module: imports nothing)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class _Hooks:
    """``event``: a span event on the current span (a sleep reached, a patch decided); None when unused.

    ``handle``: the client's handle of a run, ``handle(workflow, run_id)`` (``pikku._client`` installs it:
    ``workflow.start_workflow`` returns one, and the engine sits below the client).
    """

    event: Callable[[str, dict[str, Any]], None] | None = None
    handle: Callable[[str, str], Any] | None = None


HOOKS = _Hooks()

__all__ = ["HOOKS"]
