"""The DBOS Transact side of each workload, run in its own interpreter (DBOS keeps global state).

Workflows and steps are plain synchronous functions, DBOS's primary style: ``@DBOS.workflow()`` calling a
``@DBOS.step()`` that returns a small dict. "Inline" is calling the workflow directly (it runs in the
caller's thread, every step checkpointed); "remote" is enqueueing it on a queue with
``worker_concurrency=10`` drained by this process's queue thread. Unlike pikku's remote mode, DBOS runs
the steps inside the workflow's executor (there is no per-step queue).
"""

from __future__ import annotations

import logging
import sqlite3
import time
import uuid
from typing import Any

import sqlalchemy as sa
from dbos import DBOS

from bench.common import child_main, percentile

# DBOS re-polls its queues at this interval. The default (1 s) caps a concurrency-10 queue of fast
# workflows at ~10 workflows/s, which measures the poll period, not DBOS: the benchmark tunes it down.
QUEUE_POLL_S = 0.02


@DBOS.step()
def noop_step(i: int) -> dict[str, Any]:
    """A step that does nothing and returns a small dict."""
    return {"ok": True, "i": i}


@DBOS.workflow()
def bench_flow(steps: int) -> dict[str, Any]:
    """``steps`` sequential steps."""
    for i in range(steps):
        noop_step(i)
    return {"n": steps}


def _wal_normal(dbapi_conn: Any, _record: Any) -> None:
    """Give DBOS's SQLite connections the durability settings pikku and the limit probe use."""
    if isinstance(dbapi_conn, sqlite3.Connection):
        dbapi_conn.execute("PRAGMA journal_mode = WAL")
        dbapi_conn.execute("PRAGMA synchronous = NORMAL")


def _launch(url: str, sqlite_mode: str) -> None:
    logging.getLogger("dbos").setLevel(logging.WARNING)
    if url.startswith("sqlite") and sqlite_mode == "wal_normal":
        # DBOS leaves SQLite at its defaults (rollback journal, synchronous=FULL): one fsync per commit.
        sa.event.listen(sa.engine.Engine, "connect", _wal_normal)
    DBOS(config={"name": "pikku-bench", "system_database_url": url, "run_admin_server": False, "log_level": "WARNING"})
    DBOS.launch()


def inline(args: dict[str, Any]) -> dict[str, Any]:
    """Sequential direct calls of a ``steps``-step workflow: steps/s and per-run latency."""
    runs, steps = int(args["runs"]), int(args["steps"])
    latencies = []
    t0 = time.perf_counter()
    for _ in range(runs):
        t = time.perf_counter()
        bench_flow(steps)
        latencies.append(time.perf_counter() - t)
    total = time.perf_counter() - t0
    return {
        "steps_per_s": runs * steps / total,
        "total_s": total,
        "run_s": total / runs,
        "p50_s": percentile(latencies, 0.5),
        "p99_s": percentile(latencies, 0.99),
    }


def queued(args: dict[str, Any]) -> dict[str, Any]:
    """``runs`` workflows enqueued at once on a concurrency-10 queue: drain rate and start-to-finish latency."""
    runs, steps, conc = int(args["runs"]), int(args["steps"]), int(args.get("concurrency", 10))
    queue = DBOS.register_queue(
        f"bench_{uuid.uuid4().hex[:8]}", worker_concurrency=conc, polling_interval_sec=QUEUE_POLL_S
    )
    queue.enqueue(bench_flow, 1).get_result()  # warm-up through the queue
    t0 = time.perf_counter()
    handles = [queue.enqueue(bench_flow, steps) for _ in range(runs)]
    enqueued = time.perf_counter() - t0
    for handle in handles:
        handle.get_result()
    total = time.perf_counter() - t0
    ids = [h.get_workflow_id() for h in handles]
    latencies: list[float] = []
    for start in range(0, len(ids), 500):
        for status in DBOS.list_workflows(workflow_ids=ids[start : start + 500], load_input=False, load_output=False):
            assert status.status == "SUCCESS", status.status
            latencies.append((status.updated_at - status.created_at) / 1000.0)
    assert len(latencies) == runs
    return {
        "runs_per_s": runs / total,
        "steps_per_s": runs * steps / total,
        "total_s": total,
        "enqueue_s": enqueued,
        "p50_s": percentile(latencies, 0.5),
        "p99_s": percentile(latencies, 0.99),
    }


def _queued_sequential(queue: Any, runs: int, steps: int) -> float:
    """The mean time of ``runs`` workflows sent through ``queue`` one after another: from the workflow's own
    timestamps (milliseconds), or the caller's wall clock when those do not tell (equal stamps)."""
    total = 0.0
    for _ in range(runs):
        t = time.perf_counter()
        handle = queue.enqueue(bench_flow, steps)
        handle.get_result()
        wall = time.perf_counter() - t
        [status] = DBOS.list_workflows(workflow_ids=[handle.get_workflow_id()], load_input=False, load_output=False)
        assert status.status == "SUCCESS", status.status
        stamped = (status.updated_at - status.created_at) / 1000.0
        total += stamped if stamped > 0 else wall
    return total / runs


def growth(args: dict[str, Any]) -> dict[str, Any]:
    """Workload 4, one sample: mean time of a ``small``-step run (over big/small runs) and of one ``big``-step
    run, back to back, and their ratio (as ``bench.pikku_side.growth``)."""
    small, big = int(args["small"]), int(args["big"])
    queue = None
    if args["mode"] != "inline":
        queue = DBOS.register_queue(
            f"bench_{uuid.uuid4().hex[:8]}", worker_concurrency=10, polling_interval_sec=QUEUE_POLL_S
        )
        queue.enqueue(bench_flow, 1).get_result()  # warm-up through the queue
    times = {}
    for steps in (small, big):
        runs = max(1, big // steps)
        if queue is None:
            times[steps] = inline({"runs": runs, "steps": steps})["run_s"]
        else:
            times[steps] = _queued_sequential(queue, runs, steps)
    return {"steps_per_s": big / times[big], "run_s_small": times[small], "run_s": times[big],
            "growth": times[big] / times[small]}  # fmt: skip


def _child(args: dict[str, Any]) -> dict[str, Any]:
    _launch(args["url"], args.get("sqlite_mode", "wal_normal"))
    try:
        op = {"inline": inline, "queued": queued, "growth": growth}[args["op"]]
        for _ in range(3):  # warm-up: connections, prepared plans, the first migrations' cold pages
            bench_flow(10)
        return {"samples": [op(args) for _ in range(int(args.get("repeats", 1)))]}
    finally:
        DBOS.destroy(destroy_registry=True)


if __name__ == "__main__":
    child_main(_child)
