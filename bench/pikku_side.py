"""The pikku side of each workload, run in its own interpreter against a given state URL.

Steps are rpc steps (``workflow.do(name, "bench.noop", {...})``) on a ``@pikku_func`` that does nothing
and returns a small dict. Inline mode: ``engine.start`` drives the run in this process, every step stored
durably. Remote mode: each run is an orchestrator job drained by ONE in-process
``pikku.Worker(engine, concurrency=10)`` sharing the event loop with the code that starts the runs; that
worker serves every queue, so it runs each step inside the pass (local steps). With ``local_steps`` false
every step is a job on its own queue and every replay a job on the orchestrator queue. Engine and worker
settings are otherwise pikku's defaults.
"""

from __future__ import annotations

import asyncio
import os
import resource
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.common import CpuMeter, child_main, percentile, pg_schema_bytes, poll_interval, rss_mb
from bench.limit import pg_commits
from pikku import Runtime, Worker, _loop, open_runtime, pikku_func, wire_workflow
from pikku._records import SETTLED_RUN_STATUSES

STEP_COUNTS = (1, 3, 10, 100, 1000)

#: The ledger of step-body executions of this process (``bench.ledger`` steps): lines ``run_id step``,
#: written to ``_LEDGER_PATH`` when the process's drain ends (see :func:`drain_worker`).
_LEDGER: list[str] = []


@pikku_func(name="bench.noop")
async def noop(services: Any, data: dict[str, Any]) -> dict[str, Any]:
    """A step that does nothing and returns a small dict."""
    return {"ok": True, "i": data["i"]}


def _workflow(steps: int) -> Callable[[Any, dict[str, Any]], Awaitable[dict[str, Any]]]:
    async def flow(services: Any, data: dict[str, Any]) -> dict[str, Any]:
        workflow = services.workflow
        for i in range(steps):
            await workflow.do(f"s{i}", "bench.noop", {"i": i})
        return {"n": steps}

    flow.__name__ = flow.__qualname__ = f"flow_{steps}"
    return flow


for _n in STEP_COUNTS:
    _fn = _workflow(_n)
    wire_workflow(name=f"inline{_n}", func=_fn, execution_mode="inline")
    wire_workflow(name=f"remote{_n}", func=_fn, execution_mode="remote")


@pikku_func(name="bench.ledger")
async def ledger_step(services: Any, data: dict[str, Any]) -> dict[str, Any]:
    """A no-op step that records that its body ran (run id, step index) in this process's ledger."""
    _LEDGER.append(f"{data['r']} {data['i']}")
    return {"ok": True, "i": data["i"]}


async def _ledger_flow(services: Any, data: dict[str, Any]) -> dict[str, Any]:
    workflow = services.workflow
    for i in range(10):
        await workflow.do(f"s{i}", "bench.ledger", {"r": workflow.run_id, "i": i})
    return {"n": 10}


wire_workflow(name="ledger10", func=_ledger_flow, execution_mode="remote")


async def inline(rt: Runtime, runs: int, steps: int) -> dict[str, Any]:
    """Sequential inline runs of a ``steps``-step workflow: steps/s and per-run latency."""
    engine = rt.engine
    latencies = []
    t0 = time.perf_counter()
    for _ in range(runs):
        t = time.perf_counter()
        run_id = await engine.start(f"inline{steps}", {})
        latencies.append(time.perf_counter() - t)
    total = time.perf_counter() - t0
    assert (await engine.state.get_run(run_id)).status == "completed"
    return {
        "steps_per_s": runs * steps / total,
        "total_s": total,
        "run_s": total / runs,
        "p50_s": percentile(latencies, 0.5),
        "p99_s": percentile(latencies, 0.99),
    }


async def _settled(rt: Runtime, run_ids: list[str], poll: float) -> None:
    """Wait until every run has settled (checks the last unsettled one first, so few reads per poll)."""
    pending = list(run_ids)
    while pending:
        run = await rt.engine.state.get_run(pending[-1])
        if run.status in SETTLED_RUN_STATUSES:
            pending.pop()
            continue
        await asyncio.sleep(poll)


async def remote(rt: Runtime, runs: int, steps: int, concurrency: int) -> dict[str, Any]:
    """``runs`` remote runs started at once, drained by one in-process worker with ``concurrency`` slots."""
    engine = rt.engine
    worker = Worker(engine, concurrency=concurrency)
    task = asyncio.ensure_future(worker.run())
    try:
        await _settled(rt, [await engine.start("remote1", {})], 0.005)  # warm-up through the queues
        t0 = time.perf_counter()
        ids = [await engine.start(f"remote{steps}", {}) for _ in range(runs)]
        enqueued = time.perf_counter() - t0
        await _settled(rt, ids, 0.01 if runs == 1 else 0.05)
        total = time.perf_counter() - t0
    finally:
        worker.stop()
        await task
    latencies = []
    for run_id in ids:
        run = await engine.state.get_run(run_id)
        assert run.status == "completed", (run.status, run.error)
        latencies.append(run.updated_at - run.created_at)
    return {
        "runs_per_s": runs / total,
        "steps_per_s": runs * steps / total,
        "total_s": total,
        "enqueue_s": enqueued,
        "p50_s": percentile(latencies, 0.5),
        "p99_s": percentile(latencies, 0.99),
    }


async def remote_sequential(rt: Runtime, runs: int, steps: int, concurrency: int) -> dict[str, Any]:
    """``runs`` remote runs one after another (each started when the last has settled), drained by one
    in-process worker: the mean start-to-finish time of a run, from the run's own timestamps."""
    engine = rt.engine
    worker = Worker(engine, concurrency=concurrency)
    task = asyncio.ensure_future(worker.run())
    durations = []
    try:
        await _settled(rt, [await engine.start("remote1", {})], 0.005)  # warm-up through the queues
        for _ in range(runs):
            run_id = await engine.start(f"remote{steps}", {})
            await _settled(rt, [run_id], 0.002)
            run = await engine.state.get_run(run_id)
            assert run.status == "completed", (run.status, run.error)
            durations.append(run.updated_at - run.created_at)
    finally:
        worker.stop()
        await task
    run_s = sum(durations) / runs
    return {"run_s": run_s, "steps_per_s": steps / run_s, "total_s": sum(durations)}


async def growth(rt: Runtime, mode: str, small: int, big: int) -> dict[str, Any]:
    """Workload 4, one sample: the mean time of a ``small``-step run (over big/small runs) and of one
    ``big``-step run, measured back to back in this process and database, and their ratio."""
    times = {}
    for steps in (small, big):
        runs = max(1, big // steps)
        if mode == "inline":
            times[steps] = (await inline(rt, runs, steps))["run_s"]
        else:
            times[steps] = (await remote_sequential(rt, runs, steps, 10))["run_s"]
    return {"steps_per_s": big / times[big], "run_s_small": times[small], "run_s": times[big],
            "growth": times[big] / times[small]}  # fmt: skip


async def _queue_empty(rt: Runtime, poll: float) -> None:
    """Wait until the queue holds no job (due or not, leased or not): every run of a drain has settled."""
    while True:
        if await rt.engine.queue.count() == 0:
            return
        await asyncio.sleep(poll)


async def _completed(rt: Runtime, workflow: str, expected: int) -> int:
    """How many runs of ``workflow`` completed (paged newest first; checks the drain, outside the timing)."""
    found, before = 0, None
    while True:
        page = await rt.engine.state.list_runs(workflow=workflow, status="completed", limit=1000, before=before)
        found += len(page)
        if len(page) < 1000 or found > expected:
            return found
        before = page[-1].run_id


async def backlog(rt: Runtime, args: dict[str, Any]) -> dict[str, Any]:
    """Workload 6 (issue 17 item 5): ``runs`` 3-step remote runs queued first, then drained by one in-process
    worker (concurrency 10): runs/s, the process's RSS before and after the drain, and (PostgreSQL) the
    stored bytes per step of pikku's schema afterwards."""
    runs, steps = int(args["runs"]), 3
    engine = rt.engine
    worker = Worker(engine, concurrency=int(args.get("concurrency", 10)))
    task = asyncio.ensure_future(worker.run())
    try:  # warm-up through the queues: connections, prepared statements
        await _settled(rt, [await engine.start(f"remote{steps}", {}) for _ in range(3)], 0.005)
        await _queue_empty(rt, 0.005)
    finally:
        worker.stop()
        await task
    t = time.perf_counter()
    for _ in range(runs):
        await engine.start(f"remote{steps}", {})
    enqueue_s = time.perf_counter() - t
    rss_before = rss_mb()
    worker = Worker(engine, concurrency=int(args.get("concurrency", 10)))
    t0 = time.perf_counter()
    task = asyncio.ensure_future(worker.run())
    try:
        await _queue_empty(rt, poll_interval(runs))
        total = time.perf_counter() - t0
    finally:
        worker.stop()
        await task
    rss_after = rss_mb()
    done = await _completed(rt, f"remote{steps}", runs + 3)
    assert done == runs + 3, (done, runs)  # and the 3 of the warm-up
    out = {"runs_per_s": runs / total, "steps_per_s": runs * steps / total, "total_s": total,
           "enqueue_s": enqueue_s, "rss_before_mb": rss_before, "rss_after_mb": rss_after,
           "rss_growth_mb": rss_after - rss_before}  # fmt: skip
    url = str(args["url"])
    if url.startswith("postgresql"):
        stored = pg_schema_bytes(url.split("?", maxsplit=1)[0], "pikku")
        out |= {"bytes": stored, "bytes_per_step": stored / (runs * steps)}
    return out


async def enqueue_ledger(rt: Runtime, runs: int) -> dict[str, Any]:
    """Workload 8's backlog: ``runs`` 10-step ledger runs queued (nothing drains them here)."""
    t = time.perf_counter()
    for _ in range(runs):
        await rt.engine.start("ledger10", {})
    return {"enqueue_s": time.perf_counter() - t}


async def drain_worker(rt: Runtime, args: dict[str, Any]) -> dict[str, Any]:
    """One of several worker processes (workload 8): says it is ready (a file), waits for the go file, drains
    with one Worker until the queue is empty, writes its ledger. Times are wall-clock (``time.time``) so
    the parent can take the drain from the go signal to the last worker's end across processes."""
    folder, me = Path(args["dir"]), int(args["index"])
    worker = Worker(rt.engine, concurrency=int(args.get("concurrency", 10)))
    await rt.engine.queue.count()  # warm-up: the pool's first connection (no run: the queue holds the backlog)
    (folder / f"ready-{me}").touch()
    while True:  # a file, not an Event: the signal comes from another process
        if (folder / "go").exists():
            break
        await asyncio.sleep(0.005)
    started, cpu = time.time(), resource.getrusage(resource.RUSAGE_SELF)
    task = asyncio.ensure_future(worker.run())
    try:
        await _queue_empty(rt, 0.05)
        ended = time.time()
        after = resource.getrusage(resource.RUSAGE_SELF)
    finally:
        worker.stop()
        await task
    (folder / f"done-{me}").touch()
    for _ in range(6000):  # the parent reads the PostgreSQL backends' CPU while their connections live
        if (folder / "stop").exists():
            break
        await asyncio.sleep(0.01)
    (folder / f"ledger-{me}.txt").write_text("".join(f"{line}\n" for line in _LEDGER))
    return {"started": started, "ended": ended, "processed": worker.processed, "steps_run": len(_LEDGER),
            "cpu_s": after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime}  # fmt: skip


def _paired_probe(args: dict[str, Any]) -> float | None:
    """Commits/s of the limit probe on this database right now (``probe_s`` seconds), or None if not asked.

    The box's commit rate drifts by 2x over minutes, so a ratio to a probe measured at the start of the
    benchmark says as much about the drift as about pikku; this one is measured just before the sample.
    """
    seconds = float(args.get("probe_s") or 0)
    if not seconds or not str(args["url"]).startswith("postgresql"):
        return None
    rate: float = pg_commits(str(args["url"]).split("?")[0], seconds, 1)["tx_per_s"]
    return rate


async def _main(args: dict[str, Any]) -> dict[str, Any]:
    rt = await open_runtime(state_url=args["url"])
    rt.engine.settings.local_steps = bool(args.get("local_steps", True))
    if "kept_runs" in args:  # A/B of kept runs (0: every pass replays from the top)
        rt.engine.kept.capacity = int(args["kept_runs"])
    runs, steps = int(args.get("runs", 1)), int(args.get("steps", 10))
    try:
        if args["op"] in _SINGLE:  # one sample, no repeats; no inline warm-up (it leaves a delayed job queued)
            return await _SINGLE[args["op"]](rt, args)
        for _ in range(3):  # warm-up: connections, prepared statements
            await rt.engine.start(f"inline{min(10, steps)}", {})
        metered = args.get("cpu") and args["op"] in ("inline", "remote")  # rows with runs x steps steps
        url = str(args["url"])
        dsn = url.split("?", maxsplit=1)[0] if url.startswith("postgres") else None  # Redis: the process alone
        meter = CpuMeter(dsn) if metered else None
        samples = []
        for _ in range(int(args.get("repeats", 1))):
            probe = _paired_probe(args) if args["op"] == "inline" else None
            if meter is not None:
                meter.start()
            samples.append(await _sample(rt, args, runs, steps))
            if probe is not None:  # the commit probe of this very moment, next to this sample
                samples[-1] |= {"probe_tx_per_s": probe, "vs_probe": samples[-1]["steps_per_s"] / probe}
            if meter is not None:  # CPU per step of this process and of its PostgreSQL backends
                stats, work = meter.stop(), runs * steps
                samples[-1] |= {f"cpu_{k}_us": v * 1e6 / work for k, v in stats.items() if not k.startswith("thr")}
                samples[-1] |= {"threads": stats["threads"], "cpu_threads_us": stats["threads_client"] * 1e6 / work}
        if meter is not None:
            meter.close()
        return {"samples": samples}
    finally:
        await rt.close()


async def _completed_ledger(rt: Runtime, args: dict[str, Any]) -> dict[str, Any]:
    return {"completed": await _completed(rt, "ledger10", int(args["runs"]))}


_SINGLE: dict[str, Callable[[Runtime, dict[str, Any]], Awaitable[dict[str, Any]]]] = {
    "backlog": backlog,
    "enqueue_ledger": lambda rt, args: enqueue_ledger(rt, int(args["runs"])),
    "drain_worker": drain_worker,
    "count_ledger": _completed_ledger,
}


async def _sample(rt: Runtime, args: dict[str, Any], runs: int, steps: int) -> dict[str, Any]:
    if args["op"] == "inline":
        return await inline(rt, runs, steps)
    if args["op"] == "growth":
        return await growth(rt, args["mode"], int(args["small"]), int(args["big"]))
    return await remote(rt, runs, steps, int(args.get("concurrency", 10)))


def _child(args: dict[str, Any]) -> dict[str, Any]:
    # pikku's own loop choice (uvloop when installed, as for `pikku worker`), unless the row asks for one.
    if args.get("loop"):
        os.environ[_loop.ENV] = args["loop"]
    out = _loop.run(_main(args))
    out["loop"] = _loop.loop_name()
    return out


if __name__ == "__main__":
    child_main(_child)
