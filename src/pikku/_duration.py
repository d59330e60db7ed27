"""Durations as users write them: ``"5s"``, ``"100ms"``, ``"2m"``, ``"1h30m"``, ``"1d"``, or seconds."""

from __future__ import annotations

import re

from pikku._errors import InvalidDurationError

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+")


def parse_duration(value: str | float | int) -> float:
    """Seconds for a duration string or a number of seconds; raises InvalidDurationError otherwise."""
    if isinstance(value, bool):
        raise InvalidDurationError(f"invalid duration {value!r}", hint='write e.g. "5s", "100ms", "1h30m"')
    if isinstance(value, int | float):
        if value < 0:
            raise InvalidDurationError(f"negative duration {value!r}", hint="durations are >= 0 seconds")
        return float(value)
    text = value.strip().replace(" ", "")
    if not _WHOLE.fullmatch(text):
        raise InvalidDurationError(
            f"invalid duration {value!r}", hint='write a number and a unit (ms, s, m, h, d), e.g. "5s" or "1h30m"'
        )
    return sum(float(n) * _UNITS[unit] for n, unit in _PART.findall(text))
