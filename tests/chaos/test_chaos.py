"""Chaos: step failures, worker kills, worker churn and server outages on SQLite, PostgreSQL and Redis.

Each scenario runs real ``pikku worker`` processes on the chaos project (``project/``), injects its faults,
then audits the ledger the step bodies wrote against the stored state (see chaos_harness.py) and prints
one line of counts. Any lost run or duplicate completion fails the test. Run with ``-s`` to see the counts.

Leases are short (``project/pyproject.toml`` [tool.pikku.settings]: step and run-lock leases 3 s; workers
run with ``--lease 2``), so a dead worker's job and step come back within seconds. The database outage
scenario restarts the shared PostgreSQL server and drops every Redis client: conftest.py moves it to the
end of the session.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import time
from pathlib import Path

import pytest
from chaos_harness import Chaos

pytestmark = [pytest.mark.slow, pytest.mark.soak]


def _lines(chaos: Chaos, run_id: str, step: str, event: str | None = None) -> list[dict]:
    return [e for e in chaos.ledger() if e["run_id"] == run_id and e["step"] == step and event in (None, e["event"])]


# -- 1. saga ----------------------------------------------------------------------------------------------
async def test_saga(chaos: Chaos) -> None:
    """reserve->charge->ship: happy path; charge failing twice then succeeding; charge always failing."""
    chaos.spawn()
    chaos.spawn()
    ok = await chaos.start("saga", {"charge": "ok"})
    flaky = await chaos.start("saga", {"charge": "flaky"})
    broken = await chaos.start("saga", {"charge": "broken"})
    chaos.faults = 2 + 3  # failing attempts asked for: flaky twice, broken on all three
    counts = await chaos.audit("saga", {ok: "completed", flaky: "completed", broken: "failed"}, timeout=30)
    chaos.check(counts)
    state = chaos.rt.engine.state

    for step in ("reserve", "charge", "ship"):
        assert [e["event"] for e in _lines(chaos, ok, step)] == ["start", "done"], step

    # Three ledger lines before deciding (one per attempt), one invocation id, attempts 1-3, all recorded.
    starts = _lines(chaos, flaky, "charge", "start")
    assert [e["attempt"] for e in starts] == [1, 2, 3]
    assert len({e["invocation_id"] for e in starts}) == 1
    assert [e["event"] for e in _lines(chaos, flaky, "charge")] == ["start", "fail", "start", "fail", "start", "done"]
    attempts = await state.get_attempts(flaky, "charge")
    assert [a.attempt for a in attempts] == [1, 2, 3]
    assert [a.error is not None for a in attempts] == [True, True, False]
    assert (await state.get_run(flaky)).output_json == '{"reserve":1,"charge":3,"ship":1}'

    # Always failing: three attempts, the run failed naming charge, nothing shipped.
    assert [e["attempt"] for e in _lines(chaos, broken, "charge", "start")] == [1, 2, 3]
    assert _lines(chaos, broken, "charge", "done") == []
    assert _lines(chaos, broken, "ship") == []
    assert "ship" not in await state.get_steps(broken)
    run = await state.get_run(broken)
    assert run.error is not None and "charge" in run.error.message
    assert set(chaos.stop_all().values()) == {0}


# -- 2. fan-out -------------------------------------------------------------------------------------------
async def test_fanout_poisoned_leg(chaos: Chaos) -> None:
    """8 parallel legs, one always failing (retries=1): each healthy leg runs exactly once, even on retry/replay."""
    chaos.spawn()
    chaos.spawn()
    poisoned = await chaos.start("fanout", {"poison": 3})
    clean = await chaos.start("fanout", {"poison": -1})
    chaos.faults = 2  # the poisoned leg's two attempts
    counts = await chaos.audit("fanout", {poisoned: "failed", clean: "completed"}, timeout=30)
    await asyncio.sleep(1.0)  # any late, stray re-execution of a leg would show up in the ledger now
    chaos.check(counts)
    for run_id in (poisoned, clean):
        for i in range(8):
            events = [e["event"] for e in _lines(chaos, run_id, f"leg-{i}")]
            if run_id == poisoned and i == 3:
                assert events == ["start", "fail", "start", "fail"]
                assert [e["attempt"] for e in _lines(chaos, run_id, "leg-3", "start")] == [1, 2]
            else:
                assert events == ["start", "done"], (run_id, i, events)
    steps = await chaos.rt.engine.state.get_steps(poisoned)
    assert {n: s.status for n, s in steps.items()} == {f"leg-{i}": "failed" if i == 3 else "done" for i in range(8)}
    assert all(s.attempts == (2 if n == "leg-3" else 1) for n, s in steps.items())
    assert (await chaos.rt.engine.state.get_run(clean)).output_json == "[1,1,1,1,1,1,1,1]"
    assert set(chaos.stop_all().values()) == {0}


# -- 3. restart -------------------------------------------------------------------------------------------
async def test_sigkill_mid_step(chaos: Chaos) -> None:
    """SIGKILL a worker while step b runs; a new worker finishes the run, b gets exactly one extra attempt."""
    first = chaos.spawn()
    run_id = await chaos.start("pipeline", {"slow": 2.0})

    async def b_running() -> bool:
        return await chaos.step_status(run_id, "b") == "running" and bool(_lines(chaos, run_id, "b", "start"))

    await chaos.wait_for(b_running, 20, "step b running", run_id)
    chaos.sigkill(first)
    chaos.spawn()
    counts = await chaos.audit("restart/sigkill-mid-step", {run_id: "completed"}, timeout=40)
    chaos.check(counts)
    steps = await chaos.rt.engine.state.get_steps(run_id)
    assert (steps["a"].attempts, steps["b"].attempts, steps["c"].attempts) == (1, 2, 1)
    assert [e["event"] for e in _lines(chaos, run_id, "b")] == ["start", "start", "done"]
    assert [e["event"] for e in _lines(chaos, run_id, "a")] == ["start", "done"]
    assert [e["event"] for e in _lines(chaos, run_id, "c")] == ["start", "done"]
    assert set(chaos.stop_all().values()) == {0}


async def test_sigkill_mid_sleep(chaos: Chaos) -> None:
    """SIGKILL a worker while the run sleeps durably; a new worker wakes it on time, no step repeats."""
    first = chaos.spawn()
    run_id = await chaos.start("napper", {})

    async def sleeping() -> bool:
        return await chaos.step_status(run_id, "nap") == "scheduled"

    await chaos.wait_for(sleeping, 20, "the nap scheduled", run_id)
    chaos.sigkill(first)
    chaos.spawn()
    counts = await chaos.audit("restart/sigkill-mid-sleep", {run_id: "completed"}, timeout=40)
    chaos.check(counts)
    steps = await chaos.rt.engine.state.get_steps(run_id)
    nap = steps["nap"]
    assert nap.status == "done" and nap.wake_at is not None and nap.updated_at >= nap.wake_at  # not woken early
    for name in ("a", "b"):
        assert steps[name].attempts == 1 and [e["event"] for e in _lines(chaos, run_id, name)] == ["start", "done"]
    assert set(chaos.stop_all().values()) == {0}


async def test_sigkill_mid_replay(chaos: Chaos) -> None:
    """SIGKILL the worker holding the orchestrator job mid-pass (inline steps); done inline steps never rerun."""
    n = 40
    first = chaos.spawn()
    run_id = await chaos.start("inliner", {"n": n, "sleep": 0.05})
    inline = [f"inline-{i}" for i in range(n)]

    async def mid_pass() -> bool:
        steps = await chaos.rt.engine.state.get_steps(run_id)
        return sum(1 for name in inline if name in steps) >= 10

    # The pass that executes the inline steps is a replay (it first replays `head`); it holds the
    # orchestrator job and the run lock for ~n * 0.05 s. Kill once 10 of the n inline steps are recorded.
    await chaos.wait_for(mid_pass, 20, "10 inline steps recorded", run_id)
    chaos.sigkill(first)
    state = chaos.rt.engine.state
    at_kill = await state.get_steps(run_id)
    recorded = sum(1 for name in inline if name in at_kill)
    assert 10 <= recorded < n, f"missed the pass: {recorded} of {n} inline steps were recorded at the kill"
    # The dead worker still holds the run lock: it was killed inside the pass, not between passes.
    assert not await state.acquire_run_lock(run_id, "chaos-probe", 0.01), "the run lock was free at the kill"
    chaos.spawn()
    counts = await chaos.audit("restart/sigkill-mid-replay", {run_id: "completed"}, timeout=40)
    chaos.check(counts)
    starts = {name: len(_lines(chaos, run_id, name, "start")) for name in inline}
    reruns = {name: count for name, count in starts.items() if count > 1}
    assert len(reruns) <= 1 and all(c == 2 for c in reruns.values()), reruns  # only the step cut off, once
    assert not any(name in reruns for name in inline[:recorded]), "a recorded inline step ran again"
    for name in ("head", "tail"):
        assert [e["event"] for e in _lines(chaos, run_id, name)] == ["start", "done"], name
    print(
        f"[chaos] restart/sigkill-mid-replay[{chaos.kind}]: killed with {recorded}/{n} inline steps recorded; "
        f"re-executed: {sorted(reruns) or 'none'}"
    )
    assert set(chaos.stop_all().values()) == {0}


async def test_sigterm_mid_step(chaos: Chaos) -> None:
    """SIGTERM a worker while step b runs: it finishes b and exits 0; a new worker finishes the run."""
    first = chaos.spawn()
    run_id = await chaos.start("pipeline", {"slow": 1.5})

    async def b_running() -> bool:
        return await chaos.step_status(run_id, "b") == "running" and bool(_lines(chaos, run_id, "b", "start"))

    await chaos.wait_for(b_running, 20, "step b running", run_id)
    chaos.faults += 1
    assert chaos.sigterm(first) == 0, chaos.log_tail()
    assert await chaos.step_status(run_id, "b") == "done"  # finished within the stop grace, not abandoned
    chaos.spawn()
    counts = await chaos.audit("restart/sigterm-mid-step", {run_id: "completed"}, timeout=30)
    chaos.check(counts)
    for name in ("a", "b", "c"):
        assert [e["event"] for e in _lines(chaos, run_id, name)] == ["start", "done"], name
    assert [e["pid"] for e in _lines(chaos, run_id, "b")] == [first.pid, first.pid]
    assert set(chaos.stop_all().values()) == {0}


async def test_frozen_worker(chaos: Chaos) -> None:
    """A worker frozen (SIGSTOP) past its leases mid-step, then thawed: only the new lease holder's result counts."""
    first = chaos.spawn()
    run_id = await chaos.start("pipeline", {"slow": 4.0})

    async def b_running() -> bool:
        return await chaos.step_status(run_id, "b") == "running" and bool(_lines(chaos, run_id, "b", "start"))

    await chaos.wait_for(b_running, 20, "step b running", run_id)
    chaos.freeze(first)
    chaos.spawn()

    async def b_reclaimed() -> bool:
        return (await chaos.rt.engine.state.get_step(run_id, "b")).attempts == 2

    try:
        # Job lease (2 s) and step lease (3 s) lapse; the second worker claims b as attempt 2.
        await chaos.wait_for(b_reclaimed, 20, "step b claimed again", run_id)
    finally:
        chaos.thaw(first)  # attempt 1's body finishes now, while attempt 2 still runs
    counts = await chaos.audit("restart/frozen-worker", {run_id: "completed"}, timeout=30)
    await asyncio.sleep(1.0)  # attempt 1's worker has had its say by now
    b = await chaos.rt.engine.state.get_step(run_id, "b")
    log = [
        (a.attempt, a.ended_at is not None, a.error is None)
        for a in await chaos.rt.engine.state.get_attempts(run_id, "b")
    ]
    print(f"[chaos] restart/frozen-worker[{chaos.kind}]: b stored {b.result_json}, attempt log {log}")
    chaos.check(counts)
    assert b.result_json == '{"step":"b","attempt":2}', f"a lapsed lease holder's result was stored: {b.result_json}"
    assert set(chaos.stop_all().values()) == {0}


# -- 4. churn ---------------------------------------------------------------------------------------------
async def test_churn(chaos: Chaos) -> None:
    """100 runs while a random worker of 3 is SIGKILLed and restarted every 1-2 s: all complete, each step once."""
    # A mix: 50 pipelines, 25 sagas whose charge fails twice before it succeeds, 25 clean 8-leg fan-outs.
    live = [chaos.spawn(concurrency=4) for _ in range(3)]
    ids = [await chaos.start("pipeline", {"sleep": 0.3}) for _ in range(50)]
    ids += [await chaos.start("saga", {"charge": "flaky", "sleep": 0.1}) for _ in range(25)]
    ids += [await chaos.start("fanout", {"sleep": 0.1}) for _ in range(25)]
    rng = random.Random(4)

    async def killer(until: float) -> None:
        while time.monotonic() < until:
            await asyncio.sleep(rng.uniform(1.0, 2.0))
            i = rng.randrange(len(live))
            chaos.sigkill(live[i])
            live[i] = chaos.spawn(concurrency=4)

    async def all_settled() -> None:
        while True:
            running = await chaos.rt.engine.state.list_runs(status="running", limit=1)
            if not running:
                return
            await asyncio.sleep(0.2)

    # Kill for as long as runs remain (at most 30 s), then let the survivors finish.
    killing = asyncio.ensure_future(killer(time.monotonic() + 30))
    settled = asyncio.ensure_future(all_settled())
    await asyncio.wait({killing, settled}, return_when=asyncio.FIRST_COMPLETED)
    killing.cancel()
    counts = await chaos.audit("churn", dict.fromkeys(ids, "completed"), timeout=60)
    settled.cancel()
    chaos.check(counts)
    assert chaos.faults >= 5, f"only {chaos.faults} kills happened before the runs finished"
    assert set(chaos.stop_all().values()) == {0}


# -- 5. database outage (last in the session: it drops every connection to the server) --------------------
def _restart_postgres() -> None:
    version = sorted(p.name for p in Path("/etc/postgresql").iterdir())[-1]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
        check=True,
        capture_output=True,
        timeout=60,
    )


def _kill_redis_clients() -> int:
    import redis

    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        return int(client.execute_command("CLIENT", "KILL", "TYPE", "normal"))
    finally:
        client.close()


async def test_database_outage(chaos: Chaos) -> None:
    """Restart PostgreSQL / drop every Redis client connection mid-run: every run still completes, each step once."""
    if chaos.kind == "sqlite":
        pytest.skip("no server to restart")
    chaos.spawn()
    chaos.spawn()
    # Two runs whose step b outlasts the step lease (3 s) twice over, so that its lease must be renewed
    # across the outage; thirty short ones to have commits and hand-offs in flight when it hits.
    slow = [await chaos.start("pipeline", {"slow": 6.0}) for _ in range(2)]
    ids = slow + [await chaos.start("pipeline", {"sleep": 0.4}) for _ in range(30)]

    async def underway() -> bool:
        b_running = all([await chaos.step_status(run_id, "b") == "running" for run_id in slow])
        return b_running and len([e for e in chaos.ledger() if e["event"] == "done"]) >= 10

    await chaos.wait_for(underway, 30, "10 steps done")
    if chaos.kind == "postgres":
        began = time.monotonic()
        await asyncio.to_thread(_restart_postgres)
        chaos.faults += 1
        print(f"[chaos] database[postgres]: restarted the server in {time.monotonic() - began:.1f}s")
    else:
        for _ in range(3):
            killed = _kill_redis_clients()
            chaos.faults += 1
            print(f"[chaos] database[redis]: CLIENT KILL TYPE normal dropped {killed} connection(s)")
            await asyncio.sleep(0.7)
    # The outage has to land mid-run: steps were still to do when it ended.
    done = len([e for e in chaos.ledger() if e["event"] == "done"])
    print(f"[chaos] database[{chaos.kind}]: {done} of {3 * len(ids)} steps done when the outage ended")
    assert done < 3 * len(ids), "the outage came after the runs had finished"
    counts = await chaos.audit("database", dict.fromkeys(ids, "completed"), timeout=60)
    chaos.check(counts)
    assert set(chaos.stop_all().values()) == {0}
