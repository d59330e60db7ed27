"""Queue workers: claim jobs, hand each to the engine, ack or release, keep leases alive, stop cleanly.

``pikku worker`` runs one :class:`Worker`; tests run one inside their event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
from collections.abc import Iterable, Sequence

from pikku._engine.engine import ACKED, Engine
from pikku._engine.handoff import Taken
from pikku._engine.leases import LeaseKeeper
from pikku._engine.recovery import SweepCursor, recover
from pikku._engine.retention import Retention, prune_once
from pikku._engine.schedules import Scheduler
from pikku._errors import BackendUnavailableError
from pikku._logcontext import get_logger
from pikku._records import Job
from pikku._schedules import get_schedule, schedules

log = get_logger("pikku.worker")


class Worker:
    """Runs up to ``concurrency`` jobs at a time from ``queues`` (None: every queue).

    ``schedules`` True runs every wired schedule (``wire_schedule``) beside the jobs, starting each tick's
    run (once across all workers); an iterable of names runs those only; False (the default here, while
    ``pikku worker`` runs them unless ``--no-schedules``) none.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        queues: Sequence[str] | None = None,
        concurrency: int = 10,
        lease: float = 30.0,
        poll_interval: float = 1.0,
        stop_grace: float = 10.0,
        recovery_interval: float | None = 30.0,
        recovery_stale_after: float = 300.0,
        retention: Retention | None = None,
        schedules: bool | Iterable[str] = False,
        sample_interval: float = 30.0,
    ) -> None:
        self.engine = engine
        self.queues = list(queues) if queues is not None else None
        self._served = frozenset(self.queues) if self.queues is not None else None  # asked once per step
        self.concurrency = max(1, concurrency)
        self.lease = lease
        self.poll_interval = poll_interval
        self.stop_grace = stop_grace
        self.recovery_interval = recovery_interval
        self.recovery_stale_after = recovery_stale_after
        self.retention = retention
        self.sample_interval = sample_interval
        self._sweep = SweepCursor()  # where the next recovery sweep resumes
        self.stopping = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._slot_freed = asyncio.Event()
        self.processed = 0
        #: Starts the ticks' runs of the schedules this worker runs (None: it runs none).
        self.scheduler: Scheduler | None = _scheduler(engine, schedules)

    async def run(self) -> None:
        """Claim and process jobs until :meth:`stop`; then finish (or release) what is in flight.

        ConfigError at once for a schedule whose workflow is not wired or refuses its input."""
        if self.scheduler is not None:
            self.scheduler.check()
        chores = [asyncio.ensure_future(self._recovery_loop())] if self.recovery_interval else []
        if self.retention is not None:
            chores.append(asyncio.ensure_future(self._retention_loop(self.retention)))
        if self.scheduler is not None:
            chores.append(asyncio.ensure_future(self.scheduler.run(self.stopping)))
        if self.engine.samplers:
            chores.append(asyncio.ensure_future(self._sample_loop()))
        try:
            while not self.stopping.is_set():
                if not await self._fill() and not self.stopping.is_set():
                    await self._idle()
        finally:
            for chore in chores:
                chore.cancel()
            await self._drain()
            await self.engine.close()  # nothing will pass the runs it kept alive

    async def _recovery_loop(self) -> None:
        """Now and then, give stuck runs the job they miss (see pikku._engine.recovery)."""
        assert self.recovery_interval is not None
        while True:
            # Jitter, so that many workers started together do not sweep in lockstep.
            await asyncio.sleep(self.recovery_interval * random.uniform(0.5, 1.5))
            try:
                await recover(self.engine, stale_after=self.recovery_stale_after, cursor=self._sweep)
            except Exception:
                log.exception("recovery sweep failed; trying again later")

    async def _retention_loop(self, retention: Retention) -> None:
        """Now and then, delete settled runs past their retention (``[tool.pikku.settings] retention``)."""
        while True:
            await asyncio.sleep(retention.interval * random.uniform(0.5, 1.5))  # jittered like the sweep
            await prune_once(self.engine.state, retention)

    async def _sample_loop(self) -> None:
        """Every ``sample_interval``, the engine's samplers (OpenTelemetry's runs-by-status gauge) read the
        store; only workers run them, so a web process opens no extra queries."""
        while True:
            for sample in self.engine.samplers:
                try:
                    await sample()
                except Exception as exc:  # a metric is not worth a worker: the next sample may do
                    log.warning("sampling metrics failed (%s); trying again later", exc)
            await asyncio.sleep(self.sample_interval)

    def serves(self, queue: str) -> bool:
        """Whether this worker claims jobs from ``queue`` (the engine then runs such steps in the pass)."""
        return self._served is None or queue in self._served

    @property
    def in_flight(self) -> int:
        """Jobs being processed right now."""
        return len(self._tasks)

    def stop(self) -> None:
        """Ask the loop to stop claiming; in-flight jobs get ``stop_grace`` seconds to finish."""
        self.stopping.set()
        self._slot_freed.set()

    def install_signal_handlers(self) -> None:
        """SIGINT/SIGTERM stop the worker gracefully."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stop)

    async def _fill(self) -> bool:
        free = self.concurrency - len(self._tasks)
        if free <= 0:
            return False
        try:
            jobs = await self.engine.queue.claim(self.queues, owner=self.engine.owner, lease_s=self.lease, limit=free)
        except (BackendUnavailableError, OSError) as exc:
            log.warning("claiming failed (%s); retrying", exc)
            await asyncio.sleep(min(self.poll_interval, 1.0))
            return False
        for job in jobs:
            task = asyncio.ensure_future(self._process(job))
            self._tasks.add(task)
            task.add_done_callback(self._finished)
        return bool(jobs)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._slot_freed.set()

    async def _idle(self) -> None:
        """Wait for a job to become due, or for a slot to free up when all are busy."""
        self.engine.kept.expire()  # kept workflows past their idle time go, on a quiet worker too
        self._slot_freed.clear()
        if len(self._tasks) >= self.concurrency:
            await self._slot_freed.wait()
            return
        waiter = asyncio.ensure_future(self.engine.queue.wait(self.queues, self.poll_interval))
        freed = asyncio.ensure_future(self._slot_freed.wait())
        await asyncio.wait({waiter, freed}, return_when=asyncio.FIRST_COMPLETED)
        for t in (waiter, freed):
            t.cancel()

    async def _process(self, job: Job) -> None:
        """Process ``job``, then each job its work wrote claimed by this worker (a local hand-off), in this
        slot; a stopping worker gives such a job back instead."""
        taken = await self._process_one(job, None)
        while taken is not None:
            if self.stopping.is_set():
                await _quietly(self.engine.give_back(taken))
                return
            taken = await self._process_one(taken.job, taken)

    async def _process_one(self, job: Job, taken: Taken | None) -> Taken | None:
        keeper = LeaseKeeper(
            lambda: self.engine.queue.extend(job, self.lease), self.lease, f"job {job.id} on {job.queue}"
        )
        try:
            delay = await self.engine.handle_job(job, self.serves, taken=taken, job_lease=self.lease)
        except asyncio.CancelledError:
            await _quietly(self.engine.queue.release(job))
            raise
        except Exception:
            log.exception("job %s on %s failed; it will be delivered again", job.id, job.queue)
            delay = min(30.0, 0.5 * 2 ** min(job.attempts, 6))
        finally:
            keeper.cancel()
        self.processed += 1
        if isinstance(delay, Taken):  # acknowledged with the write that took the next job
            return delay
        if delay == ACKED:  # with the write that ended its work
            return None
        if delay is None:
            await _quietly(self.engine.queue.ack(job))
        else:
            await _quietly(self.engine.queue.release(job, delay=delay))
        return None

    async def _drain(self) -> None:
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=self.stop_grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=5.0)


def _scheduler(engine: Engine, wanted: bool | Iterable[str]) -> Scheduler | None:
    if wanted is False:
        return None
    chosen = list(schedules().values()) if wanted is True else [get_schedule(name) for name in wanted]
    return Scheduler(engine, chosen) if chosen else None


async def _quietly(op: asyncio.Future[object] | object) -> None:
    # Ack/release failures are survivable: the lease runs out and the job is delivered again.
    with contextlib.suppress(Exception):
        await op  # type: ignore[misc]
