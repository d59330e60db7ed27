"""How step values become stored JSON text and come back.

The rule: a workflow always sees what a replay would see. So a fresh result is encoded, and the value
handed back is decoded from that text, the same path a replay takes. Types come from the rpc's (or the
inline function's) return annotation; without one, a pydantic model or dataclass result records its type
as ``module:qualname`` (``result_type``) so replays rebuild the same class; anything else is plain JSON.

A value is stored only after its text was read back (:func:`encode_checked`), so a value that would not
survive a replay (an int too long for Python's JSON reader, a model that does not validate its own dump)
fails its step at once instead of every replay after it. NaN and +-Infinity are refused (JSON has no
such numbers, PostgreSQL's jsonb and other languages' readers reject them). Other values JSON cannot
hold are converted, identically on the first run and on every replay, because the workflow always
receives the decoded text: a set or tuple becomes a list, a datetime an ISO string and a tuple key a
string (``(1, 2)`` -> ``"1,2"``), unless the type annotation says otherwise.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import json
import re
import sys
from typing import Any

import pydantic
import pydantic_core

from pikku._errors import CorruptStateError, PayloadTooLargeError, StepSerializationError

DEFAULT_PAYLOAD_LIMIT = 1024 * 1024

#: Where JSON text may hold a NaN/Infinity constant (a regex search: ``b"NaN" in raw`` first tries the
#: operand as an int and builds a TypeError inside CPython each time, ~3x the cost, on every value stored).
_MAYBE_NON_FINITE = re.compile(rb"NaN|Infinity").search


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


def type_from_tag(tag: str) -> Any:
    """The model or dataclass a stored :func:`type_tag` names, among the classes this process has loaded.

    The tag comes from the database, so it is not trusted: only a module already loaded, or one of the
    app's own packages (those its registered functions and workflows live in), is looked at -- never
    another installed module -- and only a pydantic model or dataclass class is accepted. CorruptStateError
    otherwise.
    """
    module_name, _, qualname = tag.partition(":")
    obj: Any = sys.modules.get(module_name)
    if obj is None and module_name.partition(".")[0] in _APP_PACKAGES:
        obj = _import_app_module(module_name)
    for part in qualname.split(".") if obj is not None else ():
        obj = getattr(obj, part, None) if not part.startswith("__") else None
    if not _is_model_class(obj):
        raise CorruptStateError(
            f"result type {tag!r}", "it names no model or dataclass this app has loaded (types are never imported)"
        )
    return obj


#: Top-level packages of the app's own code (those its functions and workflows are defined in): a stored
#: type tag may name a module of theirs that this process has not imported yet (a model imported inside a
#: step), and that module is the app's own code, which the app would import anyway.
_APP_PACKAGES: set[str] = set()


def trust_package_of(module_name: str) -> None:
    """Let stored type tags name modules of ``module_name``'s top-level package (called at registration)."""
    root = module_name.partition(".")[0]
    if root and root not in ("builtins", "__main__"):
        _APP_PACKAGES.add(root)


def app_packages() -> frozenset[str]:
    """The app's own top-level packages known so far (those its registered functions and workflows live in)."""
    return frozenset(_APP_PACKAGES)


def _import_app_module(module_name: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except Exception:  # a tag naming a module the app does not have: refused below like any unknown type
        return None


def _is_model_class(obj: Any) -> bool:
    return isinstance(obj, type) and (issubclass(obj, pydantic.BaseModel) or dataclasses.is_dataclass(obj))


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
    if _MAYBE_NON_FINITE(raw) is not None and _has_non_finite(raw):
        raise StepSerializationError(
            f"{what} produced a value holding NaN or Infinity, which JSON cannot store",
            hint="return None (or a string) for a missing or unbounded number",
        )
    if len(raw) > limit:
        raise PayloadTooLargeError(
            f"{what} produced {len(raw)} bytes of JSON, over the {limit}-byte limit",
            hint="store large data elsewhere and return a reference, or raise payload_limit in [tool.pikku]",
        )
    return raw.decode()


def _has_non_finite(raw: bytes) -> bool:
    """Whether JSON text holds a NaN/Infinity constant (not merely those letters inside a string)."""

    def refuse(constant: str) -> Any:
        raise ValueError(constant)

    try:
        json.loads(raw, parse_constant=refuse)
    except ValueError:
        return True
    return False


def encode_checked(
    value: Any, tp: Any = None, tag: str | None = None, *, what: str, limit: int = DEFAULT_PAYLOAD_LIMIT
) -> tuple[str, Any]:
    """:func:`encode`, then read the text back as a replay will: the text and the value a replay sees.

    StepSerializationError when the text does not come back (the value would break every replay).
    """
    text = encode(value, tp, what=what, limit=limit)
    try:
        return text, decode(text, tp, tag)
    except (ValueError, pydantic.ValidationError, CorruptStateError) as exc:
        raise StepSerializationError(
            f"{what} produced a {type(value).__name__} whose JSON cannot be read back: {_first_line(exc)}",
            hint="return plain JSON values, pydantic models or dataclasses (ints under 4300 digits)",
        ) from exc


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def decode(text: str, tp: Any = None, tag: str | None = None) -> Any:
    """The value for stored JSON text: validated into ``tp`` or the tagged class, else plain JSON."""
    if is_any(tp) and tag is not None:
        tp = type_from_tag(tag)
    if is_any(tp):
        return json.loads(text)
    return adapter(tp).validate_json(text)
