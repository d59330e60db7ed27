"""Events from the engine's side: what a run's steps wait for, and a sent payload checked and encoded."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pydantic

from pikku import _serde
from pikku._errors import InvalidEventPayloadError, UnknownEventError
from pikku._records import StepRecord
from pikku._registry import WorkflowDef


def awaited_events(steps: Iterable[StepRecord]) -> tuple[str, ...]:
    """The events a run's unfinished ``wait_for_event`` steps wait for, in the order given, once each."""
    names: list[str] = []
    for step in steps:
        if step.form == "event" and step.status not in ("done", "failed"):
            event = _event_of(step)
            if event is not None and event not in names:
                names.append(event)
    return tuple(names)


def _event_of(step: StepRecord) -> str | None:
    """The event name a wait step recorded in its input (``{"event": ..., "timeout": ...}``)."""
    try:
        data = json.loads(step.data_json or "null")
    except ValueError:
        return None
    event = data.get("event") if isinstance(data, dict) else None
    return event if isinstance(event, str) else None


def event_payload_json(wf: WorkflowDef, event: str, payload: Any, limit: int) -> str:
    """An event's payload as stored JSON, validated against the model ``wf`` waits for it with (when prebuild
    told the process, see ``register_workflow_events``); UnknownEventError for an event it never waits for,
    InvalidEventPayloadError for a payload the model refuses (or none at all)."""
    model: Any = None
    if wf.events is not None:
        if event not in wf.events:
            raise UnknownEventError(wf.name, event, list(wf.events))
        model = wf.events[event]
    what = f"event {event!r} of workflow {wf.name!r}"
    if not _serde.is_any(model):
        try:
            payload = _serde.adapter(model).validate_python(payload)
        except pydantic.ValidationError as exc:
            errors = json.loads(exc.json(include_url=False))
            fields = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(value)'}: {e['msg']}" for e in errors)
            raise InvalidEventPayloadError(
                f"the payload of {what} does not match {getattr(model, '__name__', model)}: {fields}",
                errors,
                hint="send a payload of the model its wait_for_event names; the run keeps waiting",
            ) from None
    text = _serde.encode(payload, model, what=f"payload of {what}", limit=limit)
    if text == "null":
        raise InvalidEventPayloadError(
            f"the payload of {what} is null", [], hint="send a value: a wait that gets None has timed out"
        )
    return text
