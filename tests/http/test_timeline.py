"""The step timeline the run page draws: one bar per attempt (or per step without attempts) placed on the
run's time axis, coloured by status."""

from __future__ import annotations

from typing import Any

from pikku.http._timeline import MIN_WIDTH, colour, duration, timeline


def _step(name: str, status: str, created: float, updated: float, attempts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": name, "status": status, "created_at": created, "updated_at": updated, "attempts": attempts}


def _attempt(n: int, start: float, end: float | None, error: bool = False) -> dict[str, Any]:
    return {"attempt": n, "started_at": start, "ended_at": end, "error": {"message": "x"} if error else None}


def test_attempts_are_placed_on_the_runs_axis() -> None:
    """A settled run from 100 s to 110 s: a retried step has a failed and a done bar where they happened;
    a sleep without attempts spans from its creation to its last change."""
    run = {"created_at": 100.0, "updated_at": 110.0}
    steps = [
        _step("charge", "done", 101.0, 105.0, [_attempt(1, 101.0, 102.0, error=True), _attempt(2, 104.0, 105.0)]),
        _step("nap", "done", 105.0, 110.0, []),
    ]
    drawn = timeline(run, steps, now=500.0, settled=True)
    charge, nap = drawn.rows
    assert [(b.status, b.left, b.width) for b in charge.bars] == [("failed", 10.0, 10.0), ("done", 40.0, 10.0)]
    assert [(b.label, b.left, b.width) for b in nap.bars] == [("nap", 50.0, 50.0)]
    assert charge.bars[0].colour == colour("failed") != colour("done")
    assert [t.label for t in drawn.ticks] == ["+0 ms", "+2.5 s", "+5.0 s", "+7.5 s", "+10.0 s"]


def test_a_running_run_reaches_to_now_and_an_instant_still_shows() -> None:
    """A running run's axis ends now; an attempt still running reaches it; a zero-length step gets the
    minimum width."""
    run = {"created_at": 0.0, "updated_at": 1.0}
    steps = [
        _step("quick", "done", 1.0, 1.0, [_attempt(1, 1.0, 1.0)]),
        _step("slow", "running", 2.0, 2.0, [_attempt(1, 2.0, None)]),
    ]
    quick, slow = timeline(run, steps, now=10.0, settled=False).rows
    assert (quick.bars[0].left, quick.bars[0].width) == (10.0, MIN_WIDTH)
    assert (slow.bars[0].status, slow.bars[0].left, slow.bars[0].width) == ("running", 20.0, 80.0)


def test_statuses_without_a_chosen_colour_get_a_stable_one() -> None:
    """A status pikku adds later is coloured by its name: the same every time, different from others."""
    assert colour("waiting") == colour("waiting") and colour("waiting").startswith("hsl(")
    assert colour("waiting") != colour("suspended")
    assert colour("completed") == "#16a34a"


def test_durations_read_short() -> None:
    """Milliseconds, seconds, minutes and hours."""
    assert [duration(s) for s in (0.0123, 4.25, 185, 7300)] == ["12 ms", "4.2 s", "3 min 5 s", "2 h 1 min"]
