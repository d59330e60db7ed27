"""Redis state store.

Reads are single commands or one pipelined round trip; every conditional transition (run create, settle
and suspend, run lock, step insert, claim, lease renewal, complete, fail, resume, delete, event send and
take, a schedule's compare-and-set and pause) is one Lua script, so exactly one of two racing workers
wins, and create_run/insert_step/complete/fail/send_event enqueue the hand-off job inside the same
script. Key layout and clock: :mod:`pikku.backends.redis.scripts`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, NamedTuple, cast

from pikku._errors import CorruptStateError, RunNotFoundError, StepNotFoundError
from pikku._records import (
    RUN_STATUSES,
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
    Take,
    TakenSettle,
    claim_owner,
    refuse_ack,
)
from pikku.backends._kept import lock_run_kept_by_reading
from pikku.backends.redis.connection import RedisDatabase, attempts_key
from pikku.backends.redis.queue import enqueue_args
from pikku.backends.redis.scripts import STEP_FIELDS

__all__ = ["RedisStateStore"]

_RUN_FIELDS = (
    "workflow", "status", "input", "output", "error", "created_at", "updated_at",
    "parent", "forked_from", "cancel_reason", "resumes",
)  # fmt: skip
#: The hand-off arguments of a script call that enqueues nothing (see ``enqueue_args``).
_NO_JOB = ("", "", "0", "", "")
#: How many runs one call of ``index_settled.lua`` looks at (each call is atomic, and short).
INDEX_PAGE = 1000


def _error_json(error: ErrorInfo | None) -> str:
    # ASCII-escaped JSON (here and for job payloads): text pikku encodes itself must always be storable,
    # even a message carrying a lone surrogate from surrogateescape-decoded bytes.
    return "" if error is None else json.dumps(error.to_dict())


def _error(raw: str | None, where: str) -> ErrorInfo | None:
    if not raw:
        return None
    try:
        return ErrorInfo.from_dict(json.loads(raw))
    except (ValueError, AttributeError) as exc:
        raise CorruptStateError(where, f"error is not a JSON object: {exc}") from exc


def _float(raw: str | None) -> float | None:
    return None if raw is None else float(raw)


class _RunFields(NamedTuple):
    """A run hash's fields as every script and read reports them (HMGET order, see ``_RUN_FIELDS``)."""

    workflow: str | None
    status: str
    input: str
    output: str | None
    error: str | None
    created_at: str
    updated_at: str
    #: Absent (None) in a hash written before child runs, forks and cancel reasons: read as none.
    parent: str | None = None
    forked_from: str | None = None
    cancel_reason: str | None = None
    resumes: str | None = None


def _run(run_id: str, fields: _RunFields) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        workflow=str(fields.workflow),
        status=cast(RunStatus, fields.status),
        input_json=fields.input,
        output_json=fields.output,
        error=_error(fields.error, f"redis run {run_id!r}"),
        created_at=float(fields.created_at),
        updated_at=float(fields.updated_at),
        parent_run_id=fields.parent,
        forked_from=fields.forked_from,
        cancel_reason=fields.cancel_reason,
        resumes=int(fields.resumes or 0),
    )


def _step(run_id: str, name: str, f: dict[str, Any]) -> StepRecord:
    try:
        return StepRecord(
            run_id=run_id,
            name=name,
            form=f["form"],
            status=f["status"],
            rpc_name=f.get("rpc"),
            data_json=f.get("data"),
            result_json=f.get("result"),
            result_type=f.get("rtype"),
            error=_error(f.get("error"), f"redis step {run_id!r}/{name!r}"),
            attempts=int(f["attempts"]),
            max_attempts=int(f["max"]),
            wake_at=_float(f.get("wake")),
            lease_owner=f.get("lowner"),
            lease_until=_float(f.get("luntil")),
            created_at=float(f["created"]),
            updated_at=float(f["updated"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptStateError(f"redis step {run_id!r}/{name!r}", f"missing or bad field: {exc}") from exc


def _step_fields(values: list[Any]) -> dict[str, Any]:
    """A step's fields by name from a reply in ``STEP_FIELDS`` order; absent ones (None) left out."""
    return {field: value for field, value in zip(STEP_FIELDS, values, strict=True) if value is not None}


def _step_from_list(run_id: str, name: str, values: list[Any]) -> StepRecord:
    return _step(run_id, name, _step_fields(values))


def _steps(run_id: str, raw: dict[str, Any]) -> dict[str, StepRecord]:
    """Every step of a run from its steps hash (``HGETALL``), in insertion order."""
    by_step: dict[str, dict[str, Any]] = {}
    for key, value in raw.items():
        name, sep, field = key.rpartition(":")
        if sep:  # fields without a colon (the "#n" counter) are bookkeeping
            by_step.setdefault(name, {})[field] = value
    ordered = sorted(by_step, key=lambda name: int(by_step[name].get("seq", 0)))
    return {name: _step(run_id, name, by_step[name]) for name in ordered}


#: send_event.lua's codes.
_SENT: dict[int, SendResult] = {0: "settled", 1: "stored", 2: "duplicate"}


def _events(run_id: str, raw: dict[str, Any]) -> list[EventRecord]:
    """A run's events from its events hash (``HGETALL``), in seq order (see ``send_event.lua``)."""
    by_seq: dict[int, dict[str, Any]] = {}
    for key, value in raw.items():
        seq, sep, field = key.partition(":")
        if sep and seq.isdigit():  # '#n' and 'id:<event_id>' are bookkeeping
            by_seq.setdefault(int(seq), {})[field] = value
    try:
        return [
            EventRecord(run_id, seq, f["name"], f["payload"], f.get("id"), float(f["at"]), f.get("by"))
            for seq, f in sorted(by_seq.items())
        ]
    except (KeyError, ValueError) as exc:
        raise CorruptStateError(f"redis events of run {run_id!r}", f"missing or bad field: {exc}") from exc


def _pairs(flat: list[Any]) -> dict[str, Any]:
    """HGETALL's flat reply (field, value, field, value, ...) as a dict."""
    items = iter(flat)
    return dict(zip(items, items, strict=True))


def _new_step_fields(step: NewStep) -> list[str]:
    """Field/value pairs of a new step but its status and lease (the script sets those); None values are absent."""
    values = {
        "form": step.form,
        "rpc": step.rpc_name,
        "data": step.data_json,
        "result": step.result_json,
        "rtype": step.result_type,
        "max": str(step.max_attempts),
        "wake": None if step.wake_at is None else repr(float(step.wake_at)),
    }
    return [x for k, v in values.items() if v is not None for x in (k, v)]


def _ack_args(job: Job | None) -> list[str]:
    """The arguments naming the claim a script acknowledges: id, owner, attempt ('' id: none)."""
    if job is None or job.owner is None:
        return ["", "", ""]
    return [job.id, job.owner, job.receipt if job.receipt is not None else str(job.attempts)]


def _taken_job(values: list[Any], job: Enqueue, take: Take) -> Job | None:
    """The job a script wrote claimed by ``take.owner``: its id, attempts, run_at and lease deadline."""
    job_id, attempts, run_at, until = values
    if job_id is None:
        return None
    return Job(
        id=str(job_id),
        queue=job.queue,
        payload=json.loads(json.dumps(job.payload)),  # as a claim would read it back
        attempts=int(attempts),
        run_at=float(run_at),
        lease_until=float(until),
        owner=take.owner,
        receipt=str(attempts),
    )


def _attempts(run_id: str, name: str, entries: list[str]) -> list[StepAttempt]:
    """A step's attempts from its attempt list (``started[\tended\terror_json]`` each)."""
    where = f"redis attempts {run_id!r}/{name!r}"
    attempts = []
    for n, entry in enumerate(entries, start=1):
        started, _, rest = entry.partition("\t")
        ended, _, err = rest.partition("\t")
        attempts.append(StepAttempt(n, float(started), _float(ended or None), _error(err, where)))
    return attempts


class RedisStateStore:
    """A :class:`~pikku.backends.StateStore` on Redis."""

    def __init__(self, db: RedisDatabase, *, handoff: bool = False) -> None:
        self._db = db.acquire()
        self._p = db.prefix
        self._closed = False
        self.supports_handoff = handoff
        self.supports_ack = False

    def _run_key(self, run_id: str) -> str:
        return f"{self._p}:run:{run_id}"

    def _steps_key(self, run_id: str) -> str:
        return f"{self._p}:steps:{run_id}"

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
        hand = self._handoff_args(handoff)
        lock = ["", "0"] if lock_owner is None else [lock_owner, repr(float(lock_lease))]
        origin = [parent_run_id or "", forked_from or ""]
        created = await self._db.script("CREATE_RUN", run_id, workflow, input_json, *hand, *lock, *origin)
        if created is None:
            raise ValueError(f"run {run_id!r} already exists")
        t = float(created)
        return RunRecord(
            run_id, workflow, "running", input_json, created_at=t, updated_at=t,
            parent_run_id=parent_run_id, forked_from=forked_from,
        )  # fmt: skip

    async def now(self) -> float:
        seconds, micros = await self._db.run(self._db.client.time)
        return float(seconds) + float(micros) / 1_000_000

    async def get_run(self, run_id: str) -> RunRecord:
        key = self._run_key(run_id)
        values: list[Any] = await self._db.run(lambda: self._db.client.hmget(key, _RUN_FIELDS))
        fields = _RunFields(*values)
        if fields.workflow is None:
            raise RunNotFoundError(run_id)
        return _run(run_id, fields)

    async def count_runs(self) -> dict[str, int]:
        flat = await self._db.script("COUNT_RUNS", *RUN_STATUSES)
        return {str(flat[i]): int(flat[i + 1]) for i in range(0, len(flat), 2)}

    async def list_runs(
        self,
        *,
        workflow: str | None = None,
        status: RunStatus | None = None,
        limit: int = 100,
        before: str | None = None,
    ) -> list[RunRecord]:
        if limit <= 0:
            return []
        if before is not None:
            await self.get_run(before)  # RunNotFoundError for an anchor that does not exist
        if workflow is not None and status is not None:
            index = f":ws:{status}:{workflow}"
        elif status is not None:
            index = f":s:{status}"
        elif workflow is not None:
            index = f":w:{workflow}"
        else:
            index = ""
        rows = await self._db.script("LIST_RUNS", index, limit, before or "")
        return [_run(run_id, _RunFields(*fields)) for run_id, *fields in rows]

    async def _settle(
        self, run_id: str, status: str, output: str | None, error: ErrorInfo | None, reason: str | None = None
    ) -> bool:
        code = await self._db.script("SETTLE_RUN", run_id, status, output or "", _error_json(error), reason or "")
        if code < 0:
            raise RunNotFoundError(run_id)
        return bool(code)

    async def complete_run(self, run_id: str, output_json: str) -> bool:
        return await self._settle(run_id, "completed", output_json, None)

    async def fail_run(self, run_id: str, error: ErrorInfo) -> bool:
        return await self._settle(run_id, "failed", None, error)

    async def cancel_run(self, run_id: str, reason: str | None = None) -> bool:
        return await self._settle(run_id, "cancelled", None, None, reason)

    async def list_children(self, run_id: str) -> list[RunRecord]:
        code, *rows = await self._db.script("LIST_CHILDREN", run_id)
        if code < 0:
            raise RunNotFoundError(run_id)
        return [_run(child, _RunFields(*fields)) for child, *fields in rows]

    async def suspend_run(self, run_id: str, name: str, data_json: str) -> bool:
        code = await self._db.script("SUSPEND_RUN", run_id, name, data_json)
        if code < 0:
            raise RunNotFoundError(run_id)
        return bool(code)

    # -- lock
    async def _lock(self, mode: str, run_id: str, owner: str, lease_s: float) -> bool:
        code = await self._db.script("RUN_LOCK", run_id, owner, repr(float(lease_s)), mode)
        if code < 0:
            raise RunNotFoundError(run_id)
        return bool(code)

    async def acquire_run_lock(self, run_id: str, owner: str, lease_s: float) -> bool:
        return await self._lock("acquire", run_id, owner, lease_s)

    async def lock_run(self, run_id: str, owner: str, lease_s: float) -> tuple[RunRecord, dict[str, StepRecord] | None]:
        """One script: the lock taken as :meth:`acquire_run_lock` does, the run and its steps hash read."""
        code, *fields = await self._db.script("LOCK_RUN", run_id, owner, repr(float(lease_s)))
        if code < 0:
            raise RunNotFoundError(run_id)
        if code == 0:  # settled, or another owner's live lock
            return _run(run_id, _RunFields(*fields)), None
        *fields, steps_hash = fields
        return _run(run_id, _RunFields(*fields)), _steps(run_id, _pairs(steps_hash))

    async def lock_run_kept(
        self, run_id: str, owner: str, lease_s: float, *, step_count: int, names: Sequence[str]
    ) -> tuple[RunRecord, dict[str, StepRecord] | None, bool]:
        return await lock_run_kept_by_reading(self.lock_run, run_id, owner, lease_s, step_count, names)

    async def renew_run_lock(self, run_id: str, owner: str, lease_s: float) -> bool:
        return await self._lock("renew", run_id, owner, lease_s)

    async def release_run_lock(self, run_id: str, owner: str, *, ack: Job | None = None, waiting: bool = False) -> None:
        refuse_ack(ack)
        code = await self._db.script("RUN_LOCK", run_id, owner, "0", "release", "1" if waiting else "0")
        del code  # a missing run is a no-op here, like a lock someone else holds

    # -- steps
    async def get_steps(self, run_id: str) -> dict[str, StepRecord]:
        run_key, steps_key = self._run_key(run_id), self._steps_key(run_id)

        def build(pipe: Any) -> None:
            pipe.exists(run_key)
            pipe.hgetall(steps_key)

        exists, raw = await self._db.pipeline(build)
        if not exists:
            raise RunNotFoundError(run_id)
        return _steps(run_id, raw)

    async def get_step(self, run_id: str, name: str) -> StepRecord:
        run_key, steps_key = self._run_key(run_id), self._steps_key(run_id)
        fields = [f"{name}:{f}" for f in STEP_FIELDS]

        def build(pipe: Any) -> None:
            pipe.exists(run_key)
            pipe.hmget(steps_key, fields)

        exists, values = await self._db.pipeline(build)
        if not exists:
            raise RunNotFoundError(run_id)
        step = _step_fields(values)
        if "status" not in step:
            raise StepNotFoundError(run_id, name)
        return _step(run_id, name, step)

    async def insert_step(self, step: NewStep, *, handoff: Enqueue | None = None) -> StepRecord:
        hand = self._handoff_args(handoff)
        owner = claim_owner(step)
        claim = [step.status, owner or "", repr(float(step.lease_s))]
        code, *fields = await self._db.script(
            "INSERT_STEP", step.run_id, step.name, *hand, *claim, *_new_step_fields(step)
        )
        if code < 0:
            raise RunNotFoundError(step.run_id)
        return _step_from_list(step.run_id, step.name, fields)

    def _check(self, code: int, run_id: str, name: str) -> None:
        if code == -1:
            raise RunNotFoundError(run_id)
        if code == -2:
            raise StepNotFoundError(run_id, name)

    async def mark_step_scheduled(self, run_id: str, name: str) -> bool:
        code, *_ = await self._db.script("MOVE_STEP", run_id, name, "schedule", "", "0", "")
        self._check(code, run_id, name)
        return bool(code)

    async def claim_step(
        self, run_id: str, name: str, owner: str, lease_s: float, *, form: StepForm | None = None
    ) -> StepRecord | None:
        lease = repr(float(lease_s))
        code, *fields = await self._db.script("MOVE_STEP", run_id, name, "claim", owner, lease, form or "")
        self._check(code, run_id, name)
        return _step_from_list(run_id, name, fields) if code == 1 else None

    async def renew_step_lease(self, run_id: str, name: str, owner: str, lease_s: float) -> bool:
        code = await self._db.script("RENEW_STEP", run_id, name, owner, repr(float(lease_s)))
        self._check(code, run_id, name)
        return bool(code)

    def _handoff_args(self, handoff: Enqueue | None) -> list[str]:
        """The script's hand-off arguments; TypeError (before anything is written) without a co-located queue."""
        if handoff is None:
            return ["0", *_NO_JOB]
        if not self.supports_handoff:
            raise TypeError("this store has no co-located queue; enqueue the handoff separately")
        return ["1", *enqueue_args(handoff)]

    async def _settle_step(
        self,
        run_id: str,
        name: str,
        status: str,
        error: str,
        ops: list[str],
        handoff: Enqueue | None,
        owner: str | None,
    ) -> bool:
        hand = self._handoff_args(handoff)
        guard = ["0", ""] if owner is None else ["1", owner]
        code = await self._db.script("SETTLE_STEP", run_id, name, status, error, *hand, *guard, *ops)
        self._check(code, run_id, name)
        return bool(code)

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
        ops = ["s", "result", result_json, "d", "error", ""]
        ops += ["d", "rtype", ""] if result_type is None else ["s", "rtype", result_type]
        return await self._settle_step(run_id, name, "done", "", ops, handoff, owner)

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
        err = _error_json(error)
        ops = ["s", "error", err]
        if retry_at is not None:
            ops += ["s", "wake", repr(float(retry_at))]
        status = "failed" if retry_at is None else "scheduled"
        return await self._settle_step(run_id, name, status, err, ops, handoff, owner)

    async def complete_step_taking(
        self,
        run_id: str,
        name: str,
        result_json: str,
        *,
        result_type: str | None,
        owner: str | None,
        handoff: Enqueue,
        ack: Job | None,
        take: Take,
        lock_lease: float | None = None,
    ) -> TakenSettle:
        """:meth:`complete_step`, the hand-off written claimed by ``take.owner``, ``ack`` acknowledged, and with
        ``lock_lease`` the run locked for the taker when free: one script."""
        ops = ["s", "result", result_json, "d", "error", ""]
        ops += ["d", "rtype", ""] if result_type is None else ["s", "rtype", result_type]
        guard = ["0", ""] if owner is None else ["1", owner]
        lock = "" if lock_lease is None else repr(float(lock_lease))
        reply = await self._db.script(
            "SETTLE_STEP_TAKING", run_id, name, "done", "", *enqueue_args(handoff), *guard, *_ack_args(ack),
            take.owner, repr(float(take.lease_s)), lock, *ops,
        )  # fmt: skip
        if reply[0] != 1:
            self._check(reply[0], run_id, name)
            return TakenSettle(False)
        done = TakenSettle(True, _taken_job(reply[1:5], handoff, take))
        if reply[5] == 1:
            done.run = _run(run_id, _RunFields(*reply[6:17]))
            done.step_count = int(reply[17])
            done.step = _step_from_list(run_id, name, reply[18])
        return done

    async def release_run_lock_dispatching(
        self, run_id: str, owner: str, *, ack: Job | None, waiting: bool, step: NewStep, job: Enqueue, take: Take
    ) -> tuple[StepRecord, Job | None]:
        """The step inserted claimed by ``take.owner`` with its job claimed too (unless it exists), ``ack``
        acknowledged and the lock released: one script."""
        if run_id != step.run_id:
            raise ValueError(f"step {step.name!r} of run {step.run_id!r} dispatched with the release of {run_id!r}")
        lease = repr(float(step.lease_s or take.lease_s))
        reply = await self._db.script(
            "RELEASE_DISPATCHING", run_id, step.name, *enqueue_args(job), take.owner, repr(float(take.lease_s)),
            lease, owner, "1" if waiting else "0", *_ack_args(ack), *_new_step_fields(step),
        )  # fmt: skip
        if reply[0] < 0:
            raise RunNotFoundError(run_id)
        return _step_from_list(run_id, step.name, reply[5:]), _taken_job(reply[1:5], job, take)

    async def get_attempts(self, run_id: str, name: str) -> list[StepAttempt]:
        run_key, steps_key = self._run_key(run_id), self._steps_key(run_id)
        att_key = attempts_key(self._p, run_id, name)

        def build(pipe: Any) -> None:
            pipe.exists(run_key)
            pipe.hexists(steps_key, f"{name}:status")
            pipe.lrange(att_key, 0, -1)

        run_exists, step_exists, entries = await self._db.pipeline(build)
        if not run_exists:
            raise RunNotFoundError(run_id)
        if not step_exists:
            raise StepNotFoundError(run_id, name)
        return _attempts(run_id, name, entries)

    async def get_run_attempts(self, run_id: str) -> dict[str, list[StepAttempt]]:
        """One script reads every step's attempt list (a consistent snapshot, one round trip)."""
        reply = await self._db.script("RUN_ATTEMPTS", run_id)
        if reply is None:
            raise RunNotFoundError(run_id)
        names, lists = reply[0::2], reply[1::2]
        return {name: _attempts(run_id, name, entries) for name, entries in zip(names, lists, strict=True)}

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
        hand = self._handoff_args(handoff)
        code = await self._db.script("SEND_EVENT", run_id, name, payload_json, event_id or "", *hand)
        if code < 0:
            raise RunNotFoundError(run_id)
        return _SENT[code]

    async def take_event(self, run_id: str, step: str, name: str) -> StepRecord | None:
        code, *fields = await self._db.script("TAKE_EVENT", run_id, step, name)
        self._check(code, run_id, step)
        return None if code == 2 else _step_from_list(run_id, step, fields)

    async def get_events(self, run_id: str) -> list[EventRecord]:
        run_key, events_key = self._run_key(run_id), f"{self._p}:ev:{run_id}"

        def build(pipe: Any) -> None:
            pipe.exists(run_key)
            pipe.hgetall(events_key)

        exists, raw = await self._db.pipeline(build)
        if not exists:
            raise RunNotFoundError(run_id)
        return _events(run_id, raw)

    # -- operating runs
    async def resume_run(self, run_id: str) -> bool:
        code = await self._db.script("RESUME_RUN", run_id)
        if code < 0:
            raise RunNotFoundError(run_id)
        return bool(code)

    async def delete_runs(self, *, before: float, statuses: Sequence[RunStatus], limit: int) -> list[str]:
        """One script chooses and deletes the page. Its first call also reports the statuses whose index by
        last change misses runs settled by an older pikku; those are indexed first (page by page), then
        the page is deleted without that check, so runs an older pikku settles meanwhile cannot hold it up."""
        wanted = sorted(set(statuses) & SETTLED_RUN_STATUSES)
        if not wanted or limit <= 0:
            return []
        cutoff = repr(float(before))
        code, *rest = await self._db.script("DELETE_RUNS", cutoff, limit, "1", *wanted)
        if code == 0:
            for status in rest:
                await self._index_settled(status)
            code, *rest = await self._db.script("DELETE_RUNS", cutoff, limit, "0", *wanted)
        return [str(run_id) for run_id in rest]

    async def _index_settled(self, status: str) -> None:
        after = ""
        while True:
            after = await self._db.script("INDEX_SETTLED", status, after, INDEX_PAGE)
            if not after:
                return

    # -- schedules
    async def get_schedule(self, name: str) -> ScheduleState:
        key = f"{self._p}:sched:{name}"
        values: list[Any] = await self._db.run(lambda: self._db.client.hmget(key, ["last", "run", "paused"]))
        last, run_id, paused = values
        try:
            return ScheduleState(name, _float(last), run_id, paused == "1")
        except ValueError as exc:
            raise CorruptStateError(f"redis schedule {name!r}", f"bad last tick: {exc}") from exc

    async def advance_schedule(self, name: str, *, expected: float | None, tick: float, run_id: str | None) -> bool:
        stored = "" if expected is None else repr(float(expected))
        return bool(await self._db.script("ADVANCE_SCHEDULE", name, stored, repr(float(tick)), run_id or ""))

    async def set_schedule_paused(self, name: str, paused: bool) -> bool:
        return bool(await self._db.script("PAUSE_SCHEDULE", name, "1" if paused else "0"))

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self._db.release()
