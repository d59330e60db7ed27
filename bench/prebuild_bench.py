"""Workload 5: ``pikku prebuild`` on a generated project of 1,000 modules, next to bare libcst parsing.

The project: 200 workflow modules and 800 function modules (4 ``@pikku_func`` each), plus a models module
and package ``__init__`` files. Each sample runs in a fresh interpreter (no warm in-process caches), and the
time is taken around the ``prebuild`` call itself, so interpreter start-up and imports are left out for
all three figures alike.

``python -m bench.prebuild_bench ab [pairs]`` measures the scanner's position finding against libcst's
plain PositionProvider on the same project (see bench/NOTES.md, "Positions: fast path or PositionProvider").

``python -m bench.prebuild_bench versions PAIRS NAME=SRC [NAME=SRC ...]`` measures versions of pikku against
each other (each imported from its own ``src`` folder, e.g. a ``git worktree`` of an older commit), cold
and warm, in interleaved pairs with the order rotating, and a bare parse once per pair as the reference.
"""

from __future__ import annotations

import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import libcst

from bench.common import child_main, run_child
from pikku.cli.prebuild import prebuild

N_WORKFLOWS = 200
N_FUNCTION_MODULES = 800
FUNCS_PER_MODULE = 4

_PYPROJECT = """\
[tool.pikku]
source = ["benchapp"]
output = ".pikku"
package = "bench_gen"
"""

_MODELS = '''\
"""Models shared by the generated benchmark app."""

from __future__ import annotations

from pydantic import BaseModel


class Item(BaseModel):
    """An input."""

    key: str
    amount: float = 0.0


class Result(BaseModel):
    """An output."""

    key: str
    ok: bool = True
'''

_FUNCTION_HEAD = '''\
"""Function module {m} of the generated benchmark app."""

from __future__ import annotations

from typing import Any

from benchapp.models import Item, Result
from pikku import pikku_func
'''

_FUNCTION = '''

@pikku_func(name="fn{m}.op{k}")
async def op_{m}_{k}(services: Any, data: Item) -> Result:
    """Operation {k} of module {m}."""
    total = data.amount * {k} + {m}
    return Result(key=f"{{data.key}}-{{total}}")
'''

_WORKFLOW = '''\
"""Workflow module {w} of the generated benchmark app."""

from __future__ import annotations

from typing import Any

from benchapp.models import Item, Result
from pikku import pikku_func, wire_workflow


@pikku_func
async def flow_{w}(services: Any, data: Item) -> Result:
    """Five rpc steps, an inline step and a durable sleep."""
    workflow = services.workflow
    first = await workflow.do("a", "fn{m0}.op0", {{"key": data.key}}, description="First call")
    await workflow.do("b", "fn{m1}.op1", {{"key": first.key}}, description="Second call")
    rate = await workflow.do("rate", lambda: 0.2 if data.amount > 10 else 0.1, description="Inline rate")
    await workflow.do("c", "fn{m2}.op2", {{"key": data.key, "amount": rate}})
    for i in range(3):
        await workflow.do(f"d-{{i}}", "fn{m3}.op3", {{"key": str(i)}}, description="Loop")
    await workflow.sleep("1s", description="Pause")
    return await workflow.do("e", "fn{m0}.op1", {{"key": data.key}}, description="Last call")


wire_workflow(name="flow{w}", description="Generated workflow {w}", execution_mode="{mode}", func=flow_{w})
'''


def generate(root: Path) -> int:
    """Write the project under ``root``; the number of workflow + function modules written."""
    app = root / "benchapp"
    (app / "functions").mkdir(parents=True, exist_ok=True)
    (app / "workflows").mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(_PYPROJECT)
    (app / "__init__.py").write_text('"""Generated benchmark app."""\n')
    (app / "functions" / "__init__.py").write_text('"""Functions."""\n')
    (app / "workflows" / "__init__.py").write_text('"""Workflows."""\n')
    (app / "models.py").write_text(_MODELS)
    for m in range(N_FUNCTION_MODULES):
        body = _FUNCTION_HEAD.format(m=m) + "".join(_FUNCTION.format(m=m, k=k) for k in range(FUNCS_PER_MODULE))
        (app / "functions" / f"fn{m:04d}.py").write_text(body)
    for w in range(N_WORKFLOWS):
        picks = [(w * 4 + j) % N_FUNCTION_MODULES for j in range(4)]
        text = _WORKFLOW.format(
            w=w, m0=picks[0], m1=picks[1], m2=picks[2], m3=picks[3], mode="inline" if w % 2 else "remote"
        )
        (app / "workflows" / f"flow{w:04d}.py").write_text(text)
    return N_FUNCTION_MODULES + N_WORKFLOWS


def source_files(root: Path) -> list[Path]:
    """Every .py file of the generated app."""
    return sorted((root / "benchapp").rglob("*.py"))


def bare_parse(root: Path, repeats: int) -> list[tuple[float, float]]:
    """(wall, CPU) seconds ``libcst.parse_module`` needs for every file (bytes read beforehand), ``repeats``
    times. CPU time (the process's user+sys) is the steadier figure on a box other jobs share."""
    sources = [p.read_bytes() for p in source_files(root)]
    times = []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        for src in sources:
            libcst.parse_module(src)
        times.append((time.perf_counter() - t0, time.process_time() - c0))
    return times


def timed_prebuild(root: Path, clean: bool) -> tuple[float, float]:
    """(wall, CPU) seconds of one in-process ``pikku prebuild`` (after removing output and cache when ``clean``);
    CPU includes the scanning processes a cold prebuild forks."""
    if clean:
        shutil.rmtree(root / ".pikku", ignore_errors=True)
        shutil.rmtree(root / ".pikku-cache", ignore_errors=True)
    t0, c0 = time.perf_counter(), _cpu_with_children()
    prebuild(check=False, root=root)
    return time.perf_counter() - t0, _cpu_with_children() - c0


def _cpu_with_children() -> float:
    """User+sys CPU seconds of this process and of its children that ended (a cold prebuild's scanning
    processes are joined before it returns)."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def use_positions(mode: str) -> None:
    """Switch this process's scanner to one way of finding positions, for :func:`positions_ab`.

    ``fast``: the scanner as shipped (def lines from the text, the rest from ``ast``, PositionProvider
    for what those cannot place); ``plain``: libcst's public PositionProvider alone, for every node.
    """
    if mode == "plain":
        from pikku.cli.scan import positions  # noqa: PLC0415 - patched only in the child that asked

        positions._fast_places = lambda module, source, nodes: {}
    elif mode != "fast":
        raise ValueError(f"unknown positions mode {mode!r}")


def positions_ab(pairs: int) -> dict[str, list[float]]:
    """Cold and warm prebuild, fast vs plain positions, as ``pairs`` interleaved pairs (order alternating).

    Every sample is a fresh interpreter on one generated project; a bare parse is taken once per pair as
    the reference. Prints each pair as it finishes, returns every sample.
    """
    samples: dict[str, list[float]] = {"parse": []}
    with tempfile.TemporaryDirectory(prefix="bench-prebuild-ab-") as folder:
        run_child("bench.prebuild_bench", {"op": "generate", "dir": folder})
        for pair in range(pairs):
            samples["parse"] += run_child("bench.prebuild_bench", {"op": "parse", "dir": folder, "repeats": 1})["times"]
            for mode in ("fast", "plain") if pair % 2 == 0 else ("plain", "fast"):
                for op in ("cold", "warm"):
                    args = {"op": op, "dir": folder, "positions": mode}
                    samples.setdefault(f"{mode}/{op}", []).append(run_child("bench.prebuild_bench", args)["time"])
            print(pair, {k: round(v[-1], 3) for k, v in samples.items()}, flush=True)
    return samples


def versions_ab(pairs: int, variants: dict[str, Path]) -> dict[str, list[float]]:
    """Cold and warm prebuild of each version in ``variants`` (name -> source folder), ``pairs`` rounds.

    The order of the versions rotates from round to round; every sample is a fresh interpreter. Prints
    each round as it finishes and the median of each version's cold time over the round's bare parse.
    """
    samples: dict[str, list[float]] = {}
    names = list(variants)
    with tempfile.TemporaryDirectory(prefix="bench-prebuild-versions-") as folder:
        run_child("bench.prebuild_bench", {"op": "generate", "dir": folder})
        for pair in range(pairs):
            parse = run_child("bench.prebuild_bench", {"op": "parse", "dir": folder, "repeats": 1})
            samples.setdefault("parse", []).extend(parse["times"])
            samples.setdefault("parse/cpu", []).extend(parse["cpus"])
            for name in names[pair % len(names) :] + names[: pair % len(names)]:
                for op in ("cold", "warm"):
                    result = run_child("bench.prebuild_bench", {"op": op, "dir": folder}, code=variants[name])
                    samples.setdefault(f"{name}/{op}", []).append(result["time"])
                    samples.setdefault(f"{name}/{op}/cpu", []).append(result["cpu"])
            print(pair, {k: round(v[-1], 3) for k, v in samples.items()}, flush=True)
    for key, values in samples.items():
        print(f"{key:14} median {statistics.median(values):.3f} s  {[round(v, 3) for v in values]}")
    for clock in ("", "/cpu"):
        for name in names:
            _print_ratios(f"{name}/cold{clock}", f"parse{clock}", samples)
            if name != names[0]:
                _print_ratios(f"{name}/cold{clock}", f"{names[0]}/cold{clock}", samples)
    return samples


def _print_ratios(top: str, bottom: str, samples: dict[str, list[float]]) -> None:
    ratios = [t / b for t, b in zip(samples[top], samples[bottom], strict=True)]
    print(f"{top} / {bottom} per pair: median {statistics.median(ratios):.3f}  {[round(r, 3) for r in ratios]}")


def _report(samples: dict[str, list[float]]) -> None:
    for key, values in samples.items():
        print(f"{key:12} median {statistics.median(values):.3f} s  {[round(v, 3) for v in values]}")
    for op in ("cold", "warm"):
        ratios = [f / p for f, p in zip(samples[f"fast/{op}"], samples[f"plain/{op}"], strict=True)]
        print(f"{op}: fast/plain per pair, median {statistics.median(ratios):.3f}  {[round(r, 3) for r in ratios]}")


def _child(args: dict[str, Any]) -> dict[str, Any]:
    root = Path(args["dir"])
    op = args["op"]
    use_positions(args.get("positions", "fast"))
    if op == "generate":
        return {"modules": generate(root), "files": len(source_files(root))}
    if op == "parse":
        times = bare_parse(root, int(args.get("repeats", 3)))
        return {"times": [wall for wall, _ in times], "cpus": [cpu for _, cpu in times]}
    if op in ("cold", "warm"):
        wall, cpu = timed_prebuild(root, clean=op == "cold")
        return {"time": wall, "cpu": cpu}
    raise ValueError(f"unknown op {op!r}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["ab"]:  # python -m bench.prebuild_bench ab [pairs]: the positions A/B
        _report(positions_ab(int(sys.argv[2]) if len(sys.argv) > 2 else 7))
    elif sys.argv[1:2] == ["versions"]:  # python -m bench.prebuild_bench versions PAIRS NAME=SRC ...
        versions_ab(int(sys.argv[2]), {n: Path(p).resolve() for n, _, p in (a.partition("=") for a in sys.argv[3:])})
    else:
        child_main(_child)
