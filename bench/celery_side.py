"""Celery on Redis, what a Redis user would pick instead of pikku (issue 17 item 6), run as a child.

``python -m bench.celery_side '<json>'`` starts a Celery worker as a subprocess (its own process group,
always stopped and killed at the end), sends ``runs`` chains of ``steps`` no-op tasks, waits for every
chain's last result and reports chains/s. Broker and result backend are the benchmark's Redis, every key
under a unique prefix (``global_keyprefix``) that the parent deletes afterwards. This module is also the
Celery app the worker imports (``celery -A bench.celery_side``); its settings come from environment
variables set by the driver.

Settings (stated in the table): Celery's defaults except the queue name and key prefix: the prefork pool
with ``--concurrency`` processes, ``task_acks_late=False`` (a task is acked when a worker *receives* it; a
worker that dies mid-task loses it) unless ``acks_late`` is asked, results kept in Redis (the result
backend; every task of a chain stores its result, the chain's hand-off is the next task's message sent by
the worker that finished the previous one), ``worker_prefetch_multiplier=4``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from typing import Any

from celery import Celery, chain

from bench.common import ROOT, CpuMeter, child_main, tree_cpu

_PREFIX = os.environ.get("BENCH_CELERY_PREFIX", "bench_celery")
_URL = os.environ.get("BENCH_CELERY_URL", "redis://127.0.0.1:6379/0")
_QUEUE = f"{_PREFIX}_q"

app = Celery("pikku_bench", broker=_URL, backend=_URL)
app.conf.update(
    task_default_queue=_QUEUE,
    broker_transport_options={"global_keyprefix": f"{_PREFIX}:"},
    result_backend_transport_options={"global_keyprefix": f"{_PREFIX}:"},
    task_acks_late=os.environ.get("BENCH_CELERY_ACKS_LATE") == "1",
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)


@app.task(name="bench.noop")
def noop(i: int) -> dict[str, Any]:
    """A task that does nothing and returns a small dict."""
    return {"ok": True, "i": i}


def _flow(steps: int) -> Any:
    return chain(*(noop.si(i) for i in range(steps)))


def _stop(worker: subprocess.Popen[bytes]) -> None:
    """Warm shutdown of the worker's process group, then SIGKILL for whatever is left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(worker.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        worker.wait(timeout=20)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(worker.pid, signal.SIGKILL)  # the pool's children too
    with contextlib.suppress(subprocess.TimeoutExpired):
        worker.wait(timeout=5)


def drain(args: dict[str, Any]) -> dict[str, Any]:
    """``runs`` chains of ``steps`` tasks sent at once, drained by one worker with ``concurrency`` slots."""
    runs, steps, conc = int(args["runs"]), int(args["steps"]), int(args.get("concurrency", 10))
    cmd = [sys.executable, "-m", "celery", "-A", "bench.celery_side", "worker", "--pool", "prefork",
           "--concurrency", str(conc), "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
           "--without-heartbeat", "-n", f"bench-{uuid.uuid4().hex[:8]}@%h"]  # fmt: skip
    log = open(os.devnull, "wb")  # noqa: SIM115 - closed in finally
    env = dict(os.environ) | {"BENCH_CELERY_ACKS_LATE": "1" if args.get("acks_late") else "0"}
    worker = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True)
    try:
        _flow(steps).apply_async().get(timeout=120)  # warm-up: the worker is up, connections made
        meter = CpuMeter(None)  # this process: it sends the chains and reads their results
        meter.start()
        worker_cpu = tree_cpu(worker.pid)
        t0 = time.perf_counter()
        results = [_flow(steps).apply_async() for _ in range(runs)]
        enqueued = time.perf_counter() - t0
        for result in results:
            out = result.get(timeout=600)
            assert out["i"] == steps - 1, out
        total = time.perf_counter() - t0
        worker_cpu = tree_cpu(worker.pid) - worker_cpu
        client_cpu = meter.stop()["client"]
    finally:
        _stop(worker)
        log.close()
    return {"runs_per_s": runs / total, "steps_per_s": runs * steps / total, "total_s": total,
            "enqueue_s": enqueued, "acks_late": float(bool(args.get("acks_late"))),
            "cpu_worker_us": worker_cpu * 1e6 / (runs * steps), "cpu_client_us": client_cpu * 1e6 / (runs * steps),
            "cpu_total_us": (worker_cpu + client_cpu) * 1e6 / (runs * steps)}  # fmt: skip


def _child(args: dict[str, Any]) -> dict[str, Any]:
    return {"samples": [drain(args) for _ in range(int(args.get("repeats", 1)))]}


if __name__ == "__main__":
    child_main(_child)
