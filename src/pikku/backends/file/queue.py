"""File job queue: one JSON file per job under ``<dir>/queue/``.

Enqueueing writes a new file atomically and needs no lock. Claim, ack, release and extend run under one
inter-process lock for the queue directory and replace job files atomically, so they are safe across
processes. ``wait`` wakes at once for this queue's own enqueues and otherwise polls the directory with a
short, growing sleep. A job's ``attempts`` doubles as its claim token (see :mod:`pikku.backends.sqlite.queue`).

A job file stores its ``priority`` (the due time when none was given); a claim takes due jobs by
(priority, run_at, seq). Job files written before priorities existed count their ``run_at`` as priority,
and get it written in on their first claim, so a later release keeps it.

A keyed job's file stores its ``key``. A keyed enqueue, and the release of a keyed job, look for a waiting
(unleased) job with that key under the queue's lock and merge into it, so across processes there is never
more than one; a job file without a ``key`` (any written before keys existed) never merges.

Dead jobs are files in ``<dir>/queue/dead/``, out of the directory claims and counts read. Dead-lettering
writes the reason and time into the leased job file, then renames it there (one atomic step out of
delivery; a crash before the rename leaves a leased job that is delivered again once its lease runs out).
A retried one is written back as a new job (a new id: a delivery count reset to 0 must not make an old
claim token valid again) into its dead file, which is then renamed into the queue; a keyed one merges into
the job waiting with its key instead, like a keyed enqueue. All of it under the queue's lock.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pikku._clock import current
from pikku._errors import CorruptStateError
from pikku._records import DeadJob, Job
from pikku.backends._folders import writable_folder
from pikku.backends.file.files import locked, make_lock, next_seq, read_json, write_json

log = logging.getLogger(__name__)

#: ``wait`` polls after this long at first, then ever less often up to POLL_MAX_S.
POLL_MIN_S = 0.005
POLL_MAX_S = 0.05

_FIELDS = ("id", "queue", "payload", "attempts", "run_at", "lease_until", "owner")


def _job(raw: dict[str, Any]) -> Job:
    return Job(**{name: raw[name] for name in _FIELDS})


def _priority(raw: dict[str, Any]) -> float:
    """The job's priority; a job file written before priorities existed has its due time."""
    priority = raw.get("priority")
    return float(raw["run_at"] if priority is None else priority)


def _claim_order(entry: tuple[Path, dict[str, Any]]) -> tuple[float, float, int]:
    """Due jobs are claimed by priority, then due time, then the order they were written in."""
    _path, raw = entry
    return _priority(raw), raw["run_at"], raw["seq"]


def _due(raw: dict[str, Any], t: float) -> bool:
    return bool(raw["run_at"] <= t and (raw["lease_until"] is None or raw["lease_until"] <= t))


def _safe_id(job_id: str) -> bool:
    """Whether ``job_id`` can name a job file (not empty, no path, not hidden)."""
    return bool(job_id) and os.sep not in job_id and not job_id.startswith(".")


def _dead(job_id: str, raw: dict[str, Any]) -> DeadJob:
    """A dead job from its file (named by its id: a retry cut short leaves the new job's fields in it)."""
    return DeadJob(job_id, raw["queue"], raw["payload"], raw["attempts"], raw["reason"], raw["died_at"])


def _newest_death_first(dead: DeadJob) -> tuple[float, str]:
    return -dead.died_at, dead.id


def _absorb(path: Path, waiting: dict[str, Any], raw: dict[str, Any]) -> str:
    """The waiting keyed job takes ``raw``'s due time and priority where they are earlier; its id."""
    waiting.update(run_at=min(waiting["run_at"], raw["run_at"]), priority=min(_priority(waiting), _priority(raw)))
    write_json(path, waiting)
    return str(waiting["id"])


class FileQueue:
    """A :class:`~pikku.backends.JobQueue` kept as one JSON file per job."""

    def __init__(self, root: Path) -> None:
        self._now = current().now  # the clock it was opened under (see pikku._clock)
        self._dir = root / "queue"
        writable_folder(self._dir)
        self._dead = self._dir / "dead"
        writable_folder(self._dead)
        self._lock = make_lock(self._dir / "queue.lock")
        self._wakeup = asyncio.Event()

    def _path(self, job_id: str) -> Path:
        return self._dir / f"{job_id}.json"

    def _dead_path(self, job_id: str) -> Path | None:
        """The file of a dead job, or None for an id that cannot name one (a path, a hidden file)."""
        if not _safe_id(job_id):
            return None
        return self._dead / f"{job_id}.json"

    def _scan(self) -> Iterator[tuple[Path, dict[str, Any]]]:
        """Every readable job file; unreadable ones are logged and skipped so the others keep flowing."""
        for entry in os.scandir(self._dir):
            if entry.name.startswith(".") or not entry.name.endswith(".json"):
                continue
            path = Path(entry.path)
            try:
                raw = read_json(path)
                if not isinstance(raw, dict) or not all(name in raw for name in (*_FIELDS, "seq")):
                    raise CorruptStateError(str(path), "not a job file")
            except FileNotFoundError:
                continue
            except CorruptStateError as exc:
                log.warning("skipping unreadable job file %s: %s", path, exc)
                continue
            yield path, raw

    def _held(self, job: Job) -> dict[str, Any] | None:
        """The stored job if ``job``'s claim still holds it (same owner and attempts, leased)."""
        path = self._path(job.id)
        if not _safe_id(job.id):
            return None
        try:
            raw = read_json(path)
        except FileNotFoundError:
            return None
        if not isinstance(raw, dict):
            raise CorruptStateError(str(path), "not a job file")
        if raw.get("lease_until") is None or raw.get("owner") != job.owner:
            return None
        return raw if raw.get("attempts") == job.attempts else None

    async def enqueue(
        self,
        queue: str,
        payload: dict[str, Any],
        *,
        delay: float = 0.0,
        priority: float | None = None,
        key: str | None = None,
    ) -> str:
        run_at = self._now() + delay
        raw = {"id": uuid.uuid4().hex, "queue": queue, "payload": payload, "attempts": 0, "run_at": run_at}
        raw |= {"priority": run_at if priority is None else priority, "lease_until": None, "owner": None}
        if key is None:  # a new file of its own: no lock needed
            job_id = self._write_new(raw)
        else:
            with locked(self._lock):  # the look for a waiting job and the write are one step for every process
                job_id = self._merge_or_write(raw | {"key": key})
        self._wakeup.set()
        return job_id

    def _write_new(self, raw: dict[str, Any]) -> str:
        write_json(self._path(raw["id"]), {**raw, "seq": next_seq()})
        return str(raw["id"])

    def _waiting(self, queue: str, key: str) -> tuple[Path, dict[str, Any]] | None:
        """The job with ``key`` on ``queue`` that waits (unleased), if any; call under the lock."""
        for path, raw in self._scan():
            if raw.get("key") == key and raw["queue"] == queue and raw["lease_until"] is None:
                return path, raw
        return None

    def _merge_or_write(self, raw: dict[str, Any]) -> str:
        """Under the lock: merge ``raw`` into the waiting job with its key, or write it as a new job."""
        found = self._waiting(raw["queue"], raw["key"])
        return self._write_new(raw) if found is None else _absorb(*found, raw)

    async def claim(self, queues: Sequence[str] | None, *, owner: str, lease_s: float, limit: int = 1) -> list[Job]:
        if limit <= 0:
            return []
        wanted = None if queues is None else set(queues)
        claimed = []
        with locked(self._lock):
            t = self._now()
            due = [
                (path, raw) for path, raw in self._scan() if (wanted is None or raw["queue"] in wanted) and _due(raw, t)
            ]
            due.sort(key=_claim_order)
            for path, raw in due[:limit]:
                raw.update(attempts=raw["attempts"] + 1, owner=owner, lease_until=t + lease_s, priority=_priority(raw))
                write_json(path, raw)
                claimed.append(_job(raw))
        return claimed

    async def ack(self, job: Job) -> bool:
        with locked(self._lock):
            if self._held(job) is None:
                return False
            self._path(job.id).unlink()
            return True

    async def release(self, job: Job, *, delay: float = 0.0) -> bool:
        with locked(self._lock):
            raw = self._held(job)
            if raw is None:
                return False
            raw.update(owner=None, lease_until=None, run_at=self._now() + delay)
            self._wait_again(raw)
        self._wakeup.set()
        return True

    def _wait_again(self, raw: dict[str, Any]) -> None:
        """Under the lock: a released job waits again; a keyed one merges into the job already waiting."""
        found = None if raw.get("key") is None else self._waiting(raw["queue"], raw["key"])
        if found is None:
            write_json(self._path(raw["id"]), raw)
        else:
            _absorb(*found, raw)
            self._path(raw["id"]).unlink()

    async def extend(self, job: Job, lease_s: float) -> bool:
        with locked(self._lock):
            raw = self._held(job)
            if raw is None:
                return False
            raw["lease_until"] = self._now() + lease_s
            write_json(self._path(job.id), raw)
            return True

    def _any_due(self, queues: Sequence[str] | None) -> bool:
        wanted = None if queues is None else set(queues)
        t = self._now()
        return any((wanted is None or raw["queue"] in wanted) and _due(raw, t) for _, raw in self._scan())

    async def wait(self, queues: Sequence[str] | None, timeout: float) -> None:
        """Return when this queue enqueues or releases a job, when a poll finds a due job, or at timeout."""
        self._wakeup.clear()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        waiter = asyncio.ensure_future(self._wakeup.wait())
        pause = POLL_MIN_S
        try:
            while not waiter.done() and not self._any_due(queues):
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return
                await asyncio.wait((waiter,), timeout=min(remaining, pause))
                pause = min(pause * 2, POLL_MAX_S)
        finally:
            waiter.cancel()

    async def count(self, queue: str | None = None) -> int:
        return sum(1 for _, raw in self._scan() if queue is None or raw["queue"] == queue)

    async def dead_letter(self, job: Job, reason: str) -> bool:
        with locked(self._lock):
            raw = self._held(job)
            if raw is None:
                return False
            path = self._path(job.id)
            write_json(path, raw | {"reason": reason, "died_at": self._now()})  # still leased: no claim takes it
            os.replace(path, self._dead / path.name)
        return True

    async def list_dead(self, limit: int = 100) -> list[DeadJob]:
        dead = []
        for entry in os.scandir(self._dead):
            if entry.name.startswith(".") or not entry.name.endswith(".json"):
                continue
            try:
                dead.append(_dead(entry.name.removesuffix(".json"), read_json(Path(entry.path))))
            except FileNotFoundError:
                continue  # retried or dropped meanwhile
            except (CorruptStateError, KeyError, TypeError) as exc:
                log.warning("skipping unreadable dead job file %s: %s", entry.path, exc)
        dead.sort(key=_newest_death_first)
        return dead[: max(limit, 0)]

    async def retry_dead(self, job_id: str) -> bool:
        path = self._dead_path(job_id)
        if path is None:
            return False
        with locked(self._lock):
            try:
                dead = read_json(path)
            except FileNotFoundError:
                return False
            t = self._now()
            raw = {"id": uuid.uuid4().hex, "queue": dead["queue"], "payload": dead["payload"], "attempts": 0}
            raw |= {"run_at": t, "priority": t, "lease_until": None, "owner": None}
            found = None if dead.get("key") is None else self._waiting(dead["queue"], dead["key"])
            if found is not None:
                _absorb(*found, raw)
                path.unlink()
            else:
                if dead.get("key") is not None:
                    raw["key"] = dead["key"]
                # The new job, whole, before it enters the queue (still listed as dead, should the rename
                # never come: a later retry takes it again).
                write_json(path, raw | {"seq": next_seq(), "reason": dead["reason"], "died_at": dead["died_at"]})
                os.replace(path, self._path(raw["id"]))
        self._wakeup.set()
        return True

    async def drop_dead(self, job_id: str) -> bool:
        path = self._dead_path(job_id)
        if path is None:
            return False
        with locked(self._lock):
            try:
                path.unlink()
            except FileNotFoundError:
                return False
        return True

    async def close(self) -> None:
        return None
