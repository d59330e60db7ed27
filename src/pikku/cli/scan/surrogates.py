"""Lone surrogates in the names and descriptions a file gives: reported where they are written."""

from __future__ import annotations

import dataclasses

from pikku.cli.model import Diagnostic, Location
from pikku.cli.scan import diagnostics as codes
from pikku.cli.scan.diagnostics import diagnostic
from pikku.cli.scan.facts import FileFacts, FunctionFacts, WireFacts


def surrogates_reported(facts: FileFacts) -> FileFacts:
    """The facts plus PKU022 for each name, description holding a lone surrogate.

    Such text (only an escape like ``"\\ud800"`` can make it) cannot be encoded as UTF-8, so the
    database, the queue and generated files would all refuse it later, far from its cause.
    """
    wires = [_surrogate(w.location, f"wire_workflow {what}", text) for w in facts.wires for what, text in _texts(w)]
    functions = tuple(_function_surrogates(f) for f in facts.functions)
    found = [d for d in wires if d is not None]
    if not found and functions == facts.functions:
        return facts
    return dataclasses.replace(facts, functions=functions, diagnostics=(*facts.diagnostics, *found))


def _texts(wire: WireFacts) -> list[tuple[str, str | None]]:
    return [("name", wire.name), ("description", wire.description), ("on_failure rpc name", wire.on_failure)]


def _function_surrogates(func: FunctionFacts) -> FunctionFacts:
    rpc = _surrogate(func.location, f"@pikku_func name of {func.name}", func.rpc_name)
    steps = [
        _surrogate(s.location, f"step {what} in {func.name}", text)
        for s in func.steps
        for what, text in (
            ("name", s.name),
            ("description", s.description),
            ("rpc name", s.rpc_name),
            ("child workflow name", s.workflow),
            ("on_error rpc name", s.on_error),
            ("event name", s.event),
        )
    ]
    step_found = tuple(d for d in steps if d is not None)
    if rpc is None and not step_found:
        return func
    return dataclasses.replace(
        func,
        type_diagnostics=(*func.type_diagnostics, *([rpc] if rpc is not None else [])),
        step_diagnostics=(*func.step_diagnostics, *step_found),
    )


def _surrogate(where: Location, what: str, text: str | None) -> Diagnostic | None:
    if text is None or text.isascii() or not any("\ud800" <= ch <= "\udfff" for ch in text):
        return None
    return diagnostic(codes.LONE_SURROGATE, where, f"{what} {text!r} holds a lone surrogate")
