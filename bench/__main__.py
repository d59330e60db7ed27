"""``python -m bench``: pikku and DBOS Transact side by side, and the database's own limit, in one table.

Every measurement runs in a child interpreter (``bench.pikku_side``, ``bench.dbos_side``, ``bench.limit``,
``bench.prebuild_bench``) on a database of its own: a fresh PostgreSQL database per system and workload,
dropped afterwards, or a SQLite file in a temporary folder. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import functools
import json
import math
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bench.common import (
    OUT,
    REDIS_URL,
    ROOT,
    CpuMeter,
    child_command,
    child_result,
    fresh_pg_database,
    fresh_redis_prefix,
    machine,
    median,
    pg_url,
    run_child,
    snapshot_code,
    versions,
)

WORKLOADS = ("limit", "inline", "loops", "remote10", "remote1", "long", "prebuild", "backlog", "celery", "procs")
#: Workloads whose rows have no ratio to the limit probe (a run of only these skips the probe).
_NO_PROBE = {"loops", "prebuild", "backlog", "celery", "procs"}
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


@dataclass(frozen=True, slots=True)
class Plan:
    """How much of each workload to run."""

    name: str
    repeats: int
    inline_runs: int
    remote10_runs: int
    remote1_runs: int
    long_steps: tuple[int, int]
    limit_seconds: float
    pairs: int  # interleaved rounds of the pikku/DBOS rows (each round: one sample of each system)
    backlog_runs: tuple[int, ...]  # queued 3-step runs drained (workload 6)
    backlog_dbos_max: int  # DBOS drains ~100 runs/s here: larger backlogs are pikku-only
    celery_runs: int  # 10-task chains / 10-step runs (workload 7)
    procs_runs: int  # 10-step runs drained by 1, 2 and 4 processes (workload 8)
    procs: tuple[int, ...]


FULL = Plan("full", repeats=3, inline_runs=200, remote10_runs=1000, remote1_runs=1000, long_steps=(100, 1000),
            limit_seconds=3.0, pairs=5, backlog_runs=(1000, 10000, 50000), backlog_dbos_max=10000,
            celery_runs=1000, procs_runs=1000, procs=(1, 2, 4))  # fmt: skip
QUICK = Plan("quick", repeats=1, inline_runs=30, remote10_runs=100, remote1_runs=100, long_steps=(100, 1000),
             limit_seconds=1.0, pairs=2, backlog_runs=(200, 1000), backlog_dbos_max=1000, celery_runs=100,
             procs_runs=100, procs=(1, 2, 4))  # fmt: skip

err = Console(stderr=True, highlight=False)


# -- databases ----------------------------------------------------------------------------------------
@contextlib.contextmanager
def database(system: str, backend: str) -> Iterator[str]:
    """A state URL for ``system`` on an empty database of ``backend``, removed afterwards."""
    if backend == "pg":
        with fresh_pg_database(f"bench_{system}") as name:
            yield pg_url(name) + ("?schema=pikku" if system == "pikku" else "")
    elif backend == "redis":
        with fresh_redis_prefix(f"bench_{system}") as prefix:
            yield f"{REDIS_URL}?prefix={prefix}"
    else:
        with tempfile.TemporaryDirectory(prefix=f"bench-{system}-") as folder:
            yield f"sqlite:///{Path(folder).resolve() / 'state.sqlite3'}"


# -- collecting ---------------------------------------------------------------------------------------
Result = dict[str, float]
Results = dict[tuple[str, ...], Result | str]


def _median_of(samples: list[dict[str, Any]]) -> Result:
    keys = [k for k in samples[0] if all(k in s for s in samples)]
    return {k: median([float(s[k]) for s in samples]) for k in keys}


class Runner:
    """Runs the children of a plan, keeps the median of each figure, and reports progress."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.results: Results = {}
        #: per interleaved group: each round's samples by member key, and the order they ran in
        self.rounds: dict[str, list[dict[tuple[str, ...], dict[str, Any]]]] = {}
        self.orders: dict[str, list[list[tuple[str, ...]]]] = {}
        self.t0 = time.perf_counter()

    def log(self, text: str) -> None:
        err.print(f"[dim]{time.perf_counter() - self.t0:7.1f}s[/dim] {text}")

    def sample(self, key: tuple[str, ...], run: Callable[[], list[dict[str, Any]]]) -> None:
        """Run ``run`` (returning samples) and store their median under ``key``, or the error."""
        self.log(" ".join(key) + " ...")
        for attempt in (1, 2):  # one retry: the shared server may be restarted under us by other test suites
            try:
                self.results[key] = _median_of(run())
                return
            except Exception as exc:
                self.results[key] = "error (see log)"
                err.print(f"[red]{' '.join(key)} failed (attempt {attempt})[/red]: {exc}")

    def system(
        self, system: str, backend: str, args: dict[str, Any], repeats: int | None = None
    ) -> list[dict[str, Any]]:
        module = "bench.pikku_side" if system == "pikku" else "bench.dbos_side"
        repeats = max(repeats or 0, self.plan.repeats) if self.plan.name == "full" else self.plan.repeats
        with database(system, backend) as url:
            out = run_child(module, {**args, "url": url, "repeats": repeats})
        samples: list[dict[str, Any]] = out["samples"]
        return samples

    def one(self, system: str, backend: str, args: dict[str, Any], timeout: float = 900.0) -> dict[str, Any]:
        """One sample of ``system`` in a child on a fresh database (``system``: pikku, dbos or celery)."""
        if system == "celery":
            with fresh_redis_prefix("bench_celery") as prefix:
                env = {"BENCH_CELERY_PREFIX": prefix, "BENCH_CELERY_URL": REDIS_URL}
                out = run_child("bench.celery_side", {**args, "repeats": 1}, timeout, env=env)
        else:
            module = "bench.pikku_side" if system == "pikku" else "bench.dbos_side"
            with database(system, backend) as url:
                out = run_child(module, {**args, "url": url, "repeats": 1}, timeout)
        sample: dict[str, Any] = out["samples"][0] if "samples" in out else out
        return {k: v for k, v in sample.items() if isinstance(v, int | float)}  # figures only (not "loop")

    def interleaved(self, group: str, members: list[tuple[tuple[str, ...], str, str, dict[str, Any]]],
                    rounds: int) -> None:  # fmt: skip
        """Rounds of one sample per member (``(key, system, backend, args)``), each in a fresh child and
        database (:meth:`one`): see :meth:`rotated`."""
        samplers: list[tuple[tuple[str, ...], Callable[[], dict[str, Any]]]] = [
            (key, functools.partial(self.one, system, backend, args)) for key, system, backend, args in members
        ]
        self.rotated(group, samplers, rounds)

    def rotated(self, group: str, members: list[tuple[tuple[str, ...], Callable[[], dict[str, Any]]]],
                rounds: int) -> None:  # fmt: skip
        """Rounds of one sample per member (``(key, take a sample)``), the members' order rotating from round
        to round; each key's figure is the median of its samples, and the rounds are kept for the paired
        ratios (:func:`pair`)."""
        samples: dict[tuple[str, ...], list[dict[str, Any]]] = {m[0]: [] for m in members}
        self.rounds[group], self.orders[group] = [], []
        for n in range(rounds):
            order = members[n % len(members) :] + members[: n % len(members)]
            got: dict[tuple[str, ...], dict[str, Any]] = {}
            for key, take in order:
                self.log(f"{group} round {n + 1}/{rounds}: " + " ".join(key) + " ...")
                for attempt in (1, 2):  # one retry, as in sample()
                    try:
                        got[key] = take()
                        samples[key].append(got[key])
                        break
                    except Exception as exc:
                        err.print(f"[red]{' '.join(key)} failed (attempt {attempt})[/red]: {exc}")
            self.rounds[group].append(got)
            self.orders[group].append([m[0] for m in order])
        for key, found in samples.items():
            self.results[key] = _median_of(found) if found else "error (see log)"

    # -- workloads --------------------------------------------------------------------------------------
    def limit(self) -> None:
        seconds = self.plan.limit_seconds
        for conns in (1, 10):

            def pg(conns: int = conns) -> list[dict[str, Any]]:
                with fresh_pg_database("bench_limit") as name:
                    args = {"db": "pg", "url": pg_url(name), "seconds": seconds, "connections": conns}
                    out = run_child("bench.limit", {**args, "repeats": self.plan.repeats})
                samples: list[dict[str, Any]] = out["samples"]
                return samples

            self.sample(("limit", "pg", str(conns)), pg)

        def lite() -> list[dict[str, Any]]:
            with tempfile.TemporaryDirectory(prefix="bench-limit-") as folder:
                args = {"db": "sqlite", "path": str(Path(folder) / "probe.sqlite3"), "seconds": seconds}
                out = run_child("bench.limit", {**args, "repeats": self.plan.repeats})
            samples: list[dict[str, Any]] = out["samples"]
            return samples

        self.sample(("limit", "sqlite", "1"), lite)

    def inline(self) -> None:
        # Interleaved rounds: pikku on uvloop (row 1), DBOS, pikku on asyncio (row 1b), the order rotating,
        # each sample in a fresh child and database. pikku's PostgreSQL samples each come with a commit probe
        # taken just before them (paired ratio row); the PostgreSQL rows also meter CPU per step.
        args = {"op": "inline", "runs": self.plan.inline_runs, "steps": 10, "probe_s": self.plan.limit_seconds / 2}
        for backend in ("pg", "sqlite"):
            a = {**args, "cpu": backend == "pg"}
            members = [(("inline", backend, "pikku"), "pikku", backend, a),
                       (("inline", backend, "dbos"), "dbos", backend, a)]  # fmt: skip
            if backend == "pg":  # pikku on the standard asyncio loop (the rows above: pikku's choice, uvloop)
                members.append((("inline-asyncio", "pg", "pikku"), "pikku", "pg", {**a, "loop": "asyncio"}))
            self.interleaved(f"inline-{backend}", members, self.plan.pairs)

    def loops(self) -> None:
        # Row 1 against row 1b alone (no DBOS, no SQLite): pikku inline on PostgreSQL on uvloop and on the
        # standard asyncio loop, interleaved, twice the rounds of the pairs.
        args = {"op": "inline", "runs": self.plan.inline_runs, "steps": 10, "cpu": True}
        members = [(("loops", "pg", "uvloop"), "pikku", "pg", {**args, "loop": "uvloop"}),
                   (("loops", "pg", "asyncio"), "pikku", "pg", {**args, "loop": "asyncio"})]  # fmt: skip
        self.interleaved("loops", members, 2 * self.plan.pairs)

    def remote(self, steps: int, runs: int) -> None:
        # Interleaved rounds: pikku (local steps), DBOS, and for 10 steps pikku with local_steps = false
        # (row 2b, paired with the same round's DBOS sample).
        args = {"op": "remote", "runs": runs, "steps": steps, "concurrency": 10, "cpu": True}
        members = [((f"remote{steps}", "pg", "pikku"), "pikku", "pg", args),
                   ((f"remote{steps}", "pg", "dbos"), "dbos", "pg", {**args, "op": "queued"})]  # fmt: skip
        if steps == 10:
            members.append((("remote10-queued", "pg", "pikku"), "pikku", "pg", {**args, "local_steps": False}))
        self.interleaved(f"remote{steps}", members, self.plan.pairs)

    def backlog(self) -> None:
        # Queued 3-step runs drained by one worker (concurrency 10): pikku on PostgreSQL and Redis, DBOS on
        # PostgreSQL up to backlog_dbos_max. One sample per size (the sizes are the repeats).
        for n in self.plan.backlog_runs:
            args = {"op": "backlog", "runs": n, "concurrency": 10}
            self.sample(("backlog", "pg", str(n), "pikku"), lambda a=args: [self.one("pikku", "pg", a, 3600)])
            self.sample(("backlog", "redis", str(n), "pikku"), lambda a=args: [self.one("pikku", "redis", a, 3600)])
            if n <= self.plan.backlog_dbos_max:
                self.sample(("backlog", "pg", str(n), "dbos"), lambda a=args: [self.one("dbos", "pg", a, 3600)])

    def celery(self) -> None:
        # Redis: Celery chains of 10 no-op tasks (acks on receipt, Celery's default, and acks_late) against
        # pikku remote 10-step on Redis with and without local steps; interleaved rounds.
        runs = self.plan.celery_runs
        pikku = {"op": "remote", "runs": runs, "steps": 10, "concurrency": 10, "cpu": True}
        chains = {"runs": runs, "steps": 10, "concurrency": 10}
        members = [(("celery", "redis", "pikku"), "pikku", "redis", pikku),
                   (("celery", "redis", "celery"), "celery", "redis", chains),
                   (("celery", "redis", "pikku-queued"), "pikku", "redis", {**pikku, "local_steps": False}),
                   (("celery", "redis", "celery-late"), "celery", "redis", {**chains, "acks_late": True})]  # fmt: skip
        self.interleaved("celery", members, self.plan.repeats)

    def procs(self) -> None:
        # Row 2b's workload (10-step runs, local_steps = false) drained by 1, 2 and 4 worker processes.
        for k in self.plan.procs:
            self.sample(("procs", "pg", str(k)), lambda k=k: [self._procs(k)])

    def _procs(self, k: int) -> dict[str, Any]:
        """One drain by ``k`` worker processes of ``procs_runs`` queued ledger runs, and the ledger check."""
        runs = self.plan.procs_runs
        with fresh_pg_database("bench_procs") as name, tempfile.TemporaryDirectory(prefix="bench-procs-") as d:
            url = pg_url(name) + "?schema=pikku"
            run_child("bench.pikku_side", {"op": "enqueue_ledger", "runs": runs, "url": url})
            folder = Path(d)
            workers = []
            try:
                for i in range(k):
                    args = {"op": "drain_worker", "url": url, "dir": d, "index": i, "local_steps": False,
                            "concurrency": 10}  # fmt: skip
                    cmd, env = child_command("bench.pikku_side", args)
                    with (folder / f"out-{i}").open("w") as out, (folder / f"err-{i}").open("w") as log:
                        # files, not pipes: nothing reads a pipe while the drain runs, and a full one blocks
                        workers.append(subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=log))
                deadline = time.monotonic() + 120
                while not all((folder / f"ready-{i}").exists() for i in range(k)):
                    if time.monotonic() > deadline or any(w.poll() is not None for w in workers):
                        raise RuntimeError("a worker process did not get ready")
                    time.sleep(0.01)
                meter = CpuMeter(pg_url(name))  # the PostgreSQL backends serving the workers
                xacts = _pg_xacts(name)
                meter.start()
                go = time.time()
                (folder / "go").touch()
                deadline = time.monotonic() + 1800
                while not all((folder / f"done-{i}").exists() for i in range(k)):
                    if time.monotonic() > deadline or any(w.poll() is not None for w in workers):
                        break  # failed: the results below report it
                    time.sleep(0.01)
                server = meter.stop()["server"]  # while the workers' connections are still open
                meter.close()
                conns = _pg_connections(name)
                time.sleep(1.2)  # backends flush their statistics at most once a second
                xacts = _pg_xacts(name) - xacts
                (folder / "stop").touch()
                outs = []
                for i, w in enumerate(workers):
                    w.wait(timeout=120)
                    stdout, stderr = (folder / f"out-{i}").read_text(), (folder / f"err-{i}").read_text()
                    outs.append(child_result("bench.pikku_side", {"op": "drain_worker"}, w.returncode, stdout, stderr))
            finally:
                for w in workers:  # only on an error: the processes this call started
                    if w.poll() is None:
                        w.kill()
                        w.wait()
            total = max(o["ended"] for o in outs) - go
            done = run_child("bench.pikku_side", {"op": "count_ledger", "runs": runs, "url": url})["completed"]
            ledger: Counter[str] = Counter()
            for i in range(k):
                ledger.update((folder / f"ledger-{i}.txt").read_text().split("\n")[:-1])
        per_run = Counter(line.split(" ")[0] for line in ledger)
        once = (done == runs and len(per_run) == runs and all(c == 1 for c in ledger.values())
                and all(c == 10 for c in per_run.values()))  # fmt: skip
        return {"runs_per_s": runs / total, "steps_per_s": runs * 10 / total, "total_s": total,
                "completed": float(done), "executions": float(sum(ledger.values())),
                "duplicates": float(sum(c - 1 for c in ledger.values() if c > 1)), "exactly_once": float(once),
                "start_spread_s": max(o["started"] for o in outs) - min(o["started"] for o in outs),
                "min_share": min(o["steps_run"] for o in outs) / max(1, runs * 10),
                "cpu_workers_us": sum(o["cpu_s"] for o in outs) * 1e6 / (runs * 10),
                "cpu_server_us": server * 1e6 / (runs * 10), "xacts_per_step": xacts / (runs * 10),
                "connections": float(conns)}  # fmt: skip

    def long(self) -> None:
        # One child per row measures both sizes back to back, each sample a pair: the mean time of a 100-step
        # run (over 10 runs, as many steps as the big one) and of one 1,000-step run. Their ratio per pair
        # then shares the machine's state of that moment (this box's speed drifts by 2x over minutes), and a
        # 10 ms run is not left to a single scheduler hiccup. The figure is the median of the pairs.
        small, big = min(self.plan.long_steps), max(self.plan.long_steps)
        for backend in ("pg", "sqlite"):
            for mode in ("inline", "remote", "queued"):
                for system in ("pikku", "dbos") if mode != "queued" else ("pikku",):
                    # queued: remote with local_steps = false, every step a pass (issue 17 target 2)
                    args = {"op": "growth", "mode": "remote" if mode == "queued" else mode, "small": small, "big": big,
                            "local_steps": mode != "queued"}  # fmt: skip
                    key = ("long", backend, mode, system)
                    self.sample(key, lambda s=system, b=backend, a=args: self.system(s, b, a, repeats=5))

    def prebuild(self) -> None:
        """Pairs of a bare parse and a cold prebuild (each in a fresh interpreter, the order alternating:
        :meth:`rotated`), then warm prebuilds; the cold/parse ratio is the median of the pairs'."""
        with tempfile.TemporaryDirectory(prefix="bench-prebuild-") as folder:
            run_child("bench.prebuild_bench", {"op": "generate", "dir": folder})
            members: list[tuple[tuple[str, ...], Callable[[], dict[str, Any]]]] = [
                (("prebuild", op), functools.partial(self._prebuild_sample, folder, op)) for op in ("parse", "cold")
            ]
            self.rotated("prebuild", members, self.plan.pairs)

            def warm() -> list[dict[str, Any]]:
                return [self._prebuild_sample(folder, "warm") for _ in range(self.plan.repeats)]

            self.sample(("prebuild", "warm"), warm)

    def _prebuild_sample(self, folder: str, op: str) -> dict[str, Any]:
        """One sample in a fresh interpreter: {"time": wall s, "cpu": user+sys s}."""
        if op == "parse":  # every file parsed once, as a cold prebuild does
            out = run_child("bench.prebuild_bench", {"op": "parse", "dir": folder, "repeats": 1})
            return {"time": out["times"][0], "cpu": out["cpus"][0]}
        if op == "warm":  # make sure output and cache exist and match the sources
            run_child("bench.prebuild_bench", {"op": "warm", "dir": folder})
        sample: dict[str, Any] = run_child("bench.prebuild_bench", {"op": op, "dir": folder})
        return sample


# -- the table ----------------------------------------------------------------------------------------
@dataclass(slots=True)
class Row:
    """One line of the table: a figure for pikku, DBOS and the limit, and how to read it."""

    workload: str
    metric: str
    pikku: float | str | None
    dbos: float | str | None
    limit: float | str | None
    fmt: str  # "rate" | "ms" | "s" | "x" | "us" | "mb" | "bytes"
    target: str = ""
    meets: bool | None = None
    pair: tuple[float, float, float] | None = None  # median, min, max of the per-round pikku/other ratios


Rounds = dict[str, list[dict[tuple[str, ...], dict[str, Any]]]]


def pair(rounds: Rounds, group: str, a: tuple[str, ...], b: tuple[str, ...], field: str,
         ) -> tuple[float, float, float] | None:  # fmt: skip
    """The median, min and max over the rounds of ``group`` of ``a``'s figure over ``b``'s of the same round."""
    ratios = []
    for rd in rounds.get(group, []):
        x, y = _num(_field(rd.get(a), field)), _num(_field(rd.get(b), field))
        if x is not None and y:
            ratios.append(x / y)
    return (median(ratios), min(ratios), max(ratios)) if ratios else None


def _field(sample: dict[str, Any] | None, field: str) -> float | None:
    value = None if sample is None else sample.get(field)
    return float(value) if isinstance(value, int | float) else None


def _get(results: Results, key: tuple[str, ...], field: str, scale: float = 1.0) -> float | str | None:
    value = results.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return value[field] * scale if field in value else None


def _num(v: float | str | None) -> float | None:
    return v if isinstance(v, float) and math.isfinite(v) else None


def _div(a: float | str | None, b: float | str | None) -> float | None:
    x, y = _num(a), _num(b)
    return x / y if x is not None and y else None


_PG1, _PG10, _LITE = ("limit", "pg", "1"), ("limit", "pg", "10"), ("limit", "sqlite", "1")
_NAMES = {"pg": "PostgreSQL", "sqlite": "SQLite"}
_LIMIT_OF = {"pg": _PG1, "sqlite": _LITE}


def build_rows(r: Results, plan: Plan, rounds: Rounds | None = None,
               orders: dict[str, list[list[tuple[str, ...]]]] | None = None) -> list[Row]:  # fmt: skip
    """Every row the results allow (missing workloads leave their rows out)."""
    rounds, orders = rounds or {}, orders or {}
    return [*_limit_rows(r), *_inline_rows(r, rounds, orders), *_remote_rows(r, plan, rounds), *_long_rows(r, plan),
            *_prebuild_rows(r, rounds), *_backlog_rows(r, plan), *_celery_rows(r, plan, rounds),
            *_procs_rows(r, plan)]  # fmt: skip


_CPU_TARGET = "<= 0.3x DBOS"


def _cpu_rows(r: Results, w: str, p: tuple[str, ...], d: tuple[str, ...], rounds: Rounds, group: str,
              target: bool) -> list[Row]:  # fmt: skip
    """CPU per step (process + its PostgreSQL backends), and the backends' part, when the samples have it."""
    if _num(_get(r, p, "cpu_total_us")) is None and _num(_get(r, d, "cpu_total_us")) is None:
        return []
    ratio = pair(rounds, group, p, d, "cpu_total_us")
    meets = None if ratio is None or not target else ratio[0] <= 0.3
    return [
        Row(w, "CPU us/step, process + its PG backends", _get(r, p, "cpu_total_us"), _get(r, d, "cpu_total_us"),
            None, "us", _CPU_TARGET if target else "", meets, ratio),
        Row(w, "CPU us/step, of which PG backends", _get(r, p, "cpu_server_us"), _get(r, d, "cpu_server_us"),
            None, "us", "", None, pair(rounds, group, p, d, "cpu_server_us")),
    ]  # fmt: skip


def _limit_rows(r: Results) -> list[Row]:
    if not any(k[0] == "limit" for k in r):
        return []
    return [
        Row("limit probe", "PG commits/s, 1 connection", None, None, _get(r, _PG1, "tx_per_s"), "rate"),
        Row("limit probe", "PG commit p50 latency (ms), 1 conn", None, None, _get(r, _PG1, "p50_s", 1e3), "ms"),
        Row("limit probe", "PG commits/s, 10 connections", None, None, _get(r, _PG10, "tx_per_s"), "rate"),
        Row("limit probe", "SQLite commits/s, 1 connection", None, None, _get(r, _LITE, "tx_per_s"), "rate"),
    ]


def _inline_rows(r: Results, rounds: Rounds, orders: dict[str, list[list[tuple[str, ...]]]]) -> list[Row]:
    rows: list[Row] = []
    for b in ("pg", "sqlite"):
        p, d = ("inline", b, "pikku"), ("inline", b, "dbos")
        if p not in r and d not in r:
            continue
        g = f"inline-{b}"
        w = f"1 inline 10-step, {_NAMES[b]}"
        steps = pair(rounds, g, p, d, "steps_per_s")
        vs_dbos = steps[0] if steps else _div(_get(r, p, "steps_per_s"), _get(r, d, "steps_per_s"))
        rows += [
            Row(w, "steps/s", _get(r, p, "steps_per_s"), _get(r, d, "steps_per_s"),
                _get(r, _LIMIT_OF[b], "tx_per_s"), "rate", ">= 3x DBOS", None if vs_dbos is None else vs_dbos >= 3,
                steps),
            Row(w, "run latency p50 (ms)", _get(r, p, "p50_s", 1e3), _get(r, d, "p50_s", 1e3),
                _get(r, _LIMIT_OF[b], "p50_s", 1e4), "ms", pair=pair(rounds, g, p, d, "p50_s")),
            Row(w, "run latency p99 (ms)", _get(r, p, "p99_s", 1e3), _get(r, d, "p99_s", 1e3), None, "ms",
                pair=pair(rounds, g, p, d, "p99_s")),
            *_cpu_rows(r, w, p, d, rounds, g, b == "pg"),
        ]  # fmt: skip
        paired = _num(_get(r, p, "vs_probe"))
        if paired is not None:  # limit: the probe taken just before each sample; target on the paired ratios
            rows.append(Row(w, "steps/s, probe paired with each sample", _get(r, p, "steps_per_s"), None,
                            _get(r, p, "probe_tx_per_s"), "rate", f">= 0.5x probe (median pair {paired:.2f}x)",
                            paired >= 0.5))  # fmt: skip
    p, d, u = ("inline-asyncio", "pg", "pikku"), ("inline", "pg", "dbos"), ("inline", "pg", "pikku")
    if p in r:
        w = "1b inline 10-step, PG, asyncio loop"
        rows += [
            Row(w, "steps/s", _get(r, p, "steps_per_s"), _get(r, d, "steps_per_s"), _get(r, _PG1, "tx_per_s"),
                "rate", pair=pair(rounds, "inline-pg", p, d, "steps_per_s")),
            *_cpu_rows(r, w, p, d, rounds, "inline-pg", False),
        ]  # fmt: skip
        rows += _loop_rows(rounds, orders, "inline-pg", u, p, "1 / 1b: uvloop / asyncio, paired")
    u, p = ("loops", "pg", "uvloop"), ("loops", "pg", "asyncio")
    rows += _loop_rows(rounds, orders, "loops", u, p, "1 / 1b alone: uvloop / asyncio, inline PG, paired")
    return rows


def _loop_rows(rounds: Rounds, orders: dict[str, list[list[tuple[str, ...]]]], group: str, u: tuple[str, ...],
               p: tuple[str, ...], w: str) -> list[Row]:  # fmt: skip
    """uvloop over asyncio per round (steps/s, CPU per step), overall and split by which of the two ran first
    in the round: does uvloop hurt, or does the order of measurement bias the table?"""
    rows: list[Row] = []
    loops = pair(rounds, group, u, p, "steps_per_s")
    if loops is None:
        return rows
    rows.append(Row(w, f"steps/s ratio, median of {len(rounds[group])} rounds", loops[0], None, None, "x",
                    f"min-max {loops[1]:.2f}-{loops[2]:.2f}"))  # fmt: skip
    cpu = pair(rounds, group, u, p, "cpu_total_us")
    if cpu is not None:
        rows.append(Row(w, "CPU/step ratio, median of rounds", cpu[0], None, None, "x",
                        f"min-max {cpu[1]:.2f}-{cpu[2]:.2f}"))  # fmt: skip
    for first, label in ((u, "uvloop ran first"), (p, "asyncio ran first")):
        kept = [
            rd
            for rd, order in zip(rounds[group], orders.get(group, []), strict=False)
            if u in order and p in order and order.index(first) == min(order.index(u), order.index(p))
        ]
        got = pair({group: kept}, group, u, p, "steps_per_s")  # fmt: skip
        if got is not None:
            rows.append(Row(w, f"steps/s ratio in the {len(kept)} rounds where {label}", got[0], None, None, "x",
                            f"min-max {got[1]:.2f}-{got[2]:.2f}"))  # fmt: skip
    return rows


def _remote_rows(r: Results, plan: Plan, rounds: Rounds) -> list[Row]:
    rows: list[Row] = []
    for steps, runs in ((10, plan.remote10_runs), (1, plan.remote1_runs)):
        p, d = (f"remote{steps}", "pg", "pikku"), (f"remote{steps}", "pg", "dbos")
        if p not in r and d not in r:
            continue
        g = f"remote{steps}"
        w = f"{2 if steps == 10 else 3} remote {steps}-step x{runs}, PostgreSQL"
        rate = _num(_get(r, _PG10, "tx_per_s"))
        drain_pair, p50_pair = pair(rounds, g, p, d, "runs_per_s"), pair(rounds, g, p, d, "p50_s")
        drain = drain_pair[0] if drain_pair else _div(_get(r, p, "runs_per_s"), _get(r, d, "runs_per_s"))
        p50 = p50_pair[0] if p50_pair else _div(_get(r, p, "p50_s"), _get(r, d, "p50_s"))
        targeted = steps == 10  # the targets: drain at least 2x DBOS, p50 start-to-finish no worse
        rows += [
            Row(w, "runs/s to drain", _get(r, p, "runs_per_s"), _get(r, d, "runs_per_s"),
                rate / steps if rate else None, "rate", ">= 2x DBOS" if targeted else "",
                None if drain is None or not targeted else drain >= 2, drain_pair),
            Row(w, "start-to-finish p50 (s)", _get(r, p, "p50_s"), _get(r, d, "p50_s"), None, "s",
                "no worse than DBOS" if targeted else "", None if p50 is None or not targeted else p50 <= 1, p50_pair),
            Row(w, "start-to-finish p99 (s)", _get(r, p, "p99_s"), _get(r, d, "p99_s"), None, "s",
                pair=pair(rounds, g, p, d, "p99_s")),
            *_cpu_rows(r, w, p, d, rounds, g, targeted),
        ]  # fmt: skip
        if steps == 10:  # steps/s (for 1-step runs it is runs/s again)
            rows.insert(len(rows) - 4, Row(w, "steps/s", _get(r, p, "steps_per_s"), _get(r, d, "steps_per_s"),
                                           rate, "rate", pair=pair(rounds, g, p, d, "steps_per_s")))  # fmt: skip
        q = ("remote10-queued", "pg", "pikku")
        if steps == 10 and q in r:
            w = f"2b remote 10-step x{runs}, PG, local_steps=false"
            drain_pair, p50_pair = pair(rounds, g, q, d, "runs_per_s"), pair(rounds, g, q, d, "p50_s")
            rows += [
                Row(w, "runs/s to drain", _get(r, q, "runs_per_s"), _get(r, d, "runs_per_s"),
                    rate / steps if rate else None, "rate", ">= 4x DBOS",
                    None if drain_pair is None else drain_pair[0] >= 4, drain_pair),
                Row(w, "start-to-finish p50 (s)", _get(r, q, "p50_s"), _get(r, d, "p50_s"), None, "s",
                    "<= 0.5x DBOS", None if p50_pair is None else p50_pair[0] <= 0.5, p50_pair),
                *_cpu_rows(r, w, q, d, rounds, g, True),
            ]  # fmt: skip
    return rows


def _long_rows(r: Results, plan: Plan) -> list[Row]:
    rows: list[Row] = []
    short, big = min(plan.long_steps), max(plan.long_steps)
    for b in ("pg", "sqlite"):
        for mode in ("inline", "remote", "queued"):
            p, d = ("long", b, mode, "pikku"), ("long", b, mode, "dbos")
            if p not in r and d not in r:
                continue
            how = "remote, local_steps=false" if mode == "queued" else mode
            w = f"4 one {big}-step workflow, {how}, {_NAMES[b]}"
            growth = _num(_get(r, p, "growth"))
            rows += [
                Row(w, "steps/s", _get(r, p, "steps_per_s"), _get(r, d, "steps_per_s"),
                    _get(r, _LIMIT_OF[b], "tx_per_s"), "rate"),
                Row(w, f"time({big}) / time({short})", _get(r, p, "growth"), _get(r, d, "growth"), None, "x",
                    "<= 12x", None if growth is None else growth <= 12),
            ]  # fmt: skip
    return rows


def _prebuild_rows(r: Results, rounds: Rounds) -> list[Row]:
    pr, cold, warm = ("prebuild", "parse"), ("prebuild", "cold"), ("prebuild", "warm")
    if cold not in r:
        return []
    w = "5 prebuild, 1,000 modules"
    parse_t, cold_t, warm_t = _get(r, pr, "time"), _get(r, cold, "time"), _get(r, warm, "time")
    warm_ratio = _div(warm_t, cold_t)
    wall, cpu = pair(rounds, "prebuild", cold, pr, "time"), pair(rounds, "prebuild", cold, pr, "cpu")
    n = len(rounds.get("prebuild", []))
    rows = [
        Row(w, "cold (s); limit = bare libcst parse (medians)", cold_t, None, parse_t, "s"),
        Row(w, "CPU s, cold; limit = bare parse (medians)", _get(r, cold, "cpu"), None, _get(r, pr, "cpu"), "s"),
    ]
    if wall is not None:
        rows.append(
            Row(
                w,
                f"cold / parse, wall, median of {n} interleaved pairs",
                wall[0],
                None,
                None,
                "x",
                f"<= 1.5x parse (min-max {wall[1]:.2f}-{wall[2]:.2f})",
                wall[0] <= 1.5,
            )
        )
    if cpu is not None:
        rows.append(
            Row(
                w,
                "cold / parse, CPU, median of the pairs",
                cpu[0],
                None,
                None,
                "x",
                f"min-max {cpu[1]:.2f}-{cpu[2]:.2f}",
            )
        )
    rows += [
        Row(
            w,
            "warm, nothing changed (s)",
            warm_t,
            None,
            None,
            "s",
            "< 10% of cold",
            None if warm_ratio is None else warm_ratio < 0.10,
        ),
        Row(w, "warm / cold", warm_ratio, None, None, "x"),
    ]
    return rows  # fmt: skip


def _backlog_rows(r: Results, plan: Plan) -> list[Row]:
    rows: list[Row] = []
    first = str(min(plan.backlog_runs))
    for b in ("pg", "redis"):
        base = _num(_get(r, ("backlog", b, first, "pikku"), "runs_per_s"))
        rss_base = _num(_get(r, ("backlog", b, first, "pikku"), "rss_after_mb"))
        for n in plan.backlog_runs:
            p, d = ("backlog", b, str(n), "pikku"), ("backlog", b, str(n), "dbos")
            if p not in r and d not in r:
                continue
            w = f"6 backlog of {n:,} queued 3-step runs, {_NAMES.get(b, 'Redis')}"
            rate, rss = _num(_get(r, p, "runs_per_s")), _num(_get(r, p, "rss_after_mb"))
            big = str(n) != first
            rows += [
                Row(w, "runs/s to drain (1 worker, concurrency 10)", _get(r, p, "runs_per_s"),
                    _get(r, d, "runs_per_s"), None, "rate",
                    f"within 20% of the {int(first):,}-run drain" if big else "",
                    None if not big or rate is None or not base else rate >= 0.8 * base),
                Row(w, "worker RSS after the drain (MiB)", _get(r, p, "rss_after_mb"), _get(r, d, "rss_after_mb"),
                    None, "mb", f"<= {int(first):,}-run RSS + 30 MiB" if big else "",
                    None if not big or rss is None or rss_base is None else rss <= rss_base + 30),
                Row(w, "RSS growth during the drain (MiB)", _get(r, p, "rss_growth_mb"),
                    _get(r, d, "rss_growth_mb"), None, "mb"),
            ]  # fmt: skip
            if b == "pg":
                rows.append(Row(w, "stored bytes/step (tables + indexes)", _get(r, p, "bytes_per_step"),
                                _get(r, d, "bytes_per_step"), None, "bytes"))  # fmt: skip
    return rows


def _celery_rows(r: Results, plan: Plan, rounds: Rounds) -> list[Row]:
    c, late = ("celery", "redis", "celery"), ("celery", "redis", "celery-late")
    if c not in r:
        return []
    rows: list[Row] = []
    w = f"7 Redis: {plan.celery_runs:,} x 10 steps vs Celery chains"
    for key, label in ((("celery", "redis", "pikku"), "local steps"),
                       (("celery", "redis", "pikku-queued"), "local_steps=false")):  # fmt: skip
        for other, name in ((c, "Celery"), (late, "Celery acks_late")):
            ratio = pair(rounds, "celery", key, other, "runs_per_s")
            target = name == "Celery"
            rows.append(Row(w, f"runs/s, pikku {label} vs {name}", _get(r, key, "runs_per_s"),
                            _get(r, other, "runs_per_s"), None, "rate", ">= 2x Celery" if target else "",
                            None if ratio is None or not target else ratio[0] >= 2, ratio))  # fmt: skip
        rows.append(Row(w, f"CPU us/step, pikku {label} vs Celery (processes; Redis server excluded)",
                        _get(r, key, "cpu_client_us"), _get(r, c, "cpu_total_us"), None, "us",
                        pair=_cpu_pair(rounds, key, c)))  # fmt: skip
    return rows


def _cpu_pair(rounds: Rounds, key: tuple[str, ...], other: tuple[str, ...]) -> tuple[float, float, float] | None:
    """pikku's process CPU (client: pikku on Redis has no server part counted) over Celery's worker + driver."""
    ratios = []
    for rd in rounds.get("celery", []):
        x, y = _num(_field(rd.get(key), "cpu_client_us")), _num(_field(rd.get(other), "cpu_total_us"))
        if x is not None and y:
            ratios.append(x / y)
    return (median(ratios), min(ratios), max(ratios)) if ratios else None


def _pg_xacts(database: str) -> float:
    """Committed + rolled-back transactions of ``database`` so far (pg_stat_database)."""
    with psycopg.connect(pg_url(database), autocommit=True) as conn:
        row = conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    return float(row[0]) if row else float("nan")


def _pg_connections(database: str) -> int:
    """Client backends connected to ``database`` right now, this query's own left out."""
    with psycopg.connect(pg_url(database), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
        ).fetchone()
    return int(row[0]) if row else -1


def _sum(a: float | str | None, b: float | str | None) -> float | None:
    x, y = _num(a), _num(b)
    return x + y if x is not None and y is not None else None


def _procs_rows(r: Results, plan: Plan) -> list[Row]:
    rows: list[Row] = []
    for k in plan.procs:
        p = ("procs", "pg", str(k))
        if p not in r:
            continue
        w = f"8 {k} worker process{'es' if k > 1 else ''}, {plan.procs_runs:,} x 10 steps, local_steps=false, PG"
        once = _num(_get(r, p, "exactly_once"))
        rows += [
            Row(w, "runs/s to drain (each process concurrency 10)", _get(r, p, "runs_per_s"), None, None, "rate"),
            Row(w, "CPU us/step, worker processes + their PG backends",
                _sum(_get(r, p, "cpu_workers_us"), _get(r, p, "cpu_server_us")), None, None, "us"),
            Row(w, "CPU us/step, of which PG backends", _get(r, p, "cpu_server_us"), None, None, "us"),
            Row(w, "PG transactions/step (pg_stat_database, includes the meter's)", _get(r, p, "xacts_per_step"),
                None, None, "us"),
            Row(w, "PG connections open at the end of the drain", _get(r, p, "connections"), None, None, "rate"),
            Row(w, "step bodies run / duplicates (ledger)",
                f"{_fmt(_get(r, p, 'executions'), 'bytes')} / {_fmt(_get(r, p, 'duplicates'), 'bytes')}", None, None,
                "rate", "every step body exactly once", None if once is None else once == 1.0),
        ]  # fmt: skip
    return rows


# (format below the threshold, format at or above it, threshold) per kind of figure
_FORMATS = {"rate": ("{:,.1f}", "{:,.0f}", 100.0), "ms": ("{:.2f}", "{:,.1f}", 10.0), "s": ("{:.3f}", "{:,.2f}", 1.0),
            "us": ("{:.1f}", "{:,.0f}", 100.0), "mb": ("{:.1f}", "{:,.0f}", 1000.0),
            "bytes": ("{:,.0f}", "{:,.0f}", 1.0)}  # fmt: skip


def _fmt(v: float | str | None, kind: str) -> str:
    if isinstance(v, str):
        return v
    if v is None or not math.isfinite(v):
        return "-"
    if kind == "x":
        return f"{v:.2f}x"
    small, large, threshold = _FORMATS[kind]
    return (small if v < threshold else large).format(v)


def _ratio(a: float | str | None, b: float | str | None) -> str:
    q = _div(a, b)
    if q is None:
        return "-"
    return f"{q:.2f}x" if q >= 0.1 else f"{q:.2g}x"


def cells(row: Row) -> list[str]:
    """The printed cells of a row (pikku/DBOS: the median of the paired ratios and their min-max, when paired)."""
    target = row.target
    if row.meets is not None:
        target = f"{target} {'MET' if row.meets else 'MISSED'}"
    vs = _ratio(row.pikku, row.dbos)
    if row.pair is not None:
        mid, lo, hi = row.pair
        vs = f"{mid:.2f}x ({lo:.2f}-{hi:.2f})" if mid >= 0.1 else f"{mid:.2g}x ({lo:.2g}-{hi:.2g})"
    return [
        row.workload,
        row.metric,
        _fmt(row.pikku, row.fmt),
        _fmt(row.dbos, row.fmt),
        _fmt(row.limit, row.fmt),
        vs,
        _ratio(row.pikku, row.limit),
        target,
    ]


HEADERS = ["workload", "metric", "pikku", "DBOS*", "limit", "pikku/DBOS*", "pikku/limit", "target"]


def context_lines(plan: Plan, info: dict[str, Any]) -> list[str]:
    """What the table was measured on and how."""
    m, v = info["machine"], info["versions"]
    return [
        f"machine: {m['cores']} cores, {m['cpu']}, {m['os']}",
        f"versions: Python {v['python']}, pikku {v['pikku']} (git {info['code']}), DBOS Transact {v['dbos']}, "
        f"PostgreSQL {v.get('postgresql', '?')}, SQLite {v['sqlite']}, psycopg {v['psycopg']}, libcst {v['libcst']}",
        f"durability: PostgreSQL synchronous_commit={v.get('pg_synchronous_commit', '?')}, "
        f"fsync={v.get('pg_fsync', '?')} (server as configured); SQLite journal_mode=WAL, synchronous=NORMAL "
        "for pikku, DBOS (set by the benchmark; DBOS's default is rollback journal + synchronous=FULL) and the probe",
        f"plan: {plan.name}; each figure the median of {plan.repeats} repeat(s); inline: {plan.inline_runs} "
        f"sequential runs; remote: {plan.remote10_runs} x 10-step and {plan.remote1_runs} x 1-step runs started "
        "at once, concurrency 10; prebuild: 200 workflow + 800 function modules",
        f"pikku: on uvloop {v.get('uvloop', '?')} (the loop pikku's entry points pick when pikku[fast] is "
        "installed; row 1b: the standard asyncio loop); default Settings; rpc steps; remote = ONE in-process "
        "pikku.Worker(engine, concurrency=10) on the "
        "event loop that starts the runs; it serves every queue, so each run's steps run inside its pass (local "
        "steps: no step job, no hand-off); row 2b sends every step through its queue (a job per step, a hand-off "
        "and a replay per step)",
        "DBOS: sync @DBOS.workflow calling @DBOS.step; remote = DBOS.register_queue(worker_concurrency=10, "
        "polling_interval_sec=0.02; the 1 s default would cap it near 10 workflows/s); its steps run inside "
        "the workflow's executor, with no per-step hand-off",
        "limit: one-row INSERT + COMMIT per transaction (psycopg 3 / sqlite3), no framework; latency limit "
        "= 10 x commit p50; remote rows use the 10-connection rate (runs/s limit = rate / steps per run)",
        f"pairs: rows 1, 1b, 2, 2b and 3 come from {plan.pairs} interleaved rounds, each round one sample of every "
        "system of the row (pikku, DBOS, and pikku on asyncio / with local_steps=false), each in a fresh child "
        "process on a fresh database, the order rotating from round to round; a figure is the median of its "
        "samples and pikku/DBOS* the median of the per-round ratios with their min-max in brackets (row 2b is "
        "paired with the same round's DBOS sample of row 2; row 1b with row 1's)",
        "CPU us/step: user+sys CPU of the measuring process (every thread, and waited-for children: RUSAGE_SELF "
        "+ RUSAGE_CHILDREN; DBOS's executor threads included) plus the PostgreSQL client backends serving its "
        "database (pg_stat_activity, /proc/<pid>/stat), over the sample, divided by its steps; PostgreSQL's "
        "background processes (checkpointer, WAL writer, autovacuum, ...) are excluded; 10 ms clock ticks",
        f"backlog (6): N queued 3-step runs drained by one worker (concurrency 10); pikku on PostgreSQL and Redis, "
        f"DBOS on PostgreSQL up to {plan.backlog_dbos_max:,} runs (queued by a DBOSClient, then its queue "
        "registered); one sample per N; RSS = VmRSS of the worker process; bytes = pg_total_relation_size of "
        "every table of the system's schema after the drain (no vacuum) / steps",
        f"Celery (7): * Celery in the DBOS column; Celery {v.get('celery', '?')}, Redis broker + result backend, "
        "prefork pool, --concurrency 10, one worker process; task_acks_late=False (Celery's default: a task is "
        "acked when received, lost if its worker dies mid-task) and, second row, acks_late=True; every task's "
        f"result stored in Redis; chains of 10 no-op tasks (.si); {plan.repeats} interleaved round(s); pikku = "
        "remote 10-step on Redis, one in-process worker, concurrency 10; CPU: Celery's worker process tree "
        "(/proc) + the driver process, pikku's process; the Redis server's CPU is not counted. Redis server "
        f"{v.get('redis_server', '?')}: appendonly={v.get('redis_appendonly', '?')}, "
        f"save={v.get('redis_save', '?')}: on this server NOTHING on Redis (pikku's state or Celery's) survives "
        "a Redis restart; both sides get the same server",
        f"processes (8): {plan.procs_runs:,} queued 10-step ledger runs (local_steps=false) drained by N `python` "
        "worker processes, each one pikku.Worker(concurrency=10) with its own pool, started together (go file); "
        "the ledger is each step body's (run, step) line, counted afterwards",
        "ratios: throughput rows > 1 = pikku faster; latency/time/CPU rows < 1 = pikku faster",
    ]


def render(rows: list[Row], plan: Plan, info: dict[str, Any], elapsed: float) -> tuple[Table, str]:
    """The rich table for the terminal and the Markdown text for RESULTS.md."""
    context = context_lines(plan, info)
    table = Table(
        title="pikku vs DBOS Transact vs the limit", caption=escape("\n".join(context)), caption_justify="left"
    )
    for h in HEADERS:
        table.add_column(h, justify="left" if h in ("workload", "metric", "target") else "right")
    for row in rows:
        table.add_row(*cells(row))
    md = [
        "# Benchmark results",
        "",
        f"`.venv/bin/python -m bench` ({plan.name} plan), {info['date']}, {elapsed:.0f} s in total.",
        "",
        *[f"- {line}" for line in context],
        "",
        "| " + " | ".join(HEADERS) + " |",
        "|" + "|".join("---" if h in ("workload", "metric", "target") else "---:" for h in HEADERS) + "|",
        *["| " + " | ".join(cells(row)) + " |" for row in rows],
        "",
    ]
    return table, "\n".join(md)


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run the workloads, print the table, save it."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts, one repeat: a smoke run")
    parser.add_argument("--only", action="append", choices=WORKLOADS, help="run only this workload (repeatable)")
    parser.add_argument("--repeats", type=int, help="override the number of repeats per figure")
    parser.add_argument("--pairs", type=int, help="override the number of interleaved rounds (pikku/DBOS rows)")
    parser.add_argument("--head", action="store_true", help="measure the committed HEAD, not the work tree")
    opts = parser.parse_args(argv)
    plan = QUICK if opts.quick else FULL
    if opts.repeats:
        plan = dataclasses.replace(plan, repeats=opts.repeats)
    if opts.pairs:
        plan = dataclasses.replace(plan, pairs=opts.pairs)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so throwaway databases are dropped on kill
    with tempfile.TemporaryDirectory(prefix="bench-code-") as code:
        info = {
            "machine": machine(),
            "versions": versions(),
            "code": snapshot_code(Path(code), from_head=opts.head),
            "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        }
        return _run(opts, plan, info)


def _run(opts: argparse.Namespace, plan: Plan, info: dict[str, Any]) -> int:
    selected = opts.only or list(WORKLOADS)
    runner = Runner(plan)
    for name in WORKLOADS:
        if name not in selected:
            continue
        if name == "remote10":
            runner.remote(10, plan.remote10_runs)
        elif name == "remote1":
            runner.remote(1, plan.remote1_runs)
        else:
            getattr(runner, name)()
    if "limit" not in selected and not set(selected) <= _NO_PROBE:  # ratios to the limit need the probe
        runner.limit()
    elapsed = time.perf_counter() - runner.t0
    rows = build_rows(runner.results, plan, runner.rounds, runner.orders)
    table, md = render(rows, plan, info, elapsed)
    Console(width=200).print(table)
    OUT.mkdir(exist_ok=True)
    (OUT / "last.md").write_text(md)
    raw = {" ".join(k): v for k, v in runner.results.items()}
    rounds = {g: [{" ".join(k): v for k, v in rd.items()} for rd in rds] for g, rds in runner.rounds.items()}
    orders = {g: [[" ".join(k) for k in order] for order in o] for g, o in runner.orders.items()}
    (OUT / "last.json").write_text(json.dumps({"info": info, "results": raw, "rounds": rounds, "orders": orders},
                                              indent=1))  # fmt: skip
    if not opts.quick and not opts.only and not opts.repeats and not opts.pairs:
        RESULTS.write_text(md)
        err.print(f"written to {RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS}")
    return 1 if any(isinstance(v, str) for v in runner.results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
