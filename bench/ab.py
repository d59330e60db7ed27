"""A/B of two source trees on the embedded and Redis rows: interleaved pairs in one invocation.

```bash
git worktree add /tmp/pikku-old <base commit>
.venv/bin/python -m bench.ab --old /tmp/pikku-old/src --pairs 5      # --new defaults to this checkout's src
```

Each pair runs every workload once on each tree, in alternating order (old first in even pairs, new first
in odd ones), each sample in a fresh child (``bench.pikku_side``) that imports pikku from that tree through
``PYTHONPATH`` and gets a fresh database: a SQLite file in a temporary folder, or a Redis key prefix of its
own, deleted afterwards. Figures are throughput (steps/s) and CPU per step of the child process (user +
sys from ``getrusage``, the Redis server's own CPU not included); the table shows the median over pairs
of each side and the median of the per-pair ratios new/old.

Workloads: inline 10-step runs on SQLite (row 1 of the main benchmark, 5x the runs), and a remote drain of 10-step runs
on Redis and on SQLite by one in-process worker with concurrency 10, with local steps (the default) and
with ``local_steps = false`` (every step a queue job, a hand-off and a replay).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis

from bench.common import ROOT, run_child

REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")

WORKLOADS: dict[str, dict[str, Any]] = {
    # Samples of a few seconds each: on a shared 2-core box a sub-second sample mostly measures the neighbours.
    "inline SQLite 1000x10": {"db": "sqlite", "op": "inline", "runs": 1000, "steps": 10},
    "remote SQLite 600x10": {"db": "sqlite", "op": "remote", "runs": 600, "steps": 10},
    "remote SQLite 300x10 queued": {"db": "sqlite", "op": "remote", "runs": 300, "steps": 10, "local_steps": False},
    "remote Redis 500x10": {"db": "redis", "op": "remote", "runs": 500, "steps": 10},
    "remote Redis 200x10 queued": {"db": "redis", "op": "remote", "runs": 200, "steps": 10, "local_steps": False},
}
FIGURES = (("steps_per_s", "steps/s"), ("cpu_ms_per_step", "CPU ms/step"))


@contextmanager
def _database(kind: str) -> Iterator[str]:
    """A fresh SQLite file or Redis prefix, removed afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{Path(folder) / 'ab.sqlite3'}"
        return
    prefix = f"bench_ab_{uuid.uuid4().hex[:10]}"
    try:
        yield f"{REDIS}?prefix={prefix}"
    finally:
        client = redis.Redis.from_url(REDIS)
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


def _sample(src: Path, workload: dict[str, Any]) -> dict[str, Any]:
    args = {key: value for key, value in workload.items() if key != "db"}
    previous = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(src)  # ahead of the editable install's path entry
    try:
        with _database(workload["db"]) as url:
            result: dict[str, Any] = run_child("bench.pikku_side", args | {"url": url, "repeats": 1})
    finally:
        if previous is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = previous
    sample: dict[str, Any] = result["samples"][0]
    return sample


def measure(old: Path, new: Path, pairs: int, only: list[str]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """``{workload: {"old": [sample per pair], "new": [...]}}``, the two sides interleaved pair by pair."""
    found: dict[str, dict[str, list[dict[str, Any]]]] = {name: {"old": [], "new": []} for name in only}
    for pair in range(pairs):
        order = (("old", old), ("new", new)) if pair % 2 == 0 else (("new", new), ("old", old))
        for name in only:
            for side, src in order:
                sample = _sample(src, WORKLOADS[name])
                found[name][side].append(sample)
                figures = ", ".join(f"{sample[key]:.3f} {label}" for key, label in FIGURES)
                print(f"pair {pair + 1} {name:28} {side}: {figures}", flush=True)
    return found


def table(found: dict[str, dict[str, list[dict[str, Any]]]]) -> str:
    """Markdown: per workload and figure, the median of each side and the median of per-pair ratios."""
    lines = ["| workload | figure | old (median) | new (median) | new/old (median of pairs) | pairs new/old |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for name, sides in found.items():
        for key, label in FIGURES:
            old = [s[key] for s in sides["old"]]
            new = [s[key] for s in sides["new"]]
            ratios = [n / o for n, o in zip(new, old, strict=True)]
            each = " ".join(f"{r:.2f}" for r in ratios)
            lines.append(
                f"| {name} | {label} | {statistics.median(old):.3f} | {statistics.median(new):.3f} "
                f"| {statistics.median(ratios):.3f} | {each} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--old", type=Path, required=True, help="the src folder of the baseline tree")
    parser.add_argument("--new", type=Path, default=ROOT / "src", help="the src folder measured against it")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--only", nargs="*", default=list(WORKLOADS), choices=list(WORKLOADS))
    args = parser.parse_args()
    print(table(measure(args.old.resolve(), args.new.resolve(), args.pairs, args.only)))


if __name__ == "__main__":
    main()
