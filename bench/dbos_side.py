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

import psycopg
import sqlalchemy as sa
from dbos import DBOS, DBOSClient
from dbos._dbos import GlobalParams

from bench.common import CpuMeter, child_main, percentile, pg_schema_bytes, poll_interval, rss_mb

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


def backlog(args: dict[str, Any]) -> dict[str, Any]:
    """Workload 6 (issue 17 item 5), as ``bench.pikku_side.backlog``: ``runs`` 3-step workflows queued first
    (by a ``DBOSClient`` on a queue this process does not serve yet), then drained by this process once it
    registers the queue (concurrency 10): runs/s, RSS before/after the drain, stored bytes per step of the
    ``dbos`` schema. The drain ends when no workflow of the queue is ENQUEUED or PENDING (one count query
    every 50 ms, longer for big backlogs, as pikku's side counts its jobs)."""
    runs, steps, url = int(args["runs"]), 3, str(args["url"])
    name = f"bench_{uuid.uuid4().hex[:8]}"
    client = DBOSClient(system_database_url=url)
    t = time.perf_counter()
    options: Any = {"queue_name": name, "workflow_name": bench_flow.__qualname__,
                    "app_version": GlobalParams.app_version}  # fmt: skip
    for _ in range(runs):
        client.enqueue(options, steps)
    enqueue_s = time.perf_counter() - t
    client.destroy()
    rss_before = rss_mb()
    count = "SELECT count(*) FROM dbos.workflow_status WHERE queue_name = %s AND status IN ('ENQUEUED', 'PENDING')"
    with psycopg.connect(url, autocommit=True) as conn:
        t0 = time.perf_counter()
        conc = int(args.get("concurrency", 10))
        DBOS.register_queue(name, worker_concurrency=conc, polling_interval_sec=QUEUE_POLL_S)
        while (row := conn.execute(count, (name,)).fetchone()) and row[0] > 0:
            time.sleep(poll_interval(runs))
        total = time.perf_counter() - t0
        done = conn.execute(
            "SELECT count(*) FROM dbos.workflow_status WHERE queue_name = %s AND status = 'SUCCESS'", (name,)
        ).fetchone()
    assert done is not None and done[0] == runs, (done, runs)
    rss_after = rss_mb()
    stored = pg_schema_bytes(url, "dbos")
    return {"runs_per_s": runs / total, "steps_per_s": runs * steps / total, "total_s": total,
            "enqueue_s": enqueue_s, "rss_before_mb": rss_before, "rss_after_mb": rss_after,
            "rss_growth_mb": rss_after - rss_before, "bytes": stored,
            "bytes_per_step": stored / (runs * steps)}  # fmt: skip


def _child(args: dict[str, Any]) -> dict[str, Any]:
    _launch(args["url"], args.get("sqlite_mode", "wal_normal"))
    try:
        op = {"inline": inline, "queued": queued, "growth": growth, "backlog": backlog}[args["op"]]
        for _ in range(3):  # warm-up: connections, prepared plans, the first migrations' cold pages
            bench_flow(10)
        metered = args.get("cpu") and args["op"] in ("inline", "queued") and str(args["url"]).startswith("postgres")
        meter = CpuMeter(str(args["url"])) if metered else None
        samples = []
        for _ in range(int(args.get("repeats", 1))):
            if meter is not None:
                meter.start()
            samples.append(op(args))
            if meter is not None:  # CPU per step: this process (every thread) and its PostgreSQL backends
                work = int(args["runs"]) * int(args["steps"])
                stats = meter.stop()
                samples[-1] |= {f"cpu_{k}_us": v * 1e6 / work for k, v in stats.items() if not k.startswith("thr")}
                samples[-1] |= {"threads": stats["threads"], "cpu_threads_us": stats["threads_client"] * 1e6 / work}
        if meter is not None:
            meter.close()
        return {"samples": samples}
    finally:
        DBOS.destroy(destroy_registry=True)


if __name__ == "__main__":
    child_main(_child)
