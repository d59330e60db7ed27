"""pikku._cron: cron expressions and timezones through croniter, tick times across daylight-saving changes,
and the run ids of ticks and triggers."""

from __future__ import annotations

import datetime as dt

import pytest

from pikku._cron import Cron, cron_problem, iso_utc, tick_run_id, timezone_problem, trigger_run_id


def _utc(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp()


def _ticks(cron: Cron, after: str, n: int) -> list[str]:
    out, at = [], _utc(after)
    for _ in range(n):
        at = cron.next_after(at)
        out.append(iso_utc(at))
    return out


def test_ticks_are_strictly_after_and_at_or_before() -> None:
    """next_after skips a tick at the moment itself; latest_at_or_before includes it."""
    hourly = Cron("0 * * * *")
    assert iso_utc(hourly.next_after(_utc("2026-01-01T03:00:00"))) == "2026-01-01T04:00:00Z"
    assert iso_utc(hourly.latest_at_or_before(_utc("2026-01-01T03:00:00"))) == "2026-01-01T03:00:00Z"
    assert iso_utc(hourly.latest_at_or_before(_utc("2026-01-01T02:59:59.5"))) == "2026-01-01T02:00:00Z"


def test_a_timezone_moves_the_ticks_and_follows_daylight_saving() -> None:
    """03:00 in Helsinki is 01:00 UTC in winter and 00:00 UTC in summer; on the spring day without 03:00
    the tick comes at 04:00 local, the first valid time (01:00 UTC)."""
    nightly = Cron("0 3 * * *", "Europe/Helsinki")
    assert _ticks(nightly, "2026-01-01T12:00:00", 1) == ["2026-01-02T01:00:00Z"]
    assert _ticks(nightly, "2026-07-01T12:00:00", 1) == ["2026-07-02T00:00:00Z"]
    assert _ticks(nightly, "2025-03-29T12:00:00", 2) == ["2025-03-30T01:00:00Z", "2025-03-31T00:00:00Z"]


def test_a_local_time_that_happens_twice_ticks_twice() -> None:
    """On the autumn day 03:30 local happens at 00:30 and at 01:30 UTC: both are ticks, then 01:30 UTC
    daily (the pinned croniter; older releases put the next day's tick at 04:30 local)."""
    assert _ticks(Cron("30 3 * * *", "Europe/Helsinki"), "2025-10-26T00:00:00", 3) == [
        "2025-10-26T00:30:00Z",
        "2025-10-26T01:30:00Z",
        "2025-10-27T01:30:00Z",
    ]


def test_seconds_and_nicknames_are_croniters() -> None:
    """Six fields put seconds last; @daily and the like are accepted."""
    assert _ticks(Cron("* * * * * */20"), "2026-01-01T00:00:00", 3) == [
        "2026-01-01T00:00:20Z",
        "2026-01-01T00:00:40Z",
        "2026-01-01T00:01:00Z",
    ]
    assert _ticks(Cron("@daily"), "2026-01-01T00:00:00", 1) == ["2026-01-02T00:00:00Z"]


@pytest.mark.parametrize(
    "expression", ["61 * * * *", "* * *", "", "0 3 * * * * * *", "0 3 * * tuesday-ish", "0\n3 * * *"]
)
def test_bad_cron_expressions_are_refused_with_a_reason(expression: str) -> None:
    """Each has a problem in words, and Cron refuses it (ValueError)."""
    assert cron_problem(expression)
    with pytest.raises(ValueError):
        Cron(expression)


@pytest.mark.parametrize("name", ["Mars/Olympus", "../../etc/passwd", "/etc/localtime", "UTC ", "utc\n", ""])
def test_bad_timezones_are_refused_and_never_read_as_paths(name: str) -> None:
    """Unknown names, and anything shaped like a path, are refused before the timezone database is read."""
    assert timezone_problem(name)
    with pytest.raises(ValueError):
        Cron("0 3 * * *", name)


def test_known_timezones_are_accepted() -> None:
    """IANA names, and UTC without a timezone database."""
    for name in ("UTC", "Etc/UTC", "Europe/Helsinki", "America/New_York", "Etc/GMT+3"):
        assert timezone_problem(name) is None


def test_tick_and_trigger_run_ids_never_collide() -> None:
    """A tick's id is its UTC time to the second; a trigger's has microseconds, even at a whole second."""
    moment = _utc("2026-01-01T03:00:00")
    assert tick_run_id("nightly", moment) == "nightly@2026-01-01T03:00:00Z"
    assert trigger_run_id("nightly", moment) == "nightly@2026-01-01T03:00:00.000000Z"
    assert trigger_run_id("nightly", moment + 0.25) == "nightly@2026-01-01T03:00:00.250000Z"
