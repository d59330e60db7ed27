"""Profile pikku's hot paths: ``python -m bench.prof [inline-sqlite|inline-pg|remote-pg|remote-sqlite|long-...]``.

Two views of the same run, written to ``bench/.out/prof-<name>.txt``:

- every state-store and queue call counted and timed (calls per step, mean latency, share of wall time),
  by wrapping the backend objects' coroutine methods; the wrapper itself costs ~1 us a call;
- a pyinstrument call tree (async-aware, wall clock), so waits show up as ``await`` time.

Counts are per *step* (a 10-step run has 10), so the number of round trips a step costs reads directly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import inspect
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from pyinstrument import Profiler

from bench.common import OUT, REDIS_URL, fresh_pg_database, fresh_redis_prefix, pg_url
from bench.pikku_side import _settled
from pikku import Runtime, Worker, open_runtime


class CallStats:
    """Counts and total seconds per backend method."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = defaultdict(int)
        self.seconds: dict[str, float] = defaultdict(float)

    def wrap(self, obj: Any, prefix: str) -> None:
        """Wrap every public coroutine method of ``obj`` with a counter."""
        for name, method in inspect.getmembers(obj, inspect.iscoroutinefunction):
            if name.startswith("_") or name in ("close", "wait"):
                continue
            setattr(obj, name, self._timed(f"{prefix}.{name}", method))
        if hasattr(obj, "wait"):  # waiting is idle time, not a round trip: counted apart
            obj.wait = self._timed(f"{prefix}.wait (idle)", obj.wait)

    def _timed(self, key: str, method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        @functools.wraps(method)
        async def timed(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return await method(*args, **kwargs)
            finally:
                self.calls[key] += 1
                self.seconds[key] += time.perf_counter() - t

        return timed

    def report(self, steps: int, wall: float) -> str:
        """A table: method, calls, calls per step, mean ms, total s, share of wall time."""
        lines = [f"{'call':42} {'calls':>7} {'/step':>7} {'mean ms':>8} {'total s':>8} {'% wall':>7}"]
        order = sorted(self.calls, key=lambda k: -self.seconds[k])
        round_trips = 0
        for key in order:
            n, s = self.calls[key], self.seconds[key]
            if "(idle)" not in key:
                round_trips += n
            lines.append(f"{key:42} {n:7d} {n / steps:7.2f} {1e3 * s / n:8.3f} {s:8.3f} {100 * s / wall:6.1f}%")
        lines.append(f"backend calls (without waits) per step: {round_trips / steps:.2f}; wall {wall:.3f}s")
        return "\n".join(lines)


@contextlib.contextmanager
def _url(backend: str) -> Iterator[str]:
    if backend == "pg":
        with fresh_pg_database("bench_prof") as name:
            yield pg_url(name) + "?schema=pikku"
    elif backend == "redis":
        with fresh_redis_prefix("bench_prof") as prefix:
            yield f"{REDIS_URL}?prefix={prefix}"
    else:
        with tempfile.TemporaryDirectory(prefix="bench-prof-") as folder:
            yield f"sqlite:///{Path(folder).resolve() / 'state.sqlite3'}"


async def _inline(rt: Runtime, runs: int, steps: int) -> None:
    for _ in range(runs):
        await rt.engine.start(f"inline{steps}", {})


async def _remote(rt: Runtime, runs: int, steps: int) -> None:
    worker = Worker(rt.engine, concurrency=10)
    task = asyncio.ensure_future(worker.run())
    try:
        ids = [await rt.engine.start(f"remote{steps}", {}) for _ in range(runs)]
        await _settled(rt, ids, 0.05 if runs > 1 else 0.01)
    finally:
        worker.stop()
        await task


async def profile(name: str, runs: int, steps: int) -> str:
    """Run one scenario under both views; the report text."""
    mode, backend = name.split("-")[-2:]
    with _url(backend) as url:
        rt = await open_runtime(state_url=url)
        try:
            for _ in range(3):
                await rt.engine.start("inline10", {})
            stats = CallStats()
            stats.wrap(rt.engine.state, "state")
            stats.wrap(rt.engine.queue, "queue")
            rt.engine.settings.local_steps = mode != "queued"
            scenario = _inline if mode == "inline" else _remote
            profiler = Profiler(interval=0.0005, async_mode="enabled")
            t0 = time.perf_counter()
            profiler.start()
            await scenario(rt, runs, steps)
            profiler.stop()
            wall = time.perf_counter() - t0
        finally:
            await rt.close()
    head = f"# {name}: {runs} run(s) x {steps} steps, {runs * steps / wall:,.0f} steps/s, wall {wall:.2f}s\n"
    tree = profiler.output_text(unicode=False, color=False, show_all=False, timeline=False)
    return head + "\n" + stats.report(runs * steps, wall) + "\n\n" + tree


SCENARIOS = {
    "inline-sqlite": (300, 10),
    "inline-pg": (150, 10),
    "remote-pg": (200, 10),
    "remote-sqlite": (200, 10),
    "queued-pg": (200, 10),  # remote with local_steps = false: every step a job, a hand-off and a replay
    "queued-redis": (200, 10),
    "long-remote-pg": (1, 300),
    "long-remote-sqlite": (1, 1000),
    "long-inline-pg": (1, 1000),
}


def main() -> None:
    """Profile the scenarios named on the command line (default: the three of bench/NOTES.md)."""
    parser = argparse.ArgumentParser(prog="python -m bench.prof")
    parser.add_argument("names", nargs="*", help="any of: " + ", ".join(SCENARIOS))
    parser.add_argument("--runs", type=int)
    parser.add_argument("--steps", type=int)
    opts = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    for name in opts.names or ["inline-sqlite", "inline-pg", "remote-pg"]:
        if name not in SCENARIOS:
            parser.error(f"unknown scenario {name!r}")
        runs, steps = SCENARIOS[name]
        report = asyncio.run(profile(name, opts.runs or runs, opts.steps or steps))
        (OUT / f"prof-{name}.txt").write_text(report)
        print(report)


if __name__ == "__main__":
    main()
