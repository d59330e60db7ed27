"""The chaos harness: worker processes to kill, and an audit of the ledger against the stored state.

Every step body of ``project/chaosapp`` appends JSON lines to a ledger file (``start`` before it decides
anything, then ``fail`` or ``done``), so the ledger shows what really ran, whatever the backend recorded.
The audit counts, per scenario: runs, faults injected, runs settled as expected, duplicate completions
(a step body that completed successfully twice) and lost runs (not settled as expected in time), plus
attempts that failed on purpose (``fail`` lines) and attempts cut off by a kill (``start`` with no end).
It also checks that every ledger line of a step carries the step's invocation id, that no claim ran twice
(rpc attempt numbers are unique), and that a done rpc step's stored result is the one its attempt log
says ended.

The one duplicate the audit excuses: a ``done`` line, for an attempt the store never saw end, written by a
process that was SIGKILLed after writing it (it died before committing the result), that had been frozen
with SIGSTOP before writing it (its lease lapsed, so the step was rightly claimed again), or written just
before or while the database server was down (``outages``: the soak crashes it; the commit never happened). Nothing was
completed as far as the engine knows; it is counted and printed separately (``reexecuted_after_fault``).
This is the at-least-once window every side effect must absorb through ``services.step.invocation_id``;
it is not a duplicate completion of the engine.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).parent / "project"
PIKKU = Path(sys.executable).with_name("pikku")
#: ``pikku worker --lease``: how long a dead worker's claimed job stays invisible.
JOB_LEASE = 2.0
#: Run statuses a run ends in (a waiting or suspended run is not done).
SETTLED = ("completed", "failed", "cancelled")


@dataclass
class Counts:
    """What a scenario prints and what decides pass or fail."""

    scenario: str
    backend: str
    runs: int = 0
    faults: int = 0
    completed: int = 0
    failed_as_expected: int = 0
    duplicate_completions: int = 0
    lost_runs: int = 0
    failed_attempts: int = 0
    cut_off_attempts: int = 0
    reexecuted_after_fault: int = 0
    problems: list[str] = field(default_factory=list)
    excused: list[str] = field(default_factory=list)

    def line(self) -> str:
        """One line for the log."""
        return (
            f"[chaos] {self.scenario}[{self.backend}]: runs={self.runs} faults_injected={self.faults} "
            f"runs_completed={self.completed} runs_failed_as_expected={self.failed_as_expected} "
            f"duplicate_completions={self.duplicate_completions} lost_runs={self.lost_runs} "
            f"failed_attempts={self.failed_attempts} cut_off_attempts={self.cut_off_attempts} "
            f"reexecuted_after_fault={self.reexecuted_after_fault}"
        )


class Chaos:
    """Worker processes on one backend, the in-process runtime that starts runs, and the ledger."""

    def __init__(self, kind: str, url: str, tmp_path: Path) -> None:
        self.kind = kind
        self.url = url
        self.tmp = tmp_path
        self.ledger_path = tmp_path / "ledger.jsonl"
        self.env = {**os.environ, "PIKKU_STATE_URL": url, "CHAOS_LEDGER": str(self.ledger_path)}
        self.env.pop("PIKKU_QUEUE_URL", None)
        self.rt: Any = None
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: dict[int, Path] = {}
        self.killed: dict[int, float] = {}  # pid -> time.time() of its SIGKILL
        self.frozen: dict[int, float] = {}  # pid -> time.time() of its SIGSTOP
        #: (down, up) time.time() windows of the database server (the soak's crashes and restarts).
        self.outages: list[tuple[float, float]] = []
        self.faults = 0

    # -- workers ----------------------------------------------------------------------------------------
    def spawn(self, concurrency: int = 8) -> subprocess.Popen[bytes]:
        """Start a ``pikku worker`` process on the backend (its log goes to tmp_path)."""
        log = self.tmp / f"worker-{len(self.procs)}.log"
        proc = subprocess.Popen(
            [
                str(PIKKU),
                "worker",
                "--root",
                str(PROJECT),
                "--lease",
                str(JOB_LEASE),
                "--concurrency",
                str(concurrency),
            ],
            env=self.env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        self.procs.append(proc)
        self.logs[proc.pid] = log
        return proc

    def sigkill(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL one worker (ours, by pid) and reap it."""
        self.killed[proc.pid] = time.time()
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        self.faults += 1

    def freeze(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGSTOP one worker: alive but silent, like a long GC pause or a suspended VM."""
        self.frozen[proc.pid] = time.time()
        proc.send_signal(signal.SIGSTOP)
        self.faults += 1

    def thaw(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGCONT a frozen worker."""
        proc.send_signal(signal.SIGCONT)

    def sigterm(self, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
        """SIGTERM one worker and wait for it to stop; its exit code."""
        proc.send_signal(signal.SIGTERM)
        return proc.wait(timeout)

    def ready(self, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
        """Wait until a worker has started serving (its signal handlers are installed then)."""
        deadline = time.monotonic() + timeout
        while b"pikku worker " not in self.logs[proc.pid].read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"worker {proc.pid} did not start\n{self.log_tail()}")
            time.sleep(0.05)

    def stop_all(self) -> dict[int, int]:
        """SIGTERM every live worker once it serves; pid -> exit code (0: stopped cleanly)."""
        live = [p for p in self.procs if p.poll() is None]
        for p in live:
            self.ready(p)
        for p in live:
            p.send_signal(signal.SIGTERM)
        return {p.pid: p.wait(30) for p in live}

    def kill_all(self) -> None:
        """Teardown: SIGKILL whatever of ours still runs."""
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)

    def log_tail(self, lines: int = 15) -> str:
        """The last lines of every worker log, for failure messages."""
        out = []
        for pid, log in self.logs.items():
            text = log.read_text(errors="replace").splitlines() if log.exists() else []
            fate = "killed" if pid in self.killed else "frozen" if pid in self.frozen else "not killed"
            out.append(f"--- worker {pid} ({fate}) ---")
            out.extend(text[-lines:])
        return "\n".join(out)

    # -- state ------------------------------------------------------------------------------------------
    async def start(self, workflow: str, data: Any) -> str:
        """Start a run (remote: the workers do the rest)."""
        return str(await self.rt.engine.start(workflow, data))

    async def wait_for(
        self, predicate: Callable[[], Awaitable[bool]], timeout: float, what: str, run_id: str | None = None
    ) -> None:
        """Poll ``predicate`` (tolerating backend errors, e.g. while a server restarts) until true."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if await predicate():
                    return
            except Exception:
                pass
            if time.monotonic() > deadline:
                state = await self.describe(run_id) if run_id else ""
                raise AssertionError(f"{what}: not reached within {timeout}s\n{state}\n{self.log_tail()}")
            await asyncio.sleep(0.05)

    async def step_status(self, run_id: str, name: str) -> str | None:
        """The stored status of one step, None before it exists."""
        steps = await self.rt.engine.state.get_steps(run_id)
        return steps[name].status if name in steps else None

    async def wait_settled(self, run_ids: Iterable[str], timeout: float) -> dict[str, Any]:
        """Poll until every run is settled or ``timeout`` passes; the last RunRecord of each."""
        ids = list(run_ids)
        last: dict[str, Any] = {}
        deadline = time.monotonic() + timeout
        while True:
            try:
                for run_id in ids:
                    if run_id not in last or last[run_id].status not in SETTLED:
                        last[run_id] = await self.rt.engine.state.get_run(run_id)
            except Exception:
                await asyncio.sleep(0.2)  # a server restarting under us: look again
                continue
            if all(r.status in SETTLED for r in last.values()) or time.monotonic() > deadline:
                return last
            await asyncio.sleep(0.1)

    def ledger(self) -> list[dict[str, Any]]:
        """Every ledger line so far."""
        if not self.ledger_path.exists():
            return []
        return [json.loads(line) for line in self.ledger_path.read_text().splitlines() if line.strip()]

    # -- the audit --------------------------------------------------------------------------------------
    async def audit(self, scenario: str, expected: dict[str, str], *, timeout: float) -> Counts:
        """Wait for the runs to settle, then check the ledger against the stored steps; print the counts."""
        from pikku import invocation_id

        runs = await self.wait_settled(expected, timeout)
        state = self.rt.engine.state
        counts = Counts(scenario, self.kind, runs=len(expected), faults=self.faults)
        by_step: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for line in self.ledger():
            by_step[(line["run_id"], line["step"])].append(line)
        for run_id, want in expected.items():
            run = runs[run_id]
            steps = await state.get_steps(run_id)
            if run.status == want == "completed":
                counts.completed += 1
            elif run.status == want:
                counts.failed_as_expected += 1
            else:
                counts.lost_runs += 1
                counts.problems.append(
                    f"run {run_id}: {run.status} (expected {want}), error {run.error}\n" + await self.describe(run_id)
                )
            for lrun, lstep in by_step:
                if lrun == run_id and lstep not in steps:
                    counts.problems.append(f"run {run_id}: ledger lines for step {lstep!r} the store never recorded")
            for name, rec in steps.items():
                if rec.form == "sleep":
                    continue
                lines = sorted(by_step.get((run_id, name), []), key=lambda e: e["t"])
                await self._audit_step(counts, run_id, name, rec, lines, invocation_id(run_id, name))
        print(counts.line())
        for note in counts.excused:
            print(f"[chaos]   re-executed after a fault: {note}")
        return counts

    async def _audit_step(
        self, counts: Counts, run_id: str, name: str, rec: Any, lines: list[dict[str, Any]], inv: str
    ) -> None:
        where = f"run {run_id} step {name!r}"
        if {e["invocation_id"] for e in lines} - {inv}:
            counts.problems.append(f"{where}: invocation ids {sorted({e['invocation_id'] for e in lines})} != {inv}")
        starts = [e for e in lines if e["event"] == "start"]
        dones = [e for e in lines if e["event"] == "done"]
        ends = {(e["pid"], e["attempt"]) for e in lines if e["event"] in ("done", "fail")}
        counts.failed_attempts += sum(1 for e in lines if e["event"] == "fail")
        counts.cut_off_attempts += sum(1 for e in starts if (e["pid"], e["attempt"]) not in ends)
        if rec.status == "done" and not dones:
            counts.problems.append(f"{where}: stored done but its body never completed")
        if rec.status != "done" and (await self.rt.engine.state.get_run(run_id)).status == "completed":
            counts.problems.append(f"{where}: {rec.status} in a completed run")
        if rec.form == "rpc":
            numbers = [e["attempt"] for e in starts]
            if len(numbers) != len(set(numbers)):
                counts.problems.append(f"{where}: two executions under one claim, attempts {numbers}")
            if len(starts) > rec.attempts:
                counts.problems.append(f"{where}: {len(starts)} executions but {rec.attempts} attempts recorded")
        log = await self.rt.engine.state.get_attempts(run_id, name)
        ended = {a.attempt for a in log if a.ended_at is not None}
        stored = json.loads(rec.result_json) if rec.status == "done" and rec.result_json else None
        if rec.form == "rpc" and isinstance(stored, dict) and "attempt" in stored:
            succeeded = [a.attempt for a in log if a.ended_at is not None and a.error is None]
            if succeeded != [stored["attempt"]]:
                counts.problems.append(
                    f"{where}: stored result comes from attempt {stored['attempt']}, "
                    f"but the attempt log has {succeeded} ending successfully\n" + await self.describe(run_id)
                )
        for extra in dones[:-1]:
            never_ended = rec.form != "rpc" or extra["attempt"] not in ended
            how = self._fault_behind(extra) if never_ended else None
            if how is not None:
                counts.reexecuted_after_fault += 1
                counts.excused.append(
                    f"{where}: attempt {extra['attempt']} completed its body {how}, never committed; "
                    f"it ran again as attempt {dones[-1]['attempt']}"
                )
            else:
                counts.duplicate_completions += 1
                counts.problems.append(
                    f"{where}: body completed {len(dones)} times: {dones}\n" + await self.describe(run_id)
                )

    def _fault_behind(self, done: dict[str, Any]) -> str | None:
        """How a fault explains a ``done`` line whose attempt never committed, or None (no fault did)."""
        killed_at = self.killed.get(done["pid"], -math.inf)
        if killed_at >= done["t"]:
            return f"{killed_at - done['t']:.3f}s before its worker {done['pid']} was SIGKILLed"
        if self.frozen.get(done["pid"], math.inf) <= done["t"]:
            return f"after its worker {done['pid']} had been frozen (SIGSTOP) past its lease"
        outage = self._outage_at(done["t"])
        if outage is not None:
            return f"{done['t'] - outage:+.3f}s from a database crash"
        return None

    def _outage_at(self, t: float) -> float | None:
        """When the database went down around ``t`` (a commit in flight then, or a write failing until its
        connection came back), or None. The slack covers a commit sent just before the crash and the pool's
        reconnection after the restart."""
        for down, up in self.outages:
            if down - 1.0 <= t <= up + 5.0:
                return down
        return None

    async def describe(self, run_id: str) -> str:
        """Run, step states, attempts and queue size, for a failure message."""
        state = self.rt.engine.state
        t = time.time()
        out = []
        try:
            run = await state.get_run(run_id)
            out.append(f"run {run_id} {run.workflow} {run.status}")
            for s in (await state.get_steps(run_id)).values():
                lease = None if s.lease_until is None else round(s.lease_until - t, 2)
                wake = None if s.wake_at is None else round(s.wake_at - t, 2)
                atts = [(a.attempt, a.ended_at is not None) for a in await state.get_attempts(run_id, s.name)]
                out.append(
                    f"  {s.name}: {s.status} attempts={s.attempts}/{s.max_attempts} owner={s.lease_owner} "
                    f"lease_in={lease} wake_in={wake} attempt_log={atts} error={s.error and s.error.message}"
                )
            out.append(f"  jobs in queue: {await self.rt.engine.queue.count()}")
        except Exception as exc:
            out.append(f"  (could not read state: {exc!r})")
        return "\n".join(out)

    def check(self, counts: Counts) -> None:
        """Fail on any lost run, duplicate completion or other inconsistency, with the evidence."""
        assert counts.lost_runs == 0 and counts.duplicate_completions == 0 and not counts.problems, (
            counts.line() + "\n" + "\n".join(counts.problems[:10]) + "\n" + self.log_tail()
        )
