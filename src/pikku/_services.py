"""What a function receives as ``services``: pikku's own (``workflow``, ``rpc``, ``logger``, ``step``)
together with the app's singletons (made once per process by the factory named in ``[tool.pikku]``).
"""

from __future__ import annotations

import inspect
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pikku import _serde
from pikku._errors import InvalidInputError
from pikku._logcontext import get_logger
from pikku._registry import FunctionDef, get_function

if TYPE_CHECKING:
    from pikku._engine.context import WorkflowContext

#: Frozen forever: changing it would change every invocation id ever handed to user code.
INVOCATION_NAMESPACE = uuid.UUID("5b0c6d7e-3f0a-4c55-9a57-2b0e8b6f7a11")

#: ``services.logger``: records written inside a pass or a step carry run_id, workflow, step, attempt.
logger = get_logger("pikku.app")


def invocation_id(run_id: str, step: str) -> str:
    """The id of a step's execution: the same across retries, replays, redeliveries and backends."""
    return str(uuid.uuid5(INVOCATION_NAMESPACE, f"{run_id}:{step}"))


@dataclass(frozen=True, slots=True)
class StepContext:
    """Which step execution is running, for making side effects idempotent (``services.step``)."""

    run_id: str
    workflow: str
    name: str
    attempt: int

    @property
    def invocation_id(self) -> str:
        """``uuid5(frozen namespace, f"{run_id}:{name}")``: computed on use, most steps never ask."""
        return invocation_id(self.run_id, self.name)


class Services:
    """Attribute bag: pikku's services first, then the app's singletons (a mapping or an object)."""

    def __init__(
        self,
        app: Any,
        *,
        rpc: RPC,
        workflow: WorkflowContext | None = None,
        step: StepContext | None = None,
        log: logging.Logger = logger,
    ) -> None:
        self._app = app
        self.rpc = rpc
        self.workflow = workflow
        self.step = step
        self.logger = log

    def __getattr__(self, name: str) -> Any:
        app = self.__dict__.get("_app")
        if isinstance(app, Mapping) and name in app:
            return app[name]
        if app is not None and not isinstance(app, Mapping) and hasattr(app, name):
            return getattr(app, name)
        raise AttributeError(
            f"services has no {name!r}: not one of pikku's (workflow, rpc, logger, step) nor made by "
            "the app's services factory ([tool.pikku] services = 'module:function')"
        )


class RPC:
    """``services.rpc``: call any registered function by its rpc name."""

    def __init__(self, app: Any) -> None:
        self._app = app

    async def invoke(self, rpc_name: str, data: Any = None, *, step: StepContext | None = None) -> Any:
        """Run the function with validated input and return its result."""
        fn = get_function(rpc_name)
        services = Services(self._app, rpc=self, step=step)
        return await call_function(fn, services, data)


async def call_function(fn: FunctionDef, services: Services, data: Any) -> Any:
    """Validate ``data`` against the function's input type, call it (sync or async), return its result."""
    args: tuple[Any, ...] = (services,)
    if fn.takes_data:
        args = (services, validate_input(fn, data))
    result = fn.func(*args)
    if inspect.isawaitable(result):
        result = await result
    return result


async def call_workflow(func: Callable[..., Any], services: Services, data: Any, takes_data: bool) -> Any:
    """Call a workflow function (sync or async) with its services and, if it takes one, its input."""
    result = func(services, data) if takes_data else func(services)
    if inspect.isawaitable(result):
        result = await result
    return result


def validate_input(fn: FunctionDef, data: Any) -> Any:
    """``data`` as the function's declared input type; InvalidInputError listing the field errors."""
    tp = fn.input_type
    if _serde.is_any(tp):
        return data
    try:
        return _serde.adapter(tp).validate_python(data)
    except Exception as exc:
        raise InvalidInputError(
            f"input for {fn.rpc_name!r} does not match {getattr(tp, '__name__', tp)}: {exc}",
            hint="pass data matching the function's annotated input model",
        ) from exc
