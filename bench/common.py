"""Shared helpers: timing statistics, machine facts, throwaway PostgreSQL databases, child processes."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import psycopg

PG_ADMIN = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
ROOT = Path(__file__).resolve().parent.parent
OUT = Path(__file__).resolve().parent / ".out"


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) by linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def median(values: Sequence[float]) -> float:
    """The median, NaN for no values."""
    return statistics.median(values) if values else float("nan")


def pg_url(database: str) -> str:
    """The admin URL pointed at another database on the same server."""
    base, _, _ = PG_ADMIN.rpartition("/")
    return f"{base}/{database}"


@contextlib.contextmanager
def fresh_pg_database(prefix: str) -> Iterator[str]:
    """Create an empty database, yield its name, drop it afterwards (even if clients linger)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


#: Where children import pikku from (see :func:`snapshot_code`); None: the live checkout.
_CODE: Path | None = None


def snapshot_code(folder: Path, from_head: bool) -> str:
    """Copy pikku's source (work tree, or the committed HEAD) to ``folder``; children import that copy.

    Others may edit the checkout while a run takes minutes: a child started after an edit would import a
    mix of old and new modules. Every child of one run measures the same code this way. Returns a label.
    """
    global _CODE  # noqa: PLW0603 - one snapshot per process, set once by the command
    label = code_version()
    if from_head:
        archive = subprocess.run(
            ["git", "archive", "HEAD", "src/pikku", "templates"], cwd=ROOT, capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
        label = label.split(" ")[0] + " (HEAD)"
    else:
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        shutil.copytree(ROOT / "src" / "pikku", folder / "src" / "pikku", ignore=ignore)
        shutil.copytree(ROOT / "templates", folder / "templates", ignore=ignore)
    _CODE = folder / "src"
    return label


def run_child(
    module: str,
    args: dict[str, Any],
    timeout: float = 900.0,
    *,
    code: Path | None = None,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run ``python -m module`` with ``args`` as JSON on argv; its last stdout line is the JSON result.

    ``code`` (default: the run's snapshot) is the folder pikku is imported from; ``env`` adds variables.
    """
    cmd, env = child_command(module, args, code=code, env=env)
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    return child_result(module, args, proc.returncode, proc.stdout, proc.stderr)


def child_command(
    module: str, args: dict[str, Any], *, code: Path | None = None, env: dict[str, str] | None = None
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of a child (see :func:`run_child`), for callers that start it."""
    cmd = [sys.executable, "-m", module, json.dumps(args)]
    full = dict(os.environ) | (env or {})
    code = code or _CODE
    if code is not None:  # ahead of the editable install's path entry
        full["PYTHONPATH"] = os.pathsep.join(p for p in (str(code), full.get("PYTHONPATH", "")) if p)
    return cmd, full


def child_result(module: str, args: dict[str, Any], returncode: int, stdout: str, stderr: str) -> dict[str, Any]:
    """A child's JSON result (its last stdout line starting with ``{``), or RuntimeError with its output."""
    lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
    if returncode != 0 or not lines:
        tail = "\n".join((stderr or stdout).splitlines()[-25:])
        raise RuntimeError(f"{module} {args} failed (exit {returncode}):\n{tail}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def child_main(handler: Any) -> None:
    """Entry point of a child: parse the JSON argument, run ``handler(args)``, print its JSON result."""
    args = json.loads(sys.argv[1])
    result = handler(args)
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or the platform's guess)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def versions() -> dict[str, str]:
    """Versions of everything the table names."""
    found: dict[str, str] = {
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "psycopg": psycopg.__version__,
    }
    for dist in ("pikku", "dbos", "libcst", "uvloop", "celery", "redis"):
        try:
            found[dist] = version(dist)
        except PackageNotFoundError:
            found[dist] = "not installed"
    try:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            sync = conn.execute("SHOW synchronous_commit").fetchone()
            fsync = conn.execute("SHOW fsync").fetchone()
        found["postgresql"] = str(row[0]) if row else "?"
        found["pg_synchronous_commit"] = str(sync[0]) if sync else "?"
        found["pg_fsync"] = str(fsync[0]) if fsync else "?"
    except Exception as exc:  # the table still prints; the PostgreSQL rows will show the failure
        found["postgresql"] = f"unavailable ({exc.__class__.__name__})"
    found |= {f"{k}_server" if k == "redis" else k: v for k, v in redis_facts().items()}
    return found


def code_version() -> str:
    """The git commit of the checkout being measured, marked when the work tree has uncommitted changes."""
    git = ["git", "--no-optional-locks"]  # read-only: never take the index lock a concurrent commit needs
    try:
        head = [*git, "rev-parse", "--short", "HEAD"]
        sha = subprocess.run(head, check=False, cwd=ROOT, capture_output=True, text=True)
        changed = [*git, "status", "--porcelain", "--untracked-files=no", "--", "src"]
        dirty = subprocess.run(changed, check=False, cwd=ROOT, capture_output=True, text=True)
    except OSError:
        return "unknown"
    if sha.returncode != 0:
        return "unknown"
    return sha.stdout.strip() + (" + uncommitted changes in src/" if dirty.stdout.strip() else "")


def machine() -> dict[str, Any]:
    """Cores and CPU model of this machine."""
    return {"cores": os.cpu_count() or 0, "cpu": cpu_model(), "os": platform.platform(terse=True)}


class CpuMeter:
    """User+sys CPU seconds spent over an interval by this process (every thread, and the children it has
    waited for: ``RUSAGE_SELF`` + ``RUSAGE_CHILDREN``) and by the PostgreSQL backends serving its
    database, read from /proc/<pid>/stat of the pids pg_stat_activity lists as client backends of that
    database. PostgreSQL's background processes (checkpointer, WAL writer, autovacuum, ...) are not
    client backends and are excluded.

    The meter's own connection is left out; a backend that ends inside the interval is lost (the pool
    rarely replaces one), a backend that starts inside it counts whole. Without /proc (another machine
    than the server's) the PostgreSQL part is NaN. ``threads`` (in :meth:`stop`) is the process's thread
    count at the end and ``threads_client`` the same CPU summed over /proc/self/task/*/stat, a check that
    ``getrusage`` counted every thread (DBOS runs its workflows on an executor's threads).
    """

    _TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def __init__(self, dsn: str | None) -> None:
        """``dsn``: the database whose backends count; None: this process alone (Redis: no server part)."""
        self._conn = psycopg.connect(dsn, autocommit=True) if dsn else None
        self._start: tuple[float, dict[int, float]] = (0.0, {})
        self._tasks_start = 0.0

    def _backends(self) -> dict[int, float]:
        if self._conn is None:
            return {}
        rows = self._conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
        ).fetchall()
        found = {}
        for (pid,) in rows:
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                found[pid] = (int(fields[11]) + int(fields[12])) / self._TICK  # utime + stime
        return found

    @staticmethod
    def _own() -> float:
        me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime

    @classmethod
    def _tasks(cls) -> tuple[int, float]:
        """(threads, their user+sys CPU seconds) from /proc/self/task; (0, NaN) without /proc."""
        total, n = 0.0, 0
        with contextlib.suppress(OSError):
            for task in Path("/proc/self/task").iterdir():
                with contextlib.suppress(OSError, ValueError, IndexError):
                    fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
                    total += (int(fields[11]) + int(fields[12])) / cls._TICK
                    n += 1
        return (n, total) if n else (0, float("nan"))

    def start(self) -> None:
        """Begin an interval."""
        self._start = (self._own(), self._backends())
        self._tasks_start = self._tasks()[1]

    def stop(self) -> dict[str, float]:
        """CPU seconds since :meth:`start`: ``client``, ``server`` (NaN when unreadable) and their sum, and
        the thread check (``threads``, ``threads_client``; threads that ended inside the interval are
        missing from the latter)."""
        own, before = self._start
        client = self._own() - own
        after = self._backends()
        server = sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items()) if after else float("nan")
        threads, tasks_cpu = self._tasks()
        return {"client": client, "server": server, "total": client + server, "threads": float(threads),
                "threads_client": tasks_cpu - self._tasks_start}  # fmt: skip

    def close(self) -> None:
        """Close the meter's connection."""
        if self._conn is not None:
            self._conn.close()


def tree_cpu(pid: int) -> float:
    """User+sys CPU seconds of process ``pid`` and its live descendants (each with its waited-for children),
    from /proc; NaN without /proc. A descendant that exited and was not waited for is missing."""
    total, seen, todo = 0.0, set(), [pid]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(fields[i]) for i in (11, 12, 13, 14)) / CpuMeter._TICK  # utime stime cutime cstime
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
    return total if seen else float("nan")


def poll_interval(runs: int) -> float:
    """How often a backlog drain counts what is left: 50 ms, longer for big backlogs (a count over 50,000
    queued rows costs the database milliseconds; both systems are polled alike)."""
    return min(1.0, max(0.05, runs / 100_000))


def rss_mb() -> float:
    """This process's resident set size (VmRSS of /proc/self/status) in MiB; NaN without /proc."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def pg_schema_bytes(dsn: str, schema: str) -> float:
    """Table + index + TOAST bytes of every table in ``schema`` (``pg_total_relation_size``)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'm')",
            (schema,),
        ).fetchone()
    return float(row[0]) if row else float("nan")


REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


@contextlib.contextmanager
def fresh_redis_prefix(prefix: str) -> Iterator[str]:
    """A unique key prefix on the benchmark's Redis (``BENCH_REDIS_URL``); its keys deleted afterwards."""
    import redis  # noqa: PLC0415 - only the Redis workloads need the driver

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        yield name
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        try:
            batch = []
            for key in client.scan_iter(match=f"{name}:*", count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    client.unlink(*batch)
                    batch.clear()
            if batch:
                client.unlink(*batch)
        finally:
            client.close()


def redis_facts() -> dict[str, str]:
    """The Redis server's version and persistence settings (AOF, RDB snapshots)."""
    import redis  # noqa: PLC0415

    try:
        client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
        try:
            info = client.info("server")
            aof = client.config_get("appendonly").get("appendonly", "?")
            fsync = client.config_get("appendfsync").get("appendfsync", "?")
            save = client.config_get("save").get("save", "?")
        finally:
            client.close()
    except Exception as exc:  # the table still prints; the Redis rows show the failure
        return {"redis": f"unavailable ({exc.__class__.__name__})"}
    return {"redis": str(info.get("redis_version", "?")), "redis_appendonly": aof, "redis_appendfsync": fsync,
            "redis_save": save or "(none)"}  # fmt: skip
