"""Schedules: ``wire_schedule(name=..., cron=..., workflow=..., input=...)`` and what the process knows of them.

Like ``wire_workflow``, the call registers at import (the generated wirings import every module that makes
one) and ``pikku prebuild`` reads the same call from source to check it. Workers run the schedules
(:mod:`pikku._engine.schedules`); ``pikku schedules`` lists, pauses, resumes and triggers them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from pikku._cron import Cron, cron_problem, timezone_problem
from pikku._errors import ConfigError, InvalidInputError

Catchup = Literal["latest", "all", "none"]
Overlap = Literal["skip", "allow"]
CATCHUP_MODES: tuple[str, ...] = get_args(Catchup)
OVERLAP_MODES: tuple[str, ...] = get_args(Overlap)
#: Characters a schedule name may not hold: its runs are ``<schedule>@<tick>``, and ``/`` names child runs.
RESERVED_IN_NAMES = ("@", "/")


@dataclass(frozen=True, slots=True)
class ScheduleDef:
    """A wired schedule: start a run of ``workflow`` with ``input`` at each tick of ``cron``.

    ``catchup`` says what a worker starting up does with ticks missed while none ran (``latest``: run the
    latest one only; ``all``: each in turn; ``none``: none). ``overlap`` says whether a tick starts a run
    while the run of the previous tick is still going (``skip``: no; ``allow``: yes).
    """

    name: str
    cron: Cron
    workflow: str
    input: Any = None
    catchup: Catchup = "latest"
    overlap: Overlap = "skip"
    description: str | None = None


_SCHEDULES: dict[str, ScheduleDef] = {}


def name_problem(name: object) -> str | None:
    """Why ``name`` cannot name a schedule, or None when it can."""
    if not isinstance(name, str) or not name or not name.isprintable():
        return "it is not a non-empty printable string"
    reserved = [c for c in RESERVED_IN_NAMES if c in name]
    if reserved:
        return f"it holds {reserved[0]!r}, which run ids reserve (schedule runs are '<schedule>@<tick>')"
    return None


def wire_schedule(
    *,
    name: str,
    cron: str,
    workflow: str,
    input: Any = None,  # the name the API pins: wire_schedule(..., input={...})
    timezone: str = "UTC",
    catchup: Catchup = "latest",
    overlap: Overlap = "skip",
    description: str | None = None,
) -> ScheduleDef:
    """Start a run of the workflow ``workflow`` with ``input`` at every tick of ``cron`` (in ``timezone``).

    Every worker (``pikku worker``) runs the schedules; each tick's run is started exactly once across all
    of them and across restarts, as the run ``<name>@<UTC tick>Z``. ``catchup`` ("latest", the default;
    "all"; "none") says which ticks missed while no worker ran are run on start-up; ``overlap`` ("skip",
    the default; "allow") whether a tick starts a run while the previous tick's run is still going.
    """
    _check(name, cron, timezone, catchup, overlap)
    schedule = ScheduleDef(name, Cron(cron, timezone), workflow, input, catchup, overlap, description)
    existing = _SCHEDULES.get(name)
    if existing is not None and existing != schedule:
        raise ConfigError(
            f"schedule name {name!r} is wired twice, differently (workflows {existing.workflow!r} and {workflow!r})",
            hint="schedule names are unique; rename one",
        )
    _SCHEDULES[name] = schedule
    return schedule


def _check(name: str, cron: str, timezone: str, catchup: str, overlap: str) -> None:
    problems = [
        ("name", repr(name), name_problem(name), 'e.g. name="nightly-report"'),
        ("cron", repr(cron), cron_problem(cron) if isinstance(cron, str) else "not a string", 'e.g. "0 3 * * *"'),
        ("timezone", repr(timezone), _zone_problem(timezone), 'an IANA name, e.g. "UTC" or "Europe/Helsinki"'),
        ("catchup", repr(catchup), None if catchup in CATCHUP_MODES else "unknown", f"one of {CATCHUP_MODES}"),
        ("overlap", repr(overlap), None if overlap in OVERLAP_MODES else "unknown", f"one of {OVERLAP_MODES}"),
    ]
    for what, shown, problem, hint in problems:
        if problem is not None:
            raise ConfigError(f"schedule {name!r}: {what} {shown} is invalid: {problem}", hint=hint)


def _zone_problem(timezone: object) -> str | None:
    return timezone_problem(timezone) if isinstance(timezone, str) else "not a string"


def schedules() -> dict[str, ScheduleDef]:
    """All wired schedules by name (a copy, sorted by name)."""
    return dict(sorted(_SCHEDULES.items()))


def get_schedule(name: str) -> ScheduleDef:
    """The wired schedule ``name``, or InvalidInputError naming the known ones."""
    try:
        return _SCHEDULES[name]
    except KeyError:
        known = ", ".join(sorted(_SCHEDULES)) or "none are wired"
        raise InvalidInputError(
            f"unknown schedule {name!r}", hint=f"schedules of this project: {known} (see pikku schedules list)"
        ) from None
