"""File state store: one JSON file per run under ``<dir>/runs/``; nothing to install or run.

The file holds the run, its run lock, its steps and their attempts. Every change happens under that run's
inter-process lock (``<stem>.lock``) and replaces the file atomically, so it is safe across processes;
reads need no lock. A run file that cannot be read raises CorruptStateError for that run only: listing
skips it with a warning. There is no co-located queue, so ``supports_handoff`` is False and a ``handoff``
is refused with TypeError before anything is written.

``<dir>/running/`` indexes the runs that may be unsettled (running, waiting or suspended: an empty file per
run), so that the recovery sweep's listing of running runs reads those files only, however many settled
runs the directory holds.
Each store rebuilds the index from the run files now and then (RECONCILE_S), so a marker lost to a power
cut, or a run written by an older pikku, is found again. A marker is made and removed only under its run's
lock (create, resume; settle, delete, and the listing's removal of a marker a crash left behind), so a
resume racing any of them cannot leave a running run without one.

``delete_runs`` reads every run file to choose its page, then deletes each chosen run under its lock after
checking it again: the run file (steps and attempts are in it), its marker, and last its lock file.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import logging
import re
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

from pikku._clock import current
from pikku._errors import CorruptStateError, RunNotFoundError, StepNotFoundError
from pikku._records import (
    SETTLED_RUN_STATUSES,
    Enqueue,
    ErrorInfo,
    EventRecord,
    Job,
    NewStep,
    RunRecord,
    RunStatus,
    ScheduleState,
    SendResult,
    StepAttempt,
    StepForm,
    StepRecord,
    claim_owner,
    refuse_ack,
)
from pikku.backends._folders import writable_folder
from pikku.backends._kept import lock_run_kept_by_reading
from pikku.backends.file.files import locked, make_lock, next_seq, read_json, write_json
from pikku.backends.file.schedules import ScheduleFiles

log = logging.getLogger(__name__)

T = TypeVar("T")
Doc = dict[str, Any]

FORMAT = 1
#: Seconds between two rebuilds of a store's running index from the run files (see FileStateStore).
RECONCILE_S = 600.0
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


#: A pass never takes the lock of a settled or suspended run.
_UNPASSABLE = SETTLED_RUN_STATUSES | {"suspended"}


def file_stem(run_id: str) -> str:
    """A file name for a run id: readable, safe on every filesystem, distinct even if case is folded."""
    digest = hashlib.sha256(run_id.encode("utf-8")).hexdigest()[:16]
    return f"{_UNSAFE.sub('_', run_id)[:64]}.{digest}"


def _plain(value: Any) -> Any:
    """A record as a JSON-ready dict (None stays None)."""
    return None if value is None else dataclasses.asdict(value)


def _with_error(raw: dict[str, Any]) -> dict[str, Any]:
    error = raw.get("error")
    return {**raw, "error": None if error is None else ErrorInfo.from_dict(error)}


#: NewStep fields stored as they are; its lease fields become the record's lease only for a claimed insert.
_NEW_STEP_FIELDS = tuple(f.name for f in dataclasses.fields(NewStep) if f.name not in ("lease_owner", "lease_s"))


def _first_attempt(record: StepRecord, owner: str | None, lease_s: float, t: float) -> StepAttempt | None:
    """The attempt a newly inserted step starts with, if any, its ``attempts`` and lease set to match.

    Inserted ``done``: one finished attempt. Inserted ``running``: one open attempt under ``owner``'s lease.
    """
    if record.status == "done":
        record.attempts = 1
        return StepAttempt(1, t, t)
    if record.status == "running":
        record.attempts, record.lease_owner, record.lease_until = 1, owner, t + lease_s
        return StepAttempt(1, t)
    return None


@contextmanager
def _checked(path: Path) -> Iterator[None]:
    """Turn a malformed document into CorruptStateError naming the file."""
    try:
        yield
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CorruptStateError(str(path), f"malformed run file: {exc!r}") from exc


def _newest_first_key(entry: tuple[float, int, str, RunRecord]) -> tuple[float, int, str]:
    """list_runs' order (newest first when reversed): creation time, write sequence, then run id."""
    created_at, seq, run_id, _run = entry
    return created_at, seq, run_id


class FileStateStore:
    """A :class:`~pikku.backends.StateStore` kept as one JSON file per run."""

    supports_handoff = False
    supports_ack = False

    def __init__(self, root: Path) -> None:
        self._root = root
        self._now = current().now  # the clock it was opened under (see pikku._clock)
        self._dir = writable_folder(root / "runs")
        # The running index: an empty marker per run that may be running, so that listing running runs
        # (the recovery sweep, every few seconds) reads those files only. A marker is made before its run
        # file and removed after the run settled, so markers are a superset of the running runs. A store
        # rebuilds the index from the run files at its first such listing and every RECONCILE_S after,
        # which also brings back a marker a power cut lost or an older pikku never wrote.
        self._running = writable_folder(root / "running")
        self._reconciled_at: float | None = None
        self._settled: set[str] = set()  # stems of runs seen settled: a rebuild skips their files
        self._schedules = ScheduleFiles(root, file_stem)

    # -- documents
    def _path(self, run_id: str) -> Path:
        return self._dir / f"{file_stem(run_id)}.json"

    def _load(self, run_id: str, path: Path) -> Doc:
        try:
            doc = read_json(path)
        except FileNotFoundError:
            raise RunNotFoundError(run_id) from None
        with _checked(path):
            if not isinstance(doc, dict) or doc["run"]["run_id"] != run_id:
                raise ValueError("not a run file of this run")
            if not isinstance(doc["steps"], dict) or not isinstance(doc["attempts"], dict):
                raise ValueError("steps or attempts are not objects")
        return doc

    def _read(self, run_id: str, read: Callable[[Doc], T]) -> T:
        path = self._path(run_id)
        doc = self._load(run_id, path)
        with _checked(path):
            return read(doc)

    def _change(
        self,
        run_id: str,
        change: Callable[[Doc], tuple[T, bool]],
        after: Callable[[Path, T], None] | None = None,
    ) -> T:
        """Read-modify-write the run file under its lock; ``change`` says whether to write. ``after`` (given
        the run file's path and the result) runs once the file is written, still under the lock."""
        path = self._path(run_id)
        lock_path = path.with_suffix(".lock")
        with locked(make_lock(lock_path)):
            try:
                doc = self._load(run_id, path)
            except RunNotFoundError:
                # No such run (never, or deleted): leave no lock file behind. The unlink is the last thing
                # done under the lock; a process that waited on it finds the file gone and locks a new one.
                lock_path.unlink(missing_ok=True)
                raise
            with _checked(path):
                result, dirty = change(doc)
            if dirty:
                write_json(path, doc)
            if after is not None:
                after(path, result)
        return result

    def _marker(self, path: Path) -> Path:
        """The running index's marker of the run whose file is ``path``."""
        return self._running / path.stem

    def _children_of(self, run_id: str) -> Path:
        """The folder of the children index of ``run_id``: an empty file per child, named by its file stem."""
        return self._root / "children" / file_stem(run_id)

    # -- records
    @staticmethod
    def _run(doc: Doc) -> RunRecord:
        raw = {k: v for k, v in doc["run"].items() if k != "seq"}
        return RunRecord(**_with_error(raw))

    @staticmethod
    def _step(doc: Doc, run_id: str, name: str) -> dict[str, Any]:
        try:
            step: dict[str, Any] = doc["steps"][name]
        except KeyError:
            raise StepNotFoundError(run_id, name) from None
        return step

    # -- runs
    async def create_run(
        self,
        run_id: str,
        workflow: str,
        input_json: str,
        *,
        handoff: Enqueue | None = None,
        lock_owner: str | None = None,
        lock_lease: float = 0.0,
        parent_run_id: str | None = None,
        forked_from: str | None = None,
    ) -> RunRecord:
        self._no_handoff(handoff)
        t = self._now()
        run = RunRecord(
            run_id, workflow, "running", input_json, created_at=t, updated_at=t,
            parent_run_id=parent_run_id, forked_from=forked_from,
        )  # fmt: skip
        lock = None if lock_owner is None else {"owner": lock_owner, "until": t + lock_lease}
        path = self._path(run_id)
        with locked(make_lock(path.with_suffix(".lock"))):
            if path.exists():
                raise ValueError(f"run {run_id!r} already exists")
            (self._running / path.stem).touch()
            if parent_run_id is not None:  # the children index: made before the file, like the running marker
                folder = self._children_of(parent_run_id)
                folder.mkdir(parents=True, exist_ok=True)
                (folder / path.stem).touch()
            doc = {"format": FORMAT, "run": {**_plain(run), "seq": next_seq()}, "lock": lock}
            write_json(path, {**doc, "steps": {}, "attempts": {}})
        return run

    async def now(self) -> float:
        return self._now()

    async def get_run(self, run_id: str) -> RunRecord:
        return self._read(run_id, self._run)

    async def count_runs(self) -> dict[str, int]:
        # No index of settled runs: every run file is read (the file backend suits small setups).
        return dict(collections.Counter(run.status for run, _ in self._runs(running_only=False)))

    async def list_runs(
        self,
        *,
        workflow: str | None = None,
        status: RunStatus | None = None,
        limit: int = 100,
        before: str | None = None,
    ) -> list[RunRecord]:
        anchor = None if before is None else (*self._read(before, _place), before)
        found: list[tuple[float, int, str, RunRecord]] = []
        for run, seq in self._runs(running_only=status is not None and status not in SETTLED_RUN_STATUSES):
            if anchor is not None and (run.created_at, seq, run.run_id) >= anchor:
                continue
            if (workflow is None or run.workflow == workflow) and (status is None or run.status == status):
                found.append((run.created_at, seq, run.run_id, run))
        # run_id breaks exact ties (two processes can stamp the same created_at and per-process seq)
        found.sort(key=_newest_first_key, reverse=True)
        return [run for _, _, _, run in found[: max(limit, 0)]]

    def _runs(self, *, running_only: bool) -> Iterator[tuple[RunRecord, int]]:
        """Every readable run and its creation sequence; with ``running_only``, the running runs, read
        through the running index (or, when the index is due to be rebuilt, by a full scan that does so)."""
        last = self._reconciled_at
        rebuild = running_only and (last is None or time.monotonic() - last >= RECONCILE_S)
        paths: Iterator[Path] = self._dir.glob("*.json")
        if rebuild:  # a run seen settled is not read again, unless it has a marker (resumed since)
            marked = {marker.name for marker in self._running.iterdir()}
            paths = (p for p in paths if p.stem not in self._settled or p.stem in marked)
        elif running_only:
            paths = (self._dir / f"{m.name}.json" for m in self._running.iterdir())
        for path in paths:
            try:
                doc = read_json(path)
                with _checked(path):
                    run, seq = self._run(doc), int(doc["run"].get("seq", 0))
            except FileNotFoundError:
                continue  # deleted, or its marker is made and the file not yet written
            except CorruptStateError as exc:
                log.warning("skipping unreadable run file %s: %s", path, exc)
                continue
            if running_only:
                marker = self._marker(path)
                if run.status in SETTLED_RUN_STATUSES:
                    self._settled.add(path.stem)
                    if marker.exists():  # left by a crash between a settle's write and its unlink
                        self._drop_marker_if_settled(run.run_id)
                    continue
                self._settled.discard(path.stem)
                if rebuild:
                    marker.touch()
            yield run, seq
        if rebuild:
            self._drop_orphan_markers()
            self._reconciled_at = time.monotonic()

    def _drop_marker_if_settled(self, run_id: str) -> None:
        """Remove the marker of a run found settled, looking again under the run's lock: a resume (which
        makes the marker under that lock) cannot come in between the look and the unlink."""

        def change(doc: Doc) -> tuple[bool, bool]:
            return doc["run"]["status"] in SETTLED_RUN_STATUSES, False

        def after(path: Path, settled: bool) -> None:
            if settled:
                self._marker(path).unlink(missing_ok=True)

        with suppress(RunNotFoundError, CorruptStateError):  # deleted meanwhile (marker and all), or unreadable
            self._change(run_id, change, after)

    def _drop_orphan_markers(self) -> None:
        """Markers whose run file never came (a crash inside create_run), once they are a minute old: a
        younger one may belong to a run being created right now."""
        cutoff = time.time() - 60.0
        for marker in self._running.iterdir():
            with suppress(FileNotFoundError):
                if not (self._dir / f"{marker.name}.json").exists() and marker.stat().st_mtime < cutoff:
                    marker.unlink()

    def _settle(
        self, run_id: str, status: RunStatus, output: str | None, error: ErrorInfo | None, reason: str | None = None
    ) -> bool:
        def change(doc: Doc) -> tuple[bool, bool]:
            run = doc["run"]
            if run["status"] in SETTLED_RUN_STATUSES:
                return False, False
            run.update(status=status, output_json=output, error=_plain(error), updated_at=self._now())
            run["cancel_reason"] = reason
            doc["lock"] = None  # a settled run needs no lock
            return True, True

        def after(path: Path, _settled: bool) -> None:
            # Under the lock: a resume, which makes the marker under it, cannot come in before the unlink.
            self._marker(path).unlink(missing_ok=True)
            self._settled.add(path.stem)

        return self._change(run_id, change, after)

    async def complete_run(self, run_id: str, output_json: str) -> bool:
        return self._settle(run_id, "completed", output_json, None)

    async def fail_run(self, run_id: str, error: ErrorInfo) -> bool:
        return self._settle(run_id, "failed", None, error)

    async def cancel_run(self, run_id: str, reason: str | None = None) -> bool:
        return self._settle(run_id, "cancelled", None, None, reason)

    async def list_children(self, run_id: str) -> list[RunRecord]:
        """Through the children index: the run files its markers name, of this parent (a marker whose file
        is missing, deleted or not yet written, is skipped), in creation order."""
        self._read(run_id, lambda doc: None)  # RunNotFoundError for an unknown parent
        folder = self._children_of(run_id)
        found: list[tuple[float, int, str, RunRecord]] = []
        for marker in folder.iterdir() if folder.is_dir() else ():
            path = self._dir / f"{marker.name}.json"
            try:
                doc = read_json(path)
                with _checked(path):
                    run, seq = self._run(doc), int(doc["run"].get("seq", 0))
            except FileNotFoundError:
                continue
            if run.parent_run_id == run_id:
                found.append((run.created_at, seq, run.run_id, run))
        found.sort(key=_newest_first_key)
        return [run for _, _, _, run in found]

    async def suspend_run(self, run_id: str, name: str, data_json: str) -> bool:
        def change(doc: Doc) -> tuple[bool, bool]:
            run = doc["run"]
            if run["status"] not in ("running", "waiting") or name in doc["steps"]:
                return False, False
            t = self._now()
            run.update(status="suspended", updated_at=t)
            record = StepRecord(
                run_id, name, "suspend", "done", data_json=data_json, result_json="null", created_at=t, updated_at=t
            )
            first = _first_attempt(record, None, 0.0, t)
            doc["attempts"][name] = [_plain(first)]
            doc["steps"][name] = _plain(record)
            return True, True

        return self._change(run_id, change)

    # -- lock
    async def acquire_run_lock(self, run_id: str, owner: str, lease_s: float) -> bool:
        def change(doc: Doc) -> tuple[bool, bool]:
            held, t = doc["lock"], self._now()
            if held is not None and held["owner"] != owner and held["until"] > t:
                return False, False
            doc["lock"] = {"owner": owner, "until": t + lease_s}
            return True, True

        return self._change(run_id, change)

    async def lock_run(self, run_id: str, owner: str, lease_s: float) -> tuple[RunRecord, dict[str, StepRecord] | None]:
        """One read-modify-write of the run file under its lock: the lock taken, the run and steps read."""

        def change(doc: Doc) -> tuple[tuple[RunRecord, dict[str, StepRecord] | None], bool]:
            run, held, t = self._run(doc), doc["lock"], self._now()
            if run.status in _UNPASSABLE or (held is not None and held["owner"] != owner and held["until"] > t):
                return (run, None), False
            doc["lock"] = {"owner": owner, "until": t + lease_s}
            if run.status == "waiting":
                doc["run"]["status"] = run.status = "running"
            return (run, self._steps(doc)), True

        return self._change(run_id, change)

    async def lock_run_kept(
        self, run_id: str, owner: str, lease_s: float, *, step_count: int, names: Sequence[str]
    ) -> tuple[RunRecord, dict[str, StepRecord] | None, bool]:
        return await lock_run_kept_by_reading(self.lock_run, run_id, owner, lease_s, step_count, names)

    async def renew_run_lock(self, run_id: str, owner: str, lease_s: float) -> bool:
        def change(doc: Doc) -> tuple[bool, bool]:
            held = doc["lock"]
            if held is None or held["owner"] != owner:
                return False, False
            held["until"] = self._now() + lease_s
            return True, True

        return self._change(run_id, change)

    async def release_run_lock(self, run_id: str, owner: str, *, ack: Job | None = None, waiting: bool = False) -> None:
        refuse_ack(ack)

        def change(doc: Doc) -> tuple[None, bool]:
            held = doc["lock"]
            if held is None or held["owner"] != owner:
                return None, False
            doc["lock"] = None
            if waiting and doc["run"]["status"] == "running":
                doc["run"]["status"] = "waiting"
            return None, True

        with suppress(RunNotFoundError):  # releasing the lock of an unknown run is a no-op
            self._change(run_id, change)

    # -- steps
    @staticmethod
    def _steps(doc: Doc) -> dict[str, StepRecord]:
        return {name: StepRecord(**_with_error(raw)) for name, raw in doc["steps"].items()}

    async def get_steps(self, run_id: str) -> dict[str, StepRecord]:
        return self._read(run_id, self._steps)

    async def get_step(self, run_id: str, name: str) -> StepRecord:
        return self._read(run_id, lambda doc: StepRecord(**_with_error(self._step(doc, run_id, name))))

    async def insert_step(self, step: NewStep, *, handoff: Enqueue | None = None) -> StepRecord:
        self._no_handoff(handoff)
        owner = claim_owner(step)

        def change(doc: Doc) -> tuple[StepRecord, bool]:
            stored = doc["steps"].get(step.name)
            if stored is not None:
                return StepRecord(**_with_error(stored)), False
            t = self._now()
            fields = {name: getattr(step, name) for name in _NEW_STEP_FIELDS}
            record = StepRecord(**fields, created_at=t, updated_at=t)
            if owner is not None and doc["run"]["status"] in SETTLED_RUN_STATUSES:
                record.status = "pending"  # a claim needs a running run (as claim_step): inserted unclaimed
            first = _first_attempt(record, owner, step.lease_s, t)
            if first is not None:
                doc["attempts"][step.name] = [_plain(first)]
            doc["steps"][step.name] = _plain(record)
            return record, True

        return self._change(step.run_id, change)

    async def mark_step_scheduled(self, run_id: str, name: str) -> bool:
        def change(doc: Doc) -> tuple[bool, bool]:
            step = self._step(doc, run_id, name)
            if step["status"] != "pending":
                return False, False
            step.update(status="scheduled", updated_at=self._now())
            return True, True

        return self._change(run_id, change)

    async def claim_step(
        self, run_id: str, name: str, owner: str, lease_s: float, *, form: StepForm | None = None
    ) -> StepRecord | None:
        def change(doc: Doc) -> tuple[StepRecord | None, bool]:
            step, t = self._step(doc, run_id, name), self._now()
            if doc["run"]["status"] in SETTLED_RUN_STATUSES:  # a settled run's steps are never claimed
                return None, False
            if form is not None and step["form"] != form:  # a step of another form is left as it is
                return None, False
            expired = step["status"] == "running" and (step["lease_until"] or 0.0) <= t
            if step["status"] not in ("pending", "scheduled") and not expired:
                return None, False
            attempt = step["attempts"] + 1
            step.update(status="running", lease_owner=owner, lease_until=t + lease_s, attempts=attempt)
            step["updated_at"] = t
            attempts = doc["attempts"].setdefault(name, [])
            attempts.append(_plain(StepAttempt(attempt, t)))
            return StepRecord(**_with_error(step)), True

        return self._change(run_id, change)

    async def renew_step_lease(self, run_id: str, name: str, owner: str, lease_s: float) -> bool:
        def change(doc: Doc) -> tuple[bool, bool]:
            step = self._step(doc, run_id, name)
            if step["status"] != "running" or step["lease_owner"] != owner:
                return False, False
            step["lease_until"] = self._now() + lease_s
            return True, True

        return self._change(run_id, change)

    def _finish(
        self, run_id: str, name: str, fields: dict[str, Any], error: ErrorInfo | None, owner: str | None
    ) -> bool:
        """Move an open step on with ``fields`` and end its open attempt; False if already settled.

        With ``owner``, also False (no change) unless the step is running under that owner's claim.
        """

        def change(doc: Doc) -> tuple[bool, bool]:
            step = self._step(doc, run_id, name)
            if step["status"] in ("done", "failed"):
                return False, False
            if owner is not None and (step["status"] != "running" or step.get("lease_owner") != owner):
                return False, False
            t = self._now()
            step.update(fields, lease_owner=None, lease_until=None, updated_at=t)
            attempts = doc["attempts"].get(name)
            if attempts and attempts[-1]["ended_at"] is None:
                attempts[-1].update(ended_at=t, error=_plain(error))
            return True, True

        return self._change(run_id, change)

    @staticmethod
    def _no_handoff(handoff: Enqueue | None) -> None:
        if handoff is not None:
            raise TypeError("the file store has no co-located queue; enqueue the handoff separately")

    async def complete_step(
        self,
        run_id: str,
        name: str,
        result_json: str,
        *,
        result_type: str | None = None,
        handoff: Enqueue | None = None,
        owner: str | None = None,
        ack: Job | None = None,
    ) -> bool:
        refuse_ack(ack)
        self._no_handoff(handoff)
        fields = {"status": "done", "result_json": result_json, "result_type": result_type, "error": None}
        return self._finish(run_id, name, fields, None, owner)

    async def fail_step(
        self,
        run_id: str,
        name: str,
        error: ErrorInfo,
        *,
        retry_at: float | None = None,
        handoff: Enqueue | None = None,
        owner: str | None = None,
        ack: Job | None = None,
    ) -> bool:
        refuse_ack(ack)
        self._no_handoff(handoff)
        fields: dict[str, Any] = {"status": "failed" if retry_at is None else "scheduled"}
        if retry_at is not None:
            fields["wake_at"] = retry_at
        fields["error"] = _plain(error)
        return self._finish(run_id, name, fields, error, owner)

    async def get_attempts(self, run_id: str, name: str) -> list[StepAttempt]:
        def read(doc: Doc) -> list[StepAttempt]:
            self._step(doc, run_id, name)
            return [StepAttempt(**_with_error(raw)) for raw in doc["attempts"].get(name, [])]

        return self._read(run_id, read)

    async def get_run_attempts(self, run_id: str) -> dict[str, list[StepAttempt]]:
        def read(doc: Doc) -> dict[str, list[StepAttempt]]:
            attempts = doc["attempts"]
            return {name: [StepAttempt(**_with_error(raw)) for raw in attempts.get(name, [])] for name in doc["steps"]}

        return self._read(run_id, read)

    # -- events
    async def send_event(
        self,
        run_id: str,
        name: str,
        payload_json: str,
        *,
        event_id: str | None = None,
        handoff: Enqueue | None = None,
    ) -> SendResult:
        self._no_handoff(handoff)

        def change(doc: Doc) -> tuple[SendResult, bool]:
            if doc["run"]["status"] in SETTLED_RUN_STATUSES:
                return "settled", False
            events = doc.setdefault("events", [])  # a run file from before events has none
            if event_id is not None and any(e["event_id"] == event_id for e in events):
                return "duplicate", False
            seq = events[-1]["seq"] + 1 if events else 1
            events.append(_plain(EventRecord(run_id, seq, name, payload_json, event_id, self._now())))
            return "stored", True

        return self._change(run_id, change)

    async def take_event(self, run_id: str, step: str, name: str) -> StepRecord | None:
        def change(doc: Doc) -> tuple[StepRecord | None, bool]:
            rec = self._step(doc, run_id, step)
            if rec["status"] in ("done", "failed"):
                return StepRecord(**_with_error(rec)), False
            event = next((e for e in doc.get("events", []) if e["name"] == name and e["consumed_by"] is None), None)
            if event is None:
                return None, False
            event["consumed_by"] = step
            rec.update(status="done", result_json=event["payload_json"], result_type=None, error=None)
            rec.update(lease_owner=None, lease_until=None, updated_at=self._now())
            return StepRecord(**_with_error(rec)), True

        return self._change(run_id, change)

    async def get_events(self, run_id: str) -> list[EventRecord]:
        return self._read(run_id, lambda doc: [EventRecord(**raw) for raw in doc.get("events", [])])

    # -- operating runs
    async def resume_run(self, run_id: str) -> bool:
        """One read-modify-write under the run's lock (one winner); the run's marker is made before the
        file says running, so the running index never misses it."""

        def change(doc: Doc) -> tuple[bool, bool]:
            run = doc["run"]
            if run["status"] not in ("failed", "cancelled", "suspended"):
                return False, False
            t = self._now()
            run.update(status="running", error=None, cancel_reason=None, updated_at=t)
            run["resumes"] = int(run.get("resumes", 0)) + 1
            for step in doc["steps"].values():
                if step["status"] == "failed":
                    step.update(status="pending", error=None, lease_owner=None, lease_until=None, updated_at=t)
                    step["max_attempts"] = step["attempts"] + step["max_attempts"]
            self._marker(self._path(run_id)).touch()
            return True, True

        resumed = self._change(run_id, change)
        if resumed:
            self._settled.discard(self._path(run_id).stem)
        return resumed

    async def delete_runs(self, *, before: float, statuses: Sequence[RunStatus], limit: int) -> list[str]:
        wanted = set(statuses) & SETTLED_RUN_STATUSES
        if not wanted or limit <= 0:
            return []
        found = [
            (run.updated_at, seq, run.run_id)
            for run, seq in self._runs(running_only=False)
            if run.status in wanted and run.updated_at < before
        ]
        found.sort()  # oldest change first; ties in creation order
        deleted: list[str] = []
        for _, _, run_id in found:
            if len(deleted) == limit:
                break
            if self._delete_run(run_id, wanted, before):
                deleted.append(run_id)
        return deleted

    def _delete_run(self, run_id: str, wanted: set[RunStatus], before: float) -> bool:
        """Delete the run if, looked at again under its lock, it is still of a wanted status and older than
        ``before`` (a run resumed meanwhile is running: kept). The lock file goes last, still held."""

        parent: list[str | None] = [None]

        def change(doc: Doc) -> tuple[bool, bool]:
            run = doc["run"]
            parent[0] = run.get("parent_run_id")
            return run["status"] in wanted and run["updated_at"] < before, False

        def after(path: Path, doomed: bool) -> None:
            if doomed:
                path.unlink()
                self._marker(path).unlink(missing_ok=True)
                if parent[0] is not None:
                    (self._children_of(parent[0]) / path.stem).unlink(missing_ok=True)
                shutil.rmtree(self._children_of(run_id), ignore_errors=True)  # its own children index
                self._settled.discard(path.stem)
                path.with_suffix(".lock").unlink(missing_ok=True)

        try:
            return self._change(run_id, change, after)
        except (RunNotFoundError, CorruptStateError):  # deleted meanwhile, or unreadable: not this call's
            return False

    # -- schedules (see pikku.backends.file.schedules)
    async def get_schedule(self, name: str) -> ScheduleState:
        return self._schedules.read(name)

    async def advance_schedule(self, name: str, *, expected: float | None, tick: float, run_id: str | None) -> bool:
        def change(state: ScheduleState) -> bool:
            if state.last_tick != expected:
                return False
            state.last_tick = tick
            state.last_run_id = run_id if run_id is not None else state.last_run_id
            return True

        return self._schedules.change(name, change)

    async def set_schedule_paused(self, name: str, paused: bool) -> bool:
        def change(state: ScheduleState) -> bool:
            changed, state.paused = state.paused != paused, paused
            return changed

        return self._schedules.change(name, change)

    async def close(self) -> None:
        return None


def _place(doc: Doc) -> tuple[float, int]:
    """Where a run sits in list_runs order: (created_at, creation sequence)."""
    return float(doc["run"]["created_at"]), int(doc["run"].get("seq", 0))
