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
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench.common import CpuMeter, child_main, percentile
from bench.limit import pg_commits
from pikku import Runtime, Worker, _loop, open_runtime, pikku_func, wire_workflow
from pikku._records import SETTLED_RUN_STATUSES

STEP_COUNTS = (1, 10, 100, 1000)


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
    runs, steps = int(args.get("runs", 1)), int(args.get("steps", 10))
    try:
        for _ in range(3):  # warm-up: connections, prepared statements
            await rt.engine.start(f"inline{min(10, steps)}", {})
        metered = args.get("cpu") and args["op"] in ("inline", "remote")  # rows with runs x steps steps
        meter = CpuMeter(str(args["url"]).split("?")[0]) if metered else None
        samples = []
        for _ in range(int(args.get("repeats", 1))):
            probe = _paired_probe(args) if args["op"] == "inline" else None
            if meter is not None:
                meter.start()
            samples.append(await _sample(rt, args, runs, steps))
            if probe is not None:  # the commit probe of this very moment, next to this sample
                samples[-1] |= {"probe_tx_per_s": probe, "vs_probe": samples[-1]["steps_per_s"] / probe}
            if meter is not None:  # CPU per step of this process and of its PostgreSQL backends
                samples[-1] |= {f"cpu_{k}_us": v * 1e6 / (runs * steps) for k, v in meter.stop().items()}
        if meter is not None:
            meter.close()
        return {"samples": samples}
    finally:
        await rt.close()


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
