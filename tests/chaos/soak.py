"""The soak: minutes of load on a PostgreSQL or Redis server of its own, with workers SIGKILLed every 2-5 s
and the database server itself crashed and restarted every 5-20 s; then a drain and an audit.

    .venv/bin/python -m tests.chaos.soak --minutes 5                 # PostgreSQL, then Redis
    .venv/bin/python -m tests.chaos.soak --minutes 1 --backend redis

Run by hand, outside the test suite (pytest does not collect it). It never touches the shared servers:

* PostgreSQL: ``initdb`` into a temporary folder (as the ``postgres`` user when run as root), its own port
  and socket folder, ``fsync=on`` and ``synchronous_commit=on``; a crash is ``pg_ctl stop -m immediate``
  (no shutdown checkpoint: the next start runs crash recovery).
* Redis: its own ``redis-server`` on a free port with AOF (``appendonly yes``) and ``appendfsync always``
  by default; a crash is SIGKILL. With ``--redis-appendfsync everysec`` a crash could lose the last second
  of acknowledged writes by design (see the README's durability table), so the restarts are then graceful
  (``SHUTDOWN``, which flushes the AOF) instead.

The workload (the chaos project, ``project/``): pipelines, sagas whose charge fails twice, 8-leg fan-outs,
runs with a 2 s durable sleep and runs with inline steps, started at about one a second by this process,
each with a run id of its own (a start that meets a crashed server is retried with the same id). The
workers are real ``pikku worker`` processes. The audit (``chaos_harness.Chaos.audit``) holds the ledger
every step body appends to against the stored state: every run completed (none lost), no step body
completed twice for one recorded completion, the stored result is the attempt the attempt log says
ended. Bodies that completed but whose commit never happened, because their worker was killed or the
server crashed under it, ran again: that is the at-least-once window ``services.step.invocation_id`` is
for; it is counted (``reexecuted_after_fault``), not a violation. Exit code 1 on any violation.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from chaos_harness import PIKKU, PROJECT, Chaos, Counts

#: (workflow, input, weight): the mix of runs the soak starts.
MIX: list[tuple[str, dict[str, Any], int]] = [
    ("pipeline", {"sleep": 0.1}, 3),
    ("saga", {"charge": "flaky", "sleep": 0.05}, 2),
    ("fanout", {"sleep": 0.05}, 1),
    ("napper", {}, 2),
    ("inliner", {"n": 5, "sleep": 0.05}, 1),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout}s")


class PgServer:
    """A PostgreSQL cluster of the soak's own: initdb'd into ``root``, on a free port."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "pgdata"
        self.sock = root / "pgsock"
        self.log = root / "postgres.log"
        self.port = _free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.setting = "fsync=on, synchronous_commit=on; crash: pg_ctl stop -m immediate"

    def _as_owner(self, *cmd: str) -> list[str]:
        # PostgreSQL refuses to run as root: as root, run its tools as the postgres user.
        if os.geteuid() != 0:
            return list(cmd)
        return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", *cmd]

    def _run(self, *cmd: str) -> None:
        subprocess.run(self._as_owner(*cmd), check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        """initdb, and the settings: own port and socket folder, fsync and synchronous commit on."""
        self.sock.mkdir()
        self.log.touch()
        if os.geteuid() == 0:
            for path in (self.root, self.sock, self.log):
                shutil.chown(path, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-instructions")
        conf = (
            f"port = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.sock}'\n"
            "fsync = on\nsynchronous_commit = on\nmax_connections = 200\nshared_buffers = 32MB\n"
        )
        with (self.data / "postgresql.conf").open("a") as handle:
            handle.write(conf)

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "120", "start")

    def crash(self) -> None:
        """Stop it the way a crash does: no shutdown checkpoint, crash recovery on the next start."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def stop(self) -> None:
        """Stop it for good (if it runs)."""
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")


class RedisServer:
    """A redis-server of the soak's own, with AOF, on a free port."""

    def __init__(self, root: Path, appendfsync: str) -> None:
        self.dir = root / "redis"
        self.dir.mkdir()
        self.port = _free_port()
        self.appendfsync = appendfsync
        self.url = f"redis://127.0.0.1:{self.port}/0?prefix=soak"
        self.proc: subprocess.Popen[bytes] | None = None
        how = "SIGKILL" if appendfsync == "always" else "SHUTDOWN (graceful: everysec may lose a second)"
        self.setting = f"appendonly yes, appendfsync {appendfsync}; crash: {how}"

    def init(self) -> None:
        """Nothing to prepare: the AOF is made on first start."""

    def start(self) -> None:
        """Start the server (it loads its AOF) and wait until it answers."""
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
             "--appendonly", "yes", "--appendfsync", self.appendfsync, "--save", "", "--protected-mode", "no",
             "--logfile", str(self.dir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_port(self.port)
        import redis

        client = redis.Redis(port=self.port)
        try:
            deadline = time.monotonic() + 60
            while True:  # answers PING only once the AOF is loaded
                try:
                    client.ping()
                    return
                except redis.exceptions.BusyLoadingError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        finally:
            client.close()

    def crash(self) -> None:
        """SIGKILL it (appendfsync always: nothing acknowledged is lost), or SHUTDOWN it (everysec)."""
        assert self.proc is not None
        if self.appendfsync == "always":
            self.proc.send_signal(signal.SIGKILL)
        else:
            subprocess.run(
                ["redis-cli", "-p", str(self.port), "shutdown"], capture_output=True, timeout=60, check=False
            )
        self.proc.wait(60)

    def stop(self) -> None:
        """Stop it for good (if it runs)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(60)


async def _start_run(chaos: Chaos, workflow: str, data: dict[str, Any], run_id: str) -> None:
    """Start a run, retrying with the same id while the server is down (an idempotent start)."""
    while True:
        try:
            await chaos.rt.engine.start(workflow, data, run_id=run_id)
            return
        except Exception:
            await asyncio.sleep(0.2)


async def _load(chaos: Chaos, rng: random.Random, until: float, expected: dict[str, str]) -> None:
    names = [(wf, data) for wf, data, weight in MIX for _ in range(weight)]
    while time.monotonic() < until:
        workflow, data = rng.choice(names)
        run_id = f"soak-{len(expected):05d}-{workflow}"
        await _start_run(chaos, workflow, data, run_id)
        expected[run_id] = "completed"
        await asyncio.sleep(rng.uniform(0.5, 1.5))


async def _kill_workers(chaos: Chaos, rng: random.Random, live: list[Any], until: float, concurrency: int) -> None:
    while time.monotonic() < until:
        await asyncio.sleep(rng.uniform(2.0, 5.0))
        i = rng.randrange(len(live))
        if live[i].poll() is None:
            await asyncio.to_thread(chaos.sigkill, live[i])
        live[i] = chaos.spawn(concurrency=concurrency)


async def _supervise(chaos: Chaos, live: list[Any], concurrency: int, exits: list[int]) -> None:
    """Restart a worker that exited by itself, as a process supervisor would (``pikku worker`` exits with
    PIKKU_BACKEND_UNAVAILABLE when it starts while the server is down)."""
    while True:
        await asyncio.sleep(1.0)
        for i, proc in enumerate(live):
            if proc.poll() is not None and proc.pid not in chaos.killed:
                exits.append(proc.returncode)
                live[i] = chaos.spawn(concurrency=concurrency)


async def _crash_server(chaos: Chaos, server: PgServer | RedisServer, rng: random.Random, until: float) -> int:
    restarts = 0
    while time.monotonic() < until:
        await asyncio.sleep(rng.uniform(5.0, 20.0))
        down = time.time()
        await asyncio.to_thread(server.crash)
        await asyncio.sleep(rng.uniform(0.5, 3.0))
        await asyncio.to_thread(server.start)
        chaos.outages.append((down, time.time()))
        restarts += 1
    return restarts


def _longest_stall(chaos: Chaos, since: float, until: float) -> tuple[float, float]:
    """The longest time no step body completed anywhere between ``since`` and ``until``: (start, length)."""
    times = sorted(e["t"] for e in chaos.ledger() if e["event"] == "done" and since <= e["t"] <= until)
    edges = [since, *times, until]
    return max(((a, b - a) for a, b in itertools.pairwise(edges)), key=lambda gap: gap[1])


def _down_within(chaos: Chaos, since: float, until: float) -> float:
    """Seconds of ``since``..``until`` the server was down."""
    return sum(max(0.0, min(up, until) - max(down, since)) for down, up in chaos.outages)


async def _steps_done(chaos: Chaos, run_ids: list[str]) -> int:
    total = 0
    for run_id in run_ids:
        steps = await chaos.rt.engine.state.get_steps(run_id)
        total += sum(1 for s in steps.values() if s.status == "done" and s.form in ("rpc", "inline"))
    return total


def _own_server(kind: str, appendfsync: str) -> tuple[Path, PgServer | RedisServer]:
    """A temporary folder (others may enter: the postgres user must) and the server started in it."""
    root = Path(tempfile.mkdtemp(prefix=f"pikku-soak-{kind}-"))
    root.chmod(0o755)
    server: PgServer | RedisServer = PgServer(root) if kind == "postgres" else RedisServer(root, appendfsync)
    server.init()
    server.start()
    return root, server


async def soak(kind: str, minutes: float, args: argparse.Namespace) -> dict[str, Any]:
    """One soak on one backend; its figures (violations == 0 means it held)."""
    from pikku import open_runtime

    root, server = await asyncio.to_thread(_own_server, kind, args.redis_appendfsync)
    chaos = Chaos(kind, server.url, root)
    rng = random.Random(args.seed)
    expected: dict[str, str] = {}
    try:
        chaos.rt = await open_runtime(state_url=server.url)
        live = [chaos.spawn(concurrency=args.concurrency) for _ in range(args.workers)]
        for proc in live:
            chaos.ready(proc, timeout=60)
        print(f"[soak] {kind}: {server.setting}; {args.workers} workers; {minutes:g} min of load", flush=True)
        began = time.time()
        until = time.monotonic() + minutes * 60
        load = asyncio.ensure_future(_load(chaos, rng, until, expected))
        kills = asyncio.ensure_future(_kill_workers(chaos, rng, live, until, args.concurrency))
        exits: list[int] = []
        supervisor = asyncio.ensure_future(_supervise(chaos, live, args.concurrency, exits))
        crashes = asyncio.ensure_future(_crash_server(chaos, server, random.Random(args.seed + 1), until))
        await asyncio.gather(load, kills)
        restarts = await crashes
        load_ended = time.time()
        print(f"[soak] {kind}: load over ({len(expected)} runs); draining", flush=True)
        await chaos.wait_settled(expected, timeout=args.drain)
        drained = time.time()
        supervisor.cancel()
        counts: Counts = await chaos.audit(f"soak/{kind}", expected, timeout=30)
        stall_at, stall = _longest_stall(chaos, began, drained)
        for problem in counts.problems[:10]:
            print(f"[soak]   {problem}")
        figures = {
            "backend": kind,
            "server": server.setting,
            "minutes": minutes,
            "runs": counts.runs,
            "runs_completed": counts.completed,
            "steps_done": await _steps_done(chaos, list(expected)),
            "worker_kills": chaos.faults,
            "server_restarts": restarts,
            "worker_exits_restarted": len(exits),
            "lost_runs": counts.lost_runs,
            "duplicate_completions": counts.duplicate_completions,
            "violations": counts.lost_runs + counts.duplicate_completions + len(counts.problems),
            "reexecuted_after_fault": counts.reexecuted_after_fault,
            "cut_off_attempts": counts.cut_off_attempts,
            "longest_stall_s": round(stall, 1),
            "longest_stall_at_s": round(stall_at - began, 1),
            "server_down_during_stall_s": round(_down_within(chaos, stall_at, stall_at + stall), 1),
            "longest_server_outage_s": round(max((up - down for down, up in chaos.outages), default=0.0), 1),
            "drain_s": round(drained - load_ended, 1),
        }
        with contextlib.suppress(Exception):
            chaos.stop_all()
        return figures
    finally:
        chaos.kill_all()
        if chaos.rt is not None:
            await chaos.rt.close()
        server.stop()
        if args.keep:
            print(f"[soak] {kind}: kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def _prebuild() -> None:
    """Generate the chaos project's package and register its workflows in this process (as conftest does)."""
    subprocess.run([str(PIKKU), "prebuild", "--root", str(PROJECT)], check=True, capture_output=True)
    for folder in (PROJECT / ".pikku", PROJECT):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    import chaos_gen.workflow.wirings  # noqa: F401


def main() -> None:
    """``python -m tests.chaos.soak --minutes N``."""
    parser = argparse.ArgumentParser(prog="python -m tests.chaos.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="minutes of load per backend")
    parser.add_argument("--backend", choices=["postgres", "redis", "all"], default="all")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--drain", type=float, default=600.0, help="seconds to wait for the runs to finish")
    parser.add_argument("--redis-appendfsync", choices=["always", "everysec"], default="always")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders (logs, data)")
    args = parser.parse_args()
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)  # "error connecting" during each crash
    _prebuild()
    kinds = ["postgres", "redis"] if args.backend == "all" else [args.backend]
    results = [asyncio.run(soak(kind, args.minutes, args)) for kind in kinds]
    for figures in results:
        print("[soak] " + json.dumps(figures))
    sys.exit(1 if any(f["violations"] for f in results) else 0)


if __name__ == "__main__":
    main()
