"""How step values become stored JSON text and come back.

The rule: a workflow always sees what a replay would see. So a fresh result is encoded, and the value
handed back is decoded from that text, the same path a replay takes. Types come from the rpc's (or the
inline function's) return annotation; without one, a pydantic model or dataclass result records its type
as ``module:qualname`` (``result_type``) so replays rebuild the same class; anything else is plain JSON.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import json
from typing import Any

import pydantic
import pydantic_core

from pikku._errors import PayloadTooLargeError, StepSerializationError

DEFAULT_PAYLOAD_LIMIT = 1024 * 1024


@functools.lru_cache(maxsize=1024)
def adapter(tp: Any) -> pydantic.TypeAdapter[Any]:
    """A cached TypeAdapter: building one costs far more than using it."""
    return pydantic.TypeAdapter(tp)


def is_any(tp: Any) -> bool:
    """True when a type hint tells nothing (missing or ``Any``)."""
    return tp is None or tp is Any


def type_tag(value: Any) -> str | None:
    """``module:qualname`` for a model or dataclass instance, the only values whose class JSON loses."""
    if isinstance(value, pydantic.BaseModel) or (dataclasses.is_dataclass(value) and not isinstance(value, type)):
        cls = type(value)
        return f"{cls.__module__}:{cls.__qualname__}"
    return None


@functools.lru_cache(maxsize=256)
def type_from_tag(tag: str) -> Any:
    """The class a :func:`type_tag` names (imported on first use)."""
    module, _, qualname = tag.partition(":")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def encode(value: Any, tp: Any = None, *, what: str, limit: int = DEFAULT_PAYLOAD_LIMIT) -> str:
    """JSON text for ``value`` (typed by ``tp`` when known). ``what`` names it in errors."""
    try:
        if not is_any(tp):
            raw = adapter(tp).dump_json(value)
        elif isinstance(value, pydantic.BaseModel):
            raw = value.__pydantic_serializer__.to_json(value)
        else:
            raw = pydantic_core.to_json(value)
    except (pydantic_core.PydanticSerializationError, pydantic.ValidationError, TypeError, ValueError) as exc:
        raise StepSerializationError(
            f"{what} produced a value of type {type(value).__name__} that cannot be stored as JSON: {exc}",
            hint="return JSON values, pydantic models or dataclasses",
        ) from exc
    if len(raw) > limit:
        raise PayloadTooLargeError(
            f"{what} produced {len(raw)} bytes of JSON, over the {limit}-byte limit",
            hint="store large data elsewhere and return a reference, or raise payload_limit in [tool.pikku]",
        )
    return raw.decode()


def decode(text: str, tp: Any = None, tag: str | None = None) -> Any:
    """The value for stored JSON text: validated into ``tp`` or the tagged class, else plain JSON."""
    if is_any(tp) and tag is not None:
        tp = type_from_tag(tag)
    if is_any(tp):
        return json.loads(text)
    return adapter(tp).validate_json(text)
