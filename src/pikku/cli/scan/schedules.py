"""``wire_schedule(name=..., cron=..., workflow=..., ...)``: read from source and checked as the runtime will.

Everything but ``input=`` must be a string literal, so prebuild can check what a worker would refuse at
import (a cron expression croniter rejects, an unknown timezone, a reserved character in the name) and
report it at its place. Whether ``workflow=`` names a wired workflow needs every file: the link phase.
"""

from __future__ import annotations

from collections.abc import Callable

import libcst as cst

from pikku._cron import cron_problem, timezone_problem
from pikku._schedules import CATCHUP_MODES, OVERLAP_MODES, name_problem
from pikku.cli.model import Location
from pikku.cli.scan import diagnostics as codes
from pikku.cli.scan.facts import ScheduleFacts
from pikku.cli.scan.steps import literal_str

#: ``report(code, node, message, hint)``: a diagnostic at ``node`` (``hint`` None: the code's own).
Report = Callable[[str, cst.CSTNode, str, "str | None"], None]

# Renders small expressions for messages; any Module works since they hold no indentation.
_CODEGEN = cst.Module(body=())
_CHOICES = {"catchup": CATCHUP_MODES, "overlap": OVERLAP_MODES}
_DEFAULTS = {"timezone": "UTC", "catchup": "latest", "overlap": "skip"}
_NAME_HINT = "name it with printable characters but '@' and '/' (run ids reserve them), e.g. \"nightly-report\""


def read_schedule(call: cst.Call, at: Callable[[cst.CSTNode], Location], report: Report) -> ScheduleFacts | None:
    """The facts of a ``wire_schedule(...)`` call, or None after reporting what is wrong with it."""
    keywords = {a.keyword.value: a.value for a in call.args if a.keyword is not None}
    reader = _Reader(call, keywords, report)
    name = reader.text("name", required=True)
    reader.check_name(name)
    values = {what: reader.text(what, required=what in ("cron", "workflow")) for what in ("cron", "workflow")}
    values |= {what: reader.text(what) for what in ("timezone", "catchup", "overlap")}
    reader.check(values)
    if name is None or not reader.ok:
        return None
    return ScheduleFacts(
        name=name,
        cron=values["cron"] or "",
        workflow=values["workflow"] or "",
        timezone=values["timezone"] or _DEFAULTS["timezone"],
        catchup=values["catchup"] or _DEFAULTS["catchup"],
        overlap=values["overlap"] or _DEFAULTS["overlap"],
        description=literal_str(keywords.get("description")),
        location=at(call),
        workflow_location=at(keywords["workflow"]),
    )


class _Reader:
    """Reads the literal arguments of one call, reporting each bad one (``ok`` False after any)."""

    def __init__(self, call: cst.Call, keywords: dict[str, cst.BaseExpression], report: Report) -> None:
        self.call, self.keywords, self.report = call, keywords, report
        self.ok = True
        self.shown_name = "wire_schedule"

    def text(self, what: str, *, required: bool = False) -> str | None:
        """The string literal ``what=`` gives (None when absent); PKU033 for a missing or non-literal one."""
        node = self.keywords.get(what)
        if node is None:
            if required:
                self._bad(codes.SCHEDULE_ARGUMENT_INVALID, self.call, f"wire_schedule(...) has no {what}=")
            return None
        value = literal_str(node)
        if value is None:
            shown = _CODEGEN.code_for_node(node)
            self._bad(codes.SCHEDULE_ARGUMENT_INVALID, node, f"{self._of()} {what} {shown} is not a string literal")
        return value

    def check_name(self, name: str | None) -> None:
        if name is None:
            return
        problem = name_problem(name)
        if problem is not None:
            message = f"schedule name {name!r} cannot be used: {problem}"
            self._bad(codes.SCHEDULE_ARGUMENT_INVALID, self.keywords["name"], message, _NAME_HINT)
            return
        self.shown_name = f"schedule {name!r}"

    def check(self, values: dict[str, str | None]) -> None:
        """PKU034 for a cron expression croniter refuses, PKU035 for an unknown timezone, PKU033 for an
        unknown catchup or overlap mode."""
        checks = [
            ("cron", codes.BAD_CRON, cron_problem, None),
            ("timezone", codes.BAD_TIMEZONE, timezone_problem, None),
            *((what, codes.SCHEDULE_ARGUMENT_INVALID, _choice(what), _choice_hint(what)) for what in _CHOICES),
        ]
        for what, code, problem_of, hint in checks:
            value = values[what]
            problem = None if value is None else problem_of(value)
            if problem is not None:
                message = f"{self._of()} {what} {value!r} is invalid: {problem}"
                self._bad(code, self.keywords[what], message, hint)

    def _of(self) -> str:
        return self.shown_name

    def _bad(self, code: str, node: cst.CSTNode, message: str, hint: str | None = None) -> None:
        self.ok = False
        self.report(code, node, message, hint)


def _choice(what: str) -> Callable[[str], str | None]:
    allowed = _CHOICES[what]

    def problem(value: str) -> str | None:
        return None if value in allowed else "it is not a mode pikku knows"

    return problem


def _choice_hint(what: str) -> str:
    first, *others = (f'"{choice}"' for choice in _CHOICES[what])
    return f"use {what}={first} (the default){', ' if len(others) > 1 else ' or '}" + " or ".join(others)
