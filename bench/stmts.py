"""``python -m bench.stmts``: SQL statements, pool checkouts and CPU profile per step of the PostgreSQL rows,
for one or more versions of pikku (each a source folder, as in :mod:`bench.ab`).

Each variant runs in a child interpreter on a fresh database: the ``inline`` row (sequential inline 10-step
runs) and the ``remote10`` row (10-step remote runs drained by one worker, concurrency 10). The child
counts every statement pikku sends (wrapping ``PgDatabase.fetchone/fetchall/rowcount``, which both the
pre-architecture ``pikku._pg`` and ``pikku.backends.postgres.database`` have) and every pool checkout
(psycopg_pool ``getconn``); with ``--profile`` it also writes a cProfile dump per row to
``bench/.out/stmts-<variant>-<row>.pstats``. (``pg_stat_database.xact_commit`` is no use here: backends
report their counts to it up to a second late.)

    .venv/bin/python -m bench.stmts --variant old=/work/wt-pgperf-old/src --variant new=src --profile
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import json
import re
import sys
import time
from collections import Counter
from typing import Any

from bench import pikku_side
from bench.ab import parse_variant
from bench.common import OUT, child_main, fresh_pg_database, pg_url, run_child
from pikku import _loop, open_runtime

_PER_STEP = "{:.2f} statements, {:.2f} checkouts per step"


def _label(query: str) -> str:
    """A short stable name for a statement: its first words and the tables it writes."""
    text = re.sub(r"\s+", " ", query).strip()
    writes = re.findall(r"(INSERT INTO|UPDATE|DELETE FROM) (\S+)", text)
    head = " ".join(text.split(" ")[:3])
    return f"{head} | " + ",".join(f"{verb.split()[0]} {re.sub(r'^.*[.]', '', table)}" for verb, table in writes)


def _patch(counts: Counter[str], checkouts: list[int], waits: Counter[str]) -> None:
    try:
        database = importlib.import_module("pikku.backends.postgres.database")
    except ImportError:
        database = importlib.import_module("pikku._pg")
    db_class = database.PgDatabase
    for method in ("fetchone", "fetchall", "rowcount"):
        original = getattr(db_class, method)

        async def counted(self: Any, query: str, params: Any, _original: Any = original) -> Any:
            label = _label(query)
            counts[label] += 1
            began = time.perf_counter()
            try:
                return await _original(self, query, params)
            finally:
                waits[label] += time.perf_counter() - began

        setattr(db_class, method, counted)
    pool_class = importlib.import_module("psycopg_pool").AsyncConnectionPool
    getconn = pool_class.getconn

    async def counted_getconn(self: Any, *args: Any, **kwargs: Any) -> Any:
        checkouts[0] += 1
        return await getconn(self, *args, **kwargs)

    pool_class.getconn = counted_getconn


def _child(args: dict[str, Any]) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    waits: Counter[str] = Counter()
    checkouts = [0]
    _patch(counts, checkouts, waits)

    async def main() -> dict[str, Any]:
        rt = await open_runtime(state_url=args["url"])
        rt.engine.settings.local_steps = not args.get("queued")  # queued10: every step through its queue
        try:
            for _ in range(3):
                await rt.engine.start("inline10", {})
            counts.clear()
            waits.clear()
            checkouts[0] = 0
            profiler = cProfile.Profile() if args.get("profile") else None
            if profiler is not None:
                profiler.enable()
            if args["op"] == "inline":
                await pikku_side.inline(rt, int(args["runs"]), 10)
            else:
                await pikku_side.remote(rt, int(args["runs"]), 10, 10)
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(args["profile"])
        finally:
            await rt.close()
        steps = int(args["runs"]) * 10
        return {
            "statements": {k: v / steps for k, v in counts.most_common()},
            "wait_us": {k: waits[k] / counts[k] * 1e6 for k in counts},
            "statements_per_step": sum(counts.values()) / steps,
            "checkouts_per_step": checkouts[0] / steps,
        }

    return _loop.run(main())


def main(argv: list[str] | None = None) -> int:
    """Run each variant once per row; print the counts side by side."""
    parser = argparse.ArgumentParser(prog="python -m bench.stmts", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--variant", action="append", type=parse_variant, required=True, help="name=src[:VAR=v]")
    parser.add_argument("--rows", default="inline,remote10", help="comma-separated: inline, remote10, queued10")
    parser.add_argument("--inline-runs", type=int, default=200)
    parser.add_argument("--remote-runs", type=int, default=300)
    parser.add_argument("--profile", action="store_true", help="write cProfile dumps to bench/.out")
    opts = parser.parse_args(argv)
    OUT.mkdir(exist_ok=True)
    results: dict[str, dict[str, Any]] = {}
    for row in opts.rows.split(","):
        for variant in opts.variant:
            args: dict[str, Any] = {"op": "inline" if row == "inline" else "remote", "queued": row == "queued10"}
            args["runs"] = opts.inline_runs if row == "inline" else opts.remote_runs
            if opts.profile:
                args["profile"] = str(OUT / f"stmts-{variant.name}-{row}.pstats")
            with fresh_pg_database("bench_stmts") as name:
                args["url"] = pg_url(name) + "?schema=pikku"
                out = run_child("bench.stmts", args, code=variant.code, env=variant.env)
            results[f"{row} {variant.name}"] = out
            counts = (out["statements_per_step"], out["checkouts_per_step"])
            print(f"\n{row} {variant.name}: " + _PER_STEP.format(*counts))
            for label, per_step in out["statements"].items():
                print(f"  {per_step:6.3f}  {out['wait_us'][label]:7.0f} us  {label}")
    (OUT / "stmts.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1].startswith("{"):
        child_main(_child)
    else:
        sys.exit(main())
