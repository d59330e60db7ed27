"""``python -m bench``: pikku and DBOS Transact side by side, and the database's own limit, in one table.

Every measurement runs in a child interpreter (``bench.pikku_side``, ``bench.dbos_side``, ``bench.limit``,
``bench.prebuild_bench``) on a database of its own: a fresh PostgreSQL database per system and workload,
dropped afterwards, or a SQLite file in a temporary folder. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import math
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.common import OUT, fresh_pg_database, machine, median, pg_url, run_child, snapshot_code, versions

WORKLOADS = ("limit", "inline", "remote10", "remote1", "long", "prebuild")
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


FULL = Plan("full", repeats=3, inline_runs=200, remote10_runs=1000, remote1_runs=1000, long_steps=(100, 1000),
            limit_seconds=3.0)  # fmt: skip
QUICK = Plan("quick", repeats=1, inline_runs=30, remote10_runs=100, remote1_runs=100, long_steps=(100, 1000),
             limit_seconds=1.0)  # fmt: skip

err = Console(stderr=True, highlight=False)


# -- databases ----------------------------------------------------------------------------------------
@contextlib.contextmanager
def database(system: str, backend: str) -> Iterator[str]:
    """A state URL for ``system`` on an empty database of ``backend``, removed afterwards."""
    if backend == "pg":
        with fresh_pg_database(f"bench_{system}") as name:
            yield pg_url(name) + ("?schema=pikku" if system == "pikku" else "")
    else:
        with tempfile.TemporaryDirectory(prefix=f"bench-{system}-") as folder:
            yield f"sqlite:///{Path(folder).resolve() / 'state.sqlite3'}"


# -- collecting ---------------------------------------------------------------------------------------
Result = dict[str, float]
Results = dict[tuple[str, ...], Result | str]


def _median_of(samples: list[dict[str, Any]]) -> Result:
    keys = samples[0].keys()
    return {k: median([float(s[k]) for s in samples]) for k in keys}


class Runner:
    """Runs the children of a plan, keeps the median of each figure, and reports progress."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.results: Results = {}
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
        # pikku's PostgreSQL samples each come with a commit probe taken just before them (paired ratio row)
        args = {"op": "inline", "runs": self.plan.inline_runs, "steps": 10, "probe_s": self.plan.limit_seconds / 2}
        for backend in ("pg", "sqlite"):
            for system in ("pikku", "dbos"):
                self.sample(("inline", backend, system), lambda s=system, b=backend: self.system(s, b, args))
        # pikku on the standard asyncio loop, for comparison (the rows above run on pikku's choice: uvloop)
        plain = {**args, "loop": "asyncio"}
        self.sample(("inline-asyncio", "pg", "pikku"), lambda a=plain: self.system("pikku", "pg", a))

    def remote(self, steps: int, runs: int) -> None:
        args = {"op": "remote", "runs": runs, "steps": steps, "concurrency": 10}
        for system in ("pikku", "dbos"):
            op = {**args, "op": "remote" if system == "pikku" else "queued"}
            self.sample((f"remote{steps}", "pg", system), lambda s=system, a=op: self.system(s, "pg", a))
        if steps == 10:  # pikku with every step through its queue, for comparison (local_steps = false)
            queued = {**args, "local_steps": False}
            self.sample(("remote10-queued", "pg", "pikku"), lambda a=queued: self.system("pikku", "pg", a))

    def long(self) -> None:
        # One child per row measures both sizes back to back, each sample a pair: the mean time of a 100-step
        # run (over 10 runs, as many steps as the big one) and of one 1,000-step run. Their ratio per pair
        # then shares the machine's state of that moment (this box's speed drifts by 2x over minutes), and a
        # 10 ms run is not left to a single scheduler hiccup. The figure is the median of the pairs.
        small, big = min(self.plan.long_steps), max(self.plan.long_steps)
        for backend in ("pg", "sqlite"):
            for mode in ("inline", "remote"):
                for system in ("pikku", "dbos"):
                    args = {"op": "growth", "mode": mode, "small": small, "big": big}
                    key = ("long", backend, mode, system)
                    self.sample(key, lambda s=system, b=backend, a=args: self.system(s, b, a, repeats=5))

    def prebuild(self) -> None:
        with tempfile.TemporaryDirectory(prefix="bench-prebuild-") as folder:
            run_child("bench.prebuild_bench", {"op": "generate", "dir": folder})

            def parse() -> list[dict[str, Any]]:
                times = run_child("bench.prebuild_bench", {"op": "parse", "dir": folder, "repeats": self.plan.repeats})
                return [{"time": t} for t in times["times"]]

            def build(op: str) -> list[dict[str, Any]]:
                # Each sample is its own interpreter; "cold" first removes the output and the cache.
                samples = []
                for _ in range(self.plan.repeats):
                    if op == "warm":  # make sure output and cache exist and match the sources
                        run_child("bench.prebuild_bench", {"op": "warm", "dir": folder})
                    samples.append(run_child("bench.prebuild_bench", {"op": op, "dir": folder}))
                return samples

            self.sample(("prebuild", "parse"), parse)
            self.sample(("prebuild", "cold"), lambda: build("cold"))
            self.sample(("prebuild", "warm"), lambda: build("warm"))


# -- the table ----------------------------------------------------------------------------------------
@dataclass(slots=True)
class Row:
    """One line of the table: a figure for pikku, DBOS and the limit, and how to read it."""

    workload: str
    metric: str
    pikku: float | str | None
    dbos: float | str | None
    limit: float | str | None
    fmt: str  # "rate" | "ms" | "s" | "x"
    target: str = ""
    meets: bool | None = None


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


def build_rows(r: Results, plan: Plan) -> list[Row]:
    """Every row the results allow (missing workloads leave their rows out)."""
    return [*_limit_rows(r), *_inline_rows(r), *_remote_rows(r, plan), *_long_rows(r, plan), *_prebuild_rows(r)]


def _limit_rows(r: Results) -> list[Row]:
    if not any(k[0] == "limit" for k in r):
        return []
    return [
        Row("limit probe", "PG commits/s, 1 connection", None, None, _get(r, _PG1, "tx_per_s"), "rate"),
        Row("limit probe", "PG commit p50 latency (ms), 1 conn", None, None, _get(r, _PG1, "p50_s", 1e3), "ms"),
        Row("limit probe", "PG commits/s, 10 connections", None, None, _get(r, _PG10, "tx_per_s"), "rate"),
        Row("limit probe", "SQLite commits/s, 1 connection", None, None, _get(r, _LITE, "tx_per_s"), "rate"),
    ]


def _inline_rows(r: Results) -> list[Row]:
    rows: list[Row] = []
    for b in ("pg", "sqlite"):
        p, d = ("inline", b, "pikku"), ("inline", b, "dbos")
        if p not in r and d not in r:
            continue
        w = f"1 inline 10-step, {_NAMES[b]}"
        vs_dbos = _div(_get(r, p, "steps_per_s"), _get(r, d, "steps_per_s"))
        rows += [
            Row(w, "steps/s", _get(r, p, "steps_per_s"), _get(r, d, "steps_per_s"),
                _get(r, _LIMIT_OF[b], "tx_per_s"), "rate", ">= 3x DBOS", None if vs_dbos is None else vs_dbos >= 3),
            Row(w, "run latency p50 (ms)", _get(r, p, "p50_s", 1e3), _get(r, d, "p50_s", 1e3),
                _get(r, _LIMIT_OF[b], "p50_s", 1e4), "ms"),
            Row(w, "run latency p99 (ms)", _get(r, p, "p99_s", 1e3), _get(r, d, "p99_s", 1e3), None, "ms"),
        ]  # fmt: skip
        paired = _num(_get(r, p, "vs_probe"))
        if paired is not None:  # limit: the probe taken just before each sample; target on the paired ratios
            rows.append(Row(w, "steps/s, probe paired with each sample", _get(r, p, "steps_per_s"), None,
                            _get(r, p, "probe_tx_per_s"), "rate", f">= 0.5x probe (median pair {paired:.2f}x)",
                            paired >= 0.5))  # fmt: skip
    p = ("inline-asyncio", "pg", "pikku")
    if p in r:
        dbos = _get(r, ("inline", "pg", "dbos"), "steps_per_s")
        rows.append(Row("1b inline 10-step, PG, asyncio loop", "steps/s", _get(r, p, "steps_per_s"), dbos,
                        _get(r, _PG1, "tx_per_s"), "rate"))  # fmt: skip
    return rows


def _remote_rows(r: Results, plan: Plan) -> list[Row]:
    rows: list[Row] = []
    for steps, runs in ((10, plan.remote10_runs), (1, plan.remote1_runs)):
        p, d = (f"remote{steps}", "pg", "pikku"), (f"remote{steps}", "pg", "dbos")
        if p not in r and d not in r:
            continue
        w = f"{2 if steps == 10 else 3} remote {steps}-step x{runs}, PostgreSQL"
        rate = _num(_get(r, _PG10, "tx_per_s"))
        drain = _div(_get(r, p, "runs_per_s"), _get(r, d, "runs_per_s"))
        p50 = _div(_get(r, p, "p50_s"), _get(r, d, "p50_s"))
        targeted = steps == 10  # the targets: drain at least 2x DBOS, p50 start-to-finish no worse
        rows += [
            Row(w, "runs/s to drain", _get(r, p, "runs_per_s"), _get(r, d, "runs_per_s"),
                rate / steps if rate else None, "rate", ">= 2x DBOS" if targeted else "",
                None if drain is None or not targeted else drain >= 2),
            Row(w, "start-to-finish p50 (s)", _get(r, p, "p50_s"), _get(r, d, "p50_s"), None, "s",
                "no worse than DBOS" if targeted else "", None if p50 is None or not targeted else p50 <= 1),
            Row(w, "start-to-finish p99 (s)", _get(r, p, "p99_s"), _get(r, d, "p99_s"), None, "s"),
        ]  # fmt: skip
        if steps == 10:  # steps/s (for 1-step runs it is runs/s again)
            rows.insert(len(rows) - 2, Row(w, "steps/s", _get(r, p, "steps_per_s"), _get(r, d, "steps_per_s"),
                                           rate, "rate"))  # fmt: skip
        q = ("remote10-queued", "pg", "pikku")
        if steps == 10 and q in r:
            w = f"2b remote 10-step x{runs}, PG, local_steps=false"
            rows += [
                Row(w, "runs/s to drain", _get(r, q, "runs_per_s"), _get(r, d, "runs_per_s"),
                    rate / steps if rate else None, "rate"),
                Row(w, "start-to-finish p50 (s)", _get(r, q, "p50_s"), _get(r, d, "p50_s"), None, "s"),
            ]  # fmt: skip
    return rows


def _long_rows(r: Results, plan: Plan) -> list[Row]:
    rows: list[Row] = []
    short, big = min(plan.long_steps), max(plan.long_steps)
    for b in ("pg", "sqlite"):
        for mode in ("inline", "remote"):
            p, d = ("long", b, mode, "pikku"), ("long", b, mode, "dbos")
            if p not in r and d not in r:
                continue
            w = f"4 one {big}-step workflow, {mode}, {_NAMES[b]}"
            growth = _num(_get(r, p, "growth"))
            rows += [
                Row(w, "steps/s", _get(r, p, "steps_per_s"), _get(r, d, "steps_per_s"),
                    _get(r, _LIMIT_OF[b], "tx_per_s"), "rate"),
                Row(w, f"time({big}) / time({short})", _get(r, p, "growth"), _get(r, d, "growth"), None, "x",
                    "<= 12x", None if growth is None else growth <= 12),
            ]  # fmt: skip
    return rows


def _prebuild_rows(r: Results) -> list[Row]:
    pr, cold, warm = ("prebuild", "parse"), ("prebuild", "cold"), ("prebuild", "warm")
    if cold not in r:
        return []
    w = "5 prebuild, 1,000 modules"
    parse_t, cold_t, warm_t = _get(r, pr, "time"), _get(r, cold, "time"), _get(r, warm, "time")
    cold_ratio, warm_ratio = _div(cold_t, parse_t), _div(warm_t, cold_t)
    return [
        Row(w, "cold (s); limit = bare libcst parse", cold_t, None, parse_t, "s", "<= 1.5x parse",
            None if cold_ratio is None else cold_ratio <= 1.5),
        Row(w, "warm, nothing changed (s)", warm_t, None, None, "s", "< 10% of cold",
            None if warm_ratio is None else warm_ratio < 0.10),
        Row(w, "warm / cold", warm_ratio, None, None, "x"),
    ]  # fmt: skip


# (format below the threshold, format at or above it, threshold) per kind of figure
_FORMATS = {"rate": ("{:,.1f}", "{:,.0f}", 100.0), "ms": ("{:.2f}", "{:,.1f}", 10.0), "s": ("{:.3f}", "{:,.2f}", 1.0)}


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
    """The printed cells of a row."""
    target = row.target
    if row.meets is not None:
        target = f"{target} {'MET' if row.meets else 'MISSED'}"
    return [
        row.workload,
        row.metric,
        _fmt(row.pikku, row.fmt),
        _fmt(row.dbos, row.fmt),
        _fmt(row.limit, row.fmt),
        _ratio(row.pikku, row.dbos),
        _ratio(row.pikku, row.limit),
        target,
    ]


HEADERS = ["workload", "metric", "pikku", "DBOS", "limit", "pikku/DBOS", "pikku/limit", "target"]


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
        "ratios: throughput rows > 1 = pikku faster; latency/time rows < 1 = pikku faster",
    ]


def render(rows: list[Row], plan: Plan, info: dict[str, Any], elapsed: float) -> tuple[Table, str]:
    """The rich table for the terminal and the Markdown text for RESULTS.md."""
    context = context_lines(plan, info)
    table = Table(title="pikku vs DBOS Transact vs the limit", caption="\n".join(context), caption_justify="left")
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
    parser.add_argument("--head", action="store_true", help="measure the committed HEAD, not the work tree")
    opts = parser.parse_args(argv)
    plan = QUICK if opts.quick else FULL
    if opts.repeats:
        plan = Plan(plan.name, opts.repeats, *[getattr(plan, f) for f in Plan.__dataclass_fields__][2:])
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
    if "limit" not in selected:  # ratios to the limit need the probe: a short one
        runner.limit()
    elapsed = time.perf_counter() - runner.t0
    table, md = render(build_rows(runner.results, plan), plan, info, elapsed)
    Console(width=200).print(table)
    OUT.mkdir(exist_ok=True)
    (OUT / "last.md").write_text(md)
    raw = {" ".join(k): v for k, v in runner.results.items()}
    (OUT / "last.json").write_text(json.dumps({"info": info, "results": raw}, indent=1))
    if not opts.quick and not opts.only and not opts.repeats:
        RESULTS.write_text(md)
        err.print(f"written to {RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS}")
    return 1 if any(isinstance(v, str) for v in runner.results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
