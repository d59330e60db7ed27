"""What the console draws, computed before the templates see it: the step timeline (one bar per step
and attempt, placed on the run's time axis) and the colour of each status.

Colours are data-driven: statuses pikku knows today have a chosen colour, any other (a status added
later) gets a stable hue derived from its name, so a new status shows up coloured without a change here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

_COLOURS = {
    "running": "#2563eb",
    "completed": "#16a34a",
    "done": "#16a34a",
    "failed": "#dc2626",
    "cancelled": "#a16207",
    "pending": "#6b7280",
    "scheduled": "#7c3aed",
}
#: The narrowest bar, in percent of the axis, so an instant step still shows.
MIN_WIDTH = 0.6


def colour(status: str) -> str:
    """The CSS colour of a run or step status."""
    known = _COLOURS.get(status)
    if known is not None:
        return known
    hue = int.from_bytes(hashlib.blake2b(status.encode(), digest_size=2).digest(), "big") % 360
    return f"hsl({hue} 65% 40%)"


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar: a step's attempt (or the step itself, when it ran without attempts, like a sleep)."""

    label: str
    status: str
    colour: str
    left: float
    width: float
    title: str


@dataclass(frozen=True, slots=True)
class Row:
    """A step's line on the timeline."""

    step: str
    status: str
    bars: list[Bar]


@dataclass(frozen=True, slots=True)
class Tick:
    """A mark on the time axis: its place in percent and the time since the run's start."""

    left: float
    label: str


@dataclass(frozen=True, slots=True)
class Timeline:
    """Rows of bars on one axis from the run's start to its end (or now, for a run still going)."""

    rows: list[Row]
    ticks: list[Tick]


def timeline(run: dict[str, Any], steps: list[dict[str, Any]], now: float, settled: bool) -> Timeline:
    """The timeline of a run as ``GET /runs/{id}`` shows it (``run``, ``steps``)."""
    start = float(run["created_at"])
    ends = [float(run["updated_at"])] + [_end(s) for s in steps]
    end = max(ends) if settled else max([now, *ends])
    span = max(end - start, 1e-3)

    def place(a: float, b: float) -> tuple[float, float]:
        left = min(max((a - start) / span * 100, 0.0), 100.0 - MIN_WIDTH)
        return round(left, 3), round(max((b - a) / span * 100, MIN_WIDTH), 3)

    rows = []
    for step in steps:
        bars = []
        for attempt in step["attempts"] or [None]:
            a, b, status, label = _span(step, attempt, end)
            left, width = place(a, b)
            title = f"{label}: {status}, {duration(b - a)}"
            bars.append(Bar(label, status, colour(status), left, min(width, 100.0 - left), title))
        rows.append(Row(step["name"], step["status"], bars))
    ticks = [Tick(p, "+" + duration(span * p / 100)) for p in (0.0, 25.0, 50.0, 75.0, 100.0)]
    return Timeline(rows, ticks)


def _span(step: dict[str, Any], attempt: dict[str, Any] | None, end: float) -> tuple[float, float, str, str]:
    """(start, stop, status, label) of an attempt's bar, or of the step's own for a step without attempts."""
    if attempt is None:
        stop = float(step["updated_at"]) if step["status"] in ("done", "failed") else end
        return float(step["created_at"]), max(stop, float(step["created_at"])), step["status"], step["name"]
    started = float(attempt["started_at"])
    ended = attempt.get("ended_at")
    status = "failed" if attempt.get("error") else "done" if ended is not None else step["status"]
    stop = float(ended) if ended is not None else end
    return started, max(stop, started), status, f"{step['name']} #{attempt['attempt']}"


def _end(step: dict[str, Any]) -> float:
    ends = [float(a["ended_at"]) for a in step["attempts"] if a.get("ended_at") is not None]
    return max([float(step["updated_at"]), *ends])


def duration(seconds: float) -> str:
    """A short human duration: 850 ms, 4.2 s, 3 min 5 s, 2 h 1 min."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"
