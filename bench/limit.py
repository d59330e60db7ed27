"""The limit: what the database alone does, one-row INSERT + COMMIT per transaction, no framework.

PostgreSQL: psycopg 3, one connection per worker thread, ``synchronous_commit`` as the server has it (on).
SQLite: the stdlib ``sqlite3`` module, WAL journal, ``synchronous=NORMAL`` (the settings pikku uses), one
connection. Each transaction is ``INSERT`` of one small row then ``COMMIT``.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import psycopg

from bench.common import child_main, percentile

_ROW = '{"ok": true, "i": 1}'


def pg_commits(url: str, seconds: float, connections: int) -> dict[str, Any]:
    """Commits/s of ``connections`` threads each inserting one row per transaction for ``seconds``."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS limit_probe (id bigserial PRIMARY KEY, payload text NOT NULL)")
    counts = [0] * connections
    latencies: list[list[float]] = [[] for _ in range(connections)]
    start = threading.Barrier(connections + 1)
    deadline = [0.0]

    def worker(k: int) -> None:
        with psycopg.connect(url) as conn:
            conn.execute("SELECT 1")
            conn.commit()
            start.wait()
            while time.perf_counter() < deadline[0]:
                t = time.perf_counter()
                conn.execute("INSERT INTO limit_probe (payload) VALUES (%s)", (_ROW,), prepare=True)
                conn.commit()
                latencies[k].append(time.perf_counter() - t)
                counts[k] += 1

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(connections)]
    for t in threads:
        t.start()
    deadline[0] = time.perf_counter() + seconds
    t0 = time.perf_counter()
    start.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    flat = [x for lat in latencies for x in lat]
    return {"tx_per_s": sum(counts) / elapsed, "p50_s": percentile(flat, 0.5), "p99_s": percentile(flat, 0.99)}


def sqlite_commits(path: str, seconds: float) -> dict[str, Any]:
    """Commits/s of one sqlite3 connection (WAL, synchronous=NORMAL) inserting one row per transaction."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("CREATE TABLE IF NOT EXISTS limit_probe (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
    n = 0
    latencies = []
    t0 = time.perf_counter()
    end = t0 + seconds
    while (t := time.perf_counter()) < end:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO limit_probe (payload) VALUES (?)", (_ROW,))
        conn.execute("COMMIT")
        latencies.append(time.perf_counter() - t)
        n += 1
    elapsed = time.perf_counter() - t0
    conn.close()
    for suffix in ("", "-wal", "-shm"):
        Path(path + suffix).unlink(missing_ok=True)
    return {"tx_per_s": n / elapsed, "p50_s": percentile(latencies, 0.5), "p99_s": percentile(latencies, 0.99)}


def _child(args: dict[str, Any]) -> dict[str, Any]:
    samples = []
    for _ in range(int(args.get("repeats", 1))):
        if args["db"] == "sqlite":
            samples.append(sqlite_commits(args["path"], float(args["seconds"])))
        else:
            samples.append(pg_commits(args["url"], float(args["seconds"]), int(args.get("connections", 1))))
    return {"samples": samples}


if __name__ == "__main__":
    child_main(_child)
