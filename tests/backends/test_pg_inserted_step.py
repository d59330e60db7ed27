"""PostgreSQL: INSERT_STEP returns only the database's time, and the store builds the step it inserted from
the values it sent; that record must be exactly what a read of the step gives."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from pikku._records import NewStep
from pikku.backends.postgres import open_pair
from pikku.backends.postgres.store import PostgresStateStore

pytestmark = pytest.mark.postgres


@pytest.fixture
async def state(pg_url: str) -> AsyncIterator[PostgresStateStore]:
    """A state store on a fresh schema, with one running run ``r1``."""
    store, queue, _ = await open_pair(pg_url)
    try:
        await store.create_run("r1", "wf", "{}")
        yield store
    finally:
        await queue.close()
        await store.close()


@pytest.mark.parametrize(
    "new",
    [
        NewStep("r1", "done", "inline", status="done", result_json='{"a": "é\\u0000"}', result_type="m:T"),
        NewStep("r1", "rpc", "rpc", "f.g", '{"x": [1, 2.5, null]}', max_attempts=4),
        NewStep("r1", "sleep", "sleep", status="scheduled", wake_at=1_700_000_000),  # an int: stored as float8
        NewStep("r1", "marker", "marker", status="done", result_json="true"),
    ],
    ids=["inline done", "rpc pending", "sleep with an int wake_at", "marker"],
)
async def test_the_inserted_step_is_the_step_read_back(state: PostgresStateStore, new: NewStep) -> None:
    """Every field of the returned record equals the stored row's, with the stored types (a float wake_at)."""
    inserted = await state.insert_step(new)
    assert inserted == await state.get_step("r1", new.name)
    assert inserted.wake_at is None or type(inserted.wake_at) is float
    assert inserted.created_at == inserted.updated_at > 0


async def test_an_existing_step_is_returned_as_stored(state: PostgresStateStore) -> None:
    """A second insert of a name changes nothing and returns the stored step, not the values it sent."""
    first = await state.insert_step(NewStep("r1", "s", "inline", status="done", result_json="1"))
    again = await state.insert_step(NewStep("r1", "s", "inline", status="done", result_json="2"))
    assert again == first == await state.get_step("r1", "s")
