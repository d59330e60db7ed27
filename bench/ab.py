"""``python -m bench.ab``: two or more versions of pikku measured in interleaved rounds, in one invocation.

Each variant is a source folder (``src`` of a checkout: ``git worktree add /tmp/pg-old <commit>``) and
optional environment variables. A round runs every row once per variant, each in a child interpreter on a
fresh PostgreSQL database, the variants' order rotating from round to round so that the box's drift over
minutes falls on each alike. For each row and variant it reports throughput (steps/s) and CPU per step:
the client process (user+sys) and the PostgreSQL backends serving it (/proc/<pid>/stat), and the median
over rounds of each variant's ratio to the first variant *of the same round*.

    .venv/bin/python -m bench.ab --variant old=/tmp/pg-old/src --variant new=src --rounds 7
    .venv/bin/python -m bench.ab --variant fast=src --variant plain=src:PIKKU_PG_EXECUTE=psycopg

Rows: ``inline`` (sequential inline 10-step runs, one process; the figure of a child is the median of its
``--inline-repeats`` samples), ``remote10`` (10-step runs started at once and drained by one worker
with concurrency 10) and ``queued10`` (``remote10`` with ``local_steps = false``: row 2b). The result also
goes to ``bench/.out/ab-<time>.json``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import OUT, fresh_pg_database, median, pg_url, run_child

FIGURES = ("steps_per_s", "cpu_client_us", "cpu_server_us", "cpu_total_us")


@dataclass(slots=True)
class Variant:
    """A version of pikku: where it is imported from, and the environment it runs with."""

    name: str
    code: Path
    env: dict[str, str] = field(default_factory=dict)


def parse_variant(text: str) -> Variant:
    """``name=path[:VAR=value[:VAR=value...]]``."""
    name, _, rest = text.partition("=")
    path, *pairs = rest.split(":")
    env = dict(pair.split("=", 1) for pair in pairs)
    return Variant(name, Path(path).resolve(), env)


def _child_args(row: str, opts: argparse.Namespace) -> dict[str, Any]:
    if row == "inline":
        return {"op": "inline", "runs": opts.inline_runs, "steps": 10, "repeats": opts.inline_repeats}
    remote = {"op": "remote", "runs": opts.remote_runs, "steps": 10, "concurrency": 10, "repeats": 1}
    if row == "queued10":  # row 2b: every step through its queue
        remote["local_steps"] = False
    return remote


def _measure(variant: Variant, row: str, opts: argparse.Namespace) -> dict[str, float]:
    """One child of ``variant`` on ``row``: the median of its samples, per figure."""
    args = _child_args(row, opts) | {"cpu": True}
    with fresh_pg_database("bench_ab") as name:
        out = run_child("bench.pikku_side", args | {"url": pg_url(name) + "?schema=pikku"}, code=variant.code,
                        env=variant.env)  # fmt: skip
    return {k: median([float(s[k]) for s in out["samples"]]) for k in FIGURES}


def _snapshot(variants: list[Variant], folder: Path) -> list[Variant]:
    """Copies of the variants' code, so that edits during the run cannot mix versions."""
    copies = []
    for n, variant in enumerate(variants):
        target = folder / str(n) / "src"
        shutil.copytree(variant.code / "pikku", target / "pikku", ignore=shutil.ignore_patterns("__pycache__"))
        copies.append(Variant(variant.name, target, variant.env))
    return copies


def _report(rows: dict[str, list[dict[str, dict[str, float]]]], names: list[str]) -> str:
    """Per row: each variant's median figures and its median ratio to the first variant (min-max)."""
    lines = []
    for row, rounds in rows.items():
        lines += [f"\n{row} ({len(rounds)} rounds)", "| variant | " + " | ".join(FIGURES) + " |",
                  "|---|" + "---:|" * len(FIGURES)]  # fmt: skip
        for name in names:
            cells = []
            for fig in FIGURES:
                values = [r[name][fig] for r in rounds]
                ratios = [r[name][fig] / r[names[0]][fig] for r in rounds]
                cells.append(f"{median(values):,.0f} ({median(ratios):.3f}x, {min(ratios):.2f}-{max(ratios):.2f})")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the rounds, print the table, keep the raw figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--variant", action="append", type=parse_variant, required=True, help="name=src[:VAR=v]")
    parser.add_argument("--rows", default="inline,remote10", help="comma-separated: inline, remote10, queued10")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--inline-runs", type=int, default=200)
    parser.add_argument("--inline-repeats", type=int, default=3)
    parser.add_argument("--remote-runs", type=int, default=1000)
    opts = parser.parse_args(argv)
    names = [v.name for v in opts.variant]
    rows: dict[str, list[dict[str, dict[str, float]]]] = {row: [] for row in opts.rows.split(",")}
    with tempfile.TemporaryDirectory(prefix="bench-ab-") as folder:
        variants = _snapshot(opts.variant, Path(folder))
        for n in range(opts.rounds):
            order = variants[n % len(variants) :] + variants[: n % len(variants)]
            for row, rounds in rows.items():
                figures = {}
                for variant in order:
                    figures[variant.name] = _measure(variant, row, opts)
                    print(f"round {n + 1} {row} {variant.name}: {figures[variant.name]}", file=sys.stderr, flush=True)
                rounds.append(figures)
    table = _report(rows, names)
    print(table)
    OUT.mkdir(exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S")
    raw = {"variants": [(v.name, str(v.code), v.env) for v in opts.variant], "rows": rows, "argv": sys.argv[1:]}
    (OUT / f"ab-{stamp}.json").write_text(json.dumps(raw, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
