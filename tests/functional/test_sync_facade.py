"""The sync facade: scripts and WSGI apps start runs and wait for results without an event loop."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import pikku
from pikku import pikku_func, wire_workflow
from pikku.wiring import WorkflowClient


class Order(BaseModel):
    qty: int


class Total(BaseModel):
    amount: float


@pikku_func(name="s.price")
def price(services: Any, data: Order) -> float:
    return data.qty * 2.5


async def pricing(services: Any, data: Order) -> Total:
    amount = await services.workflow.do("price", "s.price", data)
    return Total(amount=amount)


wire_workflow(name="s-pricing", func=pricing, execution_mode="inline")


@pytest.fixture
def configured(tmp_path: Path) -> Iterator[None]:
    pikku.configure(state_url=f"sqlite:///{tmp_path / 'sync.sqlite3'}")
    yield
    pikku.configure()


def test_start_sync_and_result_sync_from_plain_threads(configured: None) -> None:
    """start_sync/result_sync/get_run_sync work from the main thread and from other threads alike."""
    client: WorkflowClient[Order, Total] = WorkflowClient("s-pricing", Order, Total)
    handle = client.start_sync(Order(qty=4))
    assert handle.result_sync(timeout=5) == Total(amount=10.0)
    assert client.get_run_sync(handle.run_id).status == "completed"

    results: list[Total] = []

    def in_thread() -> None:
        results.append(client.start_sync(Order(qty=2)).result_sync(timeout=5))

    threads = [threading.Thread(target=in_thread) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [Total(amount=5.0)] * 4
