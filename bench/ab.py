"""Old against new: the same workloads on two versions of pikku, as interleaved pairs in one invocation.

    .venv/bin/python -m bench.ab --base <git ref> [--pairs 5] [--only inline-sqlite ...]

Both sides are snapshots (``git archive`` of the ref; a copy of the work tree's ``src/`` and ``bench/``),
each sample a fresh child process on a fresh database, the sides alternating which goes first. For each
workload the table gives each side's median throughput and CPU per step, and the median of the per-pair
ratios new/old with their min-max spread: on this shared, noisy box a ratio of neighbours says more than
two separate medians. CPU per step is the user+sys time of the child (its whole life: imports, warm-up
and migrations included, the same on both sides) divided by the steps it ran; PostgreSQL's own processes
are not counted. Used for the architecture change's no-regression rule (bench/NOTES.md).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.common import OUT, ROOT, fresh_pg_database, median, pg_url

WORKLOADS: dict[str, dict[str, Any]] = {
    "inline-sqlite": {"backend": "sqlite", "op": "inline", "runs": 200, "steps": 10},
    "inline-pg": {"backend": "pg", "op": "inline", "runs": 200, "steps": 10},
    "remote10-pg": {"backend": "pg", "op": "remote", "runs": 300, "steps": 10},
    "queued10-pg": {"backend": "pg", "op": "remote", "runs": 150, "steps": 10, "local_steps": False},
}


def _snapshot(ref: str | None, into: Path) -> Path:
    """``src`` and ``bench`` of ``ref`` (or of the work tree when None) under ``into``."""
    into.mkdir(parents=True)
    if ref is None:
        for part in ("src", "bench"):
            shutil.copytree(ROOT / part, into / part, ignore=shutil.ignore_patterns("__pycache__", ".out"))
    else:
        archive = subprocess.run(["git", "archive", ref, "src", "bench"], cwd=ROOT, check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


@contextmanager
def _database(backend: str, scratch: Path, tag: str) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{scratch / f'{tag}.sqlite3'}"
        return
    with fresh_pg_database("pikku_ab") as name:
        yield pg_url(name)


def _sample(tree: Path, spec: dict[str, Any], url: str) -> dict[str, float]:
    """One child on ``tree``: the workload's throughput and the child's CPU seconds per step."""
    args = {**spec, "url": url, "repeats": 1}
    env = {**os.environ, "PYTHONPATH": f"{tree / 'src'}{os.pathsep}{tree}"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [sys.executable, "-m", "bench.pikku_side", json.dumps(args)],
        cwd=tree, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"child on {tree} failed:\n{done.stderr[-3000:]}")
    [sample] = json.loads(done.stdout.strip().splitlines()[-1])["samples"]
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    steps = spec["runs"] * spec["steps"] + 3 * min(10, spec["steps"]) + (spec["op"] == "remote")
    return {"per_s": float(sample.get("runs_per_s") or sample["steps_per_s"]), "cpu_per_step": cpu / steps}


def _pairs(old: Path, new: Path, name: str, spec: dict[str, Any], pairs: int, scratch: Path) -> dict[str, Any]:
    rows: list[dict[str, dict[str, float]]] = []
    for i in range(pairs):
        pair: dict[str, dict[str, float]] = {}
        order = [("old", old), ("new", new)] if i % 2 == 0 else [("new", new), ("old", old)]
        for side, tree in order:
            with _database(spec["backend"], scratch, f"{name}-{i}-{side}") as url:
                pair[side] = _sample(tree, spec, url)
        rows.append(pair)
        shown = ", ".join(f"{side} {pair[side]['per_s']:.0f}/s" for side in ("old", "new"))
        print(f"  {name} pair {i + 1}: {shown}", flush=True)
    return _summary(rows)


def _summary(rows: list[dict[str, dict[str, float]]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in ("per_s", "cpu_per_step"):
        ratios = [r["new"][field] / r["old"][field] for r in rows]
        out[field] = {
            "old": median([r["old"][field] for r in rows]),
            "new": median([r["new"][field] for r in rows]),
            "ratio": median(ratios),
            "min": min(ratios),
            "max": max(ratios),
        }
    return out


def _table(results: dict[str, dict[str, Any]], base: str, pairs: int) -> str:
    lines = [
        f"Old = `{base}`, new = the work tree; {pairs} interleaved pairs per row, medians; "
        "ratio = median of new/old per pair.",
        "",
        "| workload | old per s | new per s | throughput new/old (min-max) "
        "| old CPU us/step | new CPU us/step | CPU new/old (min-max) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        t, c = r["per_s"], r["cpu_per_step"]
        lines.append(
            f"| {name} | {t['old']:.0f} | {t['new']:.0f} | {t['ratio']:.2f} ({t['min']:.2f}-{t['max']:.2f}) "
            f"| {c['old'] * 1e6:.0f} | {c['new'] * 1e6:.0f} | {c['ratio']:.2f} ({c['min']:.2f}-{c['max']:.2f}) |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__)
    parser.add_argument("--base", required=True, help="the git ref of the old side")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--only", action="append", choices=sorted(WORKLOADS))
    opts = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pikku-ab-") as tmp:
        scratch = Path(tmp)
        old, new = _snapshot(opts.base, scratch / "old"), _snapshot(None, scratch / "new")
        results = {}
        for name in opts.only or list(WORKLOADS):
            results[name] = _pairs(old, new, name, WORKLOADS[name], opts.pairs, scratch)
    table = _table(results, opts.base, opts.pairs)
    OUT.mkdir(exist_ok=True)
    (OUT / "ab.md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
