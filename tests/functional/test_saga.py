"""The README's saga example, run on every backend: plain try/except compensation beside on_error and
on_failure. The workflow below is the README's code (keep them the same)."""

from __future__ import annotations

import collections
from typing import Any

import pytest
from pydantic import BaseModel

import pikku
from pikku import pikku_func, wire_workflow
from pikku._runtime import Runtime
from pikku.testing import settle
from pikku.wiring import WorkflowClient

CALLS: collections.Counter[str] = collections.Counter()
HOTELS_FULL = {"value": False}


@pytest.fixture(autouse=True)
def _reset() -> None:
    CALLS.clear()
    HOTELS_FULL["value"] = False


class Trip(BaseModel):
    """What to book."""

    city: str
    nights: int


@pikku_func(name="flights.book")
async def book_flight(services: Any, data: Trip) -> str:
    CALLS["flights.book"] += 1
    return f"FL-{data.city}"


@pikku_func(name="flights.cancel")
async def cancel_flight(services: Any, data: str) -> None:
    CALLS["flights.cancel"] += 1


@pikku_func(name="hotels.book")
async def book_hotel(services: Any, data: Trip) -> str:
    CALLS["hotels.book"] += 1
    if HOTELS_FULL["value"]:
        raise RuntimeError(f"no room in {data.city}")
    return f"HT-{data.city}-{data.nights}"


@pikku_func(name="hotels.cancel")
async def cancel_hotel(services: Any, data: str) -> None:
    CALLS["hotels.cancel"] += 1


@pikku_func(name="trips.charge")
async def charge(services: Any, data: Trip) -> str:
    CALLS["trips.charge"] += 1
    return "paid"


@pikku_func(name="trips.refund")
async def refund(services: Any, data: dict[str, Any]) -> None:
    CALLS["trips.refund"] += 1


@pikku_func(name="trips.alert")
async def alert(services: Any, data: dict[str, Any]) -> None:
    CALLS["trips.alert"] += 1


# -- the README's example --------------------------------------------------------------------------
async def book_trip(services: Any, trip: Trip) -> str:
    wf = services.workflow
    undo: list[tuple[str, str, str]] = []  # (step, rpc, what to take back), in booking order
    try:
        flight = await wf.do("book-flight", "flights.book", trip, retries=0)
        undo.append(("cancel-flight", "flights.cancel", flight))
        hotel = await wf.do("book-hotel", "hotels.book", trip, retries=0)
        undo.append(("cancel-hotel", "hotels.cancel", hotel))
        await wf.do("charge", "trips.charge", trip, on_error="trips.refund")
    except pikku.StepFailedError:
        for step, rpc, booking in reversed(undo):  # each compensation is a recorded step: it runs once
            await wf.do(step, rpc, booking)
        raise  # the run fails (and on_failure runs), after the compensations
    return f"{flight} {hotel}"


wire_workflow(name="book-trip", func=book_trip, on_failure="trips.alert")
# -- end of the README's example ---------------------------------------------------------------------


async def test_a_trip_that_books_completes_without_compensating(rt: Runtime) -> None:
    """Every step succeeds: no cancellation, refund or alert runs."""
    handle = await WorkflowClient("book-trip").start(Trip(city="Oslo", nights=2))
    [done] = await settle(rt, [handle.run_id])
    assert done.status == "completed" and done.output_json == '"FL-Oslo HT-Oslo-2"'
    assert CALLS["flights.cancel"] + CALLS["hotels.cancel"] + CALLS["trips.refund"] + CALLS["trips.alert"] == 0


async def test_a_full_hotel_cancels_the_flight_once_and_alerts_once(rt: Runtime) -> None:
    """The hotel fails: the flight is cancelled (a recorded step, once, even across more passes), the
    hotel that was never booked is not, and the run fails after on_failure alerted once."""
    HOTELS_FULL["value"] = True
    handle = await WorkflowClient("book-trip").start(Trip(city="Rome", nights=1))
    [done] = await settle(rt, [handle.run_id])
    for _ in range(2):
        await rt.engine.orchestrate(handle.run_id)
    assert done.status == "failed" and done.error is not None and "no room in Rome" in done.error.message
    assert (CALLS["flights.book"], CALLS["flights.cancel"], CALLS["hotels.cancel"]) == (1, 1, 0)
    assert (CALLS["trips.charge"], CALLS["trips.refund"], CALLS["trips.alert"]) == (0, 0, 1)
    names = [s.name for s in await pikku.get_steps(handle.run_id)]
    assert names == ["book-flight", "book-hotel", "cancel-flight", "on_failure:1"]
