"""Cron expressions and timezones of schedules (``wire_schedule``), through croniter: never parsed by hand.

One place answers "is this cron expression / timezone valid?" (for ``wire_schedule`` at import and for
``pikku prebuild``'s diagnostics alike) and "when are the ticks?" (for the scheduler). Ticks are epoch
seconds; they are computed in the schedule's timezone, so ``0 3 * * *`` in ``Europe/Helsinki`` is 03:00 there
across daylight-saving changes, and named in run ids by their UTC time.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass, field

from croniter import croniter

#: What a timezone name may look like before it is looked up ("Europe/Helsinki", "Etc/GMT+3", "UTC"): the
#: name becomes a path inside the timezone database, so nothing else (no "..", no leading "/") gets that far.
_ZONE_NAME = re.compile(r"[A-Za-z0-9_+\-]+(?:/[A-Za-z0-9_+\-]+)*")
_UTC_NAMES = frozenset({"UTC", "Etc/UTC"})


def cron_problem(expression: str) -> str | None:
    """Why ``expression`` is not a cron expression croniter can schedule, or None when it is."""
    if not expression.strip() or "\n" in expression:
        return "it is empty" if not expression.strip() else "it spans several lines"
    try:
        croniter(expression, dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    except (ValueError, KeyError, TypeError) as exc:  # croniter's own errors are ValueErrors
        return str(exc) or type(exc).__name__
    return None


def timezone_problem(name: str) -> str | None:
    """Why ``name`` is not a timezone this machine knows, or None when it is."""
    try:
        zone(name)
    except ValueError as exc:
        return str(exc)
    return None


def zone(name: str) -> dt.tzinfo:
    """The timezone ``name`` (an IANA name such as ``Europe/Helsinki``); ValueError for an unknown one."""
    if name in _UTC_NAMES:
        return dt.UTC
    if not _ZONE_NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not an IANA timezone name")
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"no timezone {name!r} in this machine's timezone database") from None


@dataclass(frozen=True, slots=True)
class Cron:
    """A checked cron expression in a timezone: the ticks of a schedule."""

    expression: str
    timezone: str = "UTC"
    _zone: dt.tzinfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        problem = cron_problem(self.expression)
        if problem is not None:
            raise ValueError(f"cron expression {self.expression!r} is invalid: {problem}")
        object.__setattr__(self, "_zone", zone(self.timezone))

    def _at(self, moment: float) -> dt.datetime:
        return dt.datetime.fromtimestamp(moment, tz=dt.UTC).astimezone(self._zone)

    def next_after(self, moment: float) -> float:
        """The first tick strictly after ``moment``."""
        tick: float = croniter(self.expression, self._at(moment)).get_next(float)
        return tick

    def latest_at_or_before(self, moment: float) -> float:
        """The last tick at or before ``moment``."""
        # croniter's get_prev is strictly before its start: start a hair after the moment itself.
        tick: float = croniter(self.expression, self._at(moment + 1e-3)).get_prev(float)
        return tick if tick <= moment else croniter(self.expression, self._at(moment)).get_prev(float)


def iso_utc(moment: float, *, micro: bool = False) -> str:
    """``2026-01-01T03:00:00Z``: a moment in UTC as run ids and listings write it (``micro``: with
    microseconds, ``2026-01-01T03:00:00.123456Z``)."""
    when = dt.datetime.fromtimestamp(moment, tz=dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f" if micro else "%Y-%m-%dT%H:%M:%S") + "Z"


def tick_run_id(schedule: str, tick: float) -> str:
    """The run id of a schedule's tick, ``<schedule>@<UTC tick>Z``: the same in every worker, so the
    idempotent start makes one run per tick however many workers start it."""
    return f"{schedule}@{iso_utc(tick)}"


def trigger_run_id(schedule: str, moment: float) -> str:
    """The run id of a manual trigger (``pikku schedules trigger``): the trigger time with microseconds, a
    form no tick's id has, so a trigger never takes a tick's run."""
    return f"{schedule}@{iso_utc(moment, micro=True)}"
