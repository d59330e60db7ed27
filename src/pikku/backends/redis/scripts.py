"""The Lua scripts of the Redis backend: every conditional transition is one script, so it is atomic.

Each script is a ``.lua`` file in ``lua/`` (shipped in the wheel, read with importlib.resources), run after
the shared pieces it uses (:data:`PIECES`): ``common.lua`` (clock), ``queue.lua`` (the queue's sets and
keyed jobs), ``state.lua`` (step fields, attempts, run indexes). Keys are never part of a script's text:
each script builds them from the prefix ``P`` it gets as its first argument.

Key layout, all under the URL's ``prefix`` ``P`` (see :mod:`pikku.backends.redis.connection`):

* ``P:run:<run_id>``           hash of the run (+ ``seq``, ``lock_owner``, ``lock_until``; ``parent``,
                               ``forked_from``, ``cancel_reason``, ``resumes`` only when set: a hash written
                               before them reads as no parent, no fork, no reason, no resume)
* ``P:children:<run_id>``      sorted set of a run's child run ids scored by creation sequence (list_children)
* ``P:steps:<run_id>``         one hash for all steps of a run, fields ``<step>:<field>`` (+ ``#n`` counter),
                               so ``get_steps`` is a single HGETALL
* ``P:att:<len>:<run_id>:<step>`` list of attempts, ``started[\\tended\\terror_json]``
* ``P:ev:<run_id>``            hash of the run's events: ``<seq>:name``, ``<seq>:payload``, ``<seq>:at``,
                               ``<seq>:id`` (its event_id), ``<seq>:by`` (the step that took it),
                               ``id:<event_id>`` -> seq, and the ``#n`` counter. Keyspaces from before events
                               have none: their runs have no events
* ``P:evq:<len>:<run_id>:<name>`` list of the seqs of the run's events called ``name`` that no step has
                               taken yet, oldest first
* ``P:idx``, ``P:idx:s:<status>``, ``P:idx:w:<workflow>``, ``P:idx:ws:<status>:<workflow>``
                               sorted sets of run ids scored by creation sequence (list_runs, newest first)
* ``P:idx:u:<status>``         settled runs of a status scored by their last change (delete_runs, oldest
                               first); kept with ``P:idx:s:<status>`` by settle, resume and delete. Runs settled
                               by a pikku from before it are brought in by ``index_settled.lua`` when
                               ``delete_runs`` finds the two sets' sizes differ
* ``P:r:<queue>``              ready (due, unleased) jobs, zset scored by priority; the member is the job's
                               zero-padded ``run_at:id``, so equal priorities go by (run_at, id)
* ``P:q:<queue>``              stream of delivered (leased) jobs (entry field ``j`` = job id), consumer group
                               ``pikku``: a claim appends the jobs it took and reads them at once, so the
                               group's pending list shows who holds what (XPENDING) and carries redelivery
* ``P:d:<queue>``              delayed jobs, zset scored by ``run_at``
* ``P:l:<queue>``              leased jobs, zset scored by lease deadline (``locked_until``)
* ``P:j:<id>``                 job hash: q(ueue) p(ayload) r(un_at) y (priority) a(ttempts) o(wner) u(ntil)
                               e(ntry id, while leased) m (ready-set member) k(ey, of a keyed job)
* ``P:k:<queue>``              hash key -> id of the waiting (never claimed, or released) job with that key;
                               a claim takes the job's key out, a release puts it back or merges the job
                               into the one waiting. Keyspaces from before keyed jobs have no such hash:
                               their jobs have no key and never merge
* ``P:x:<id>``                 dead job hash: q p a k (as the job's), why (the reason), t (when it died); the
                               job hash and every queue set and stream entry of it are gone
* ``P:dead``                   dead job ids, zset scored by the time they died (list_dead, newest first).
                               Keyspaces from before dead jobs have neither: they have no dead jobs
* ``P:sched:<name>``           hash of a schedule: last (its last handled tick, the text of a Python float),
                               run (the run of the latest tick that started one), paused ('1' or '0').
                               Additive: keyspaces from before schedules have none, which reads as a
                               schedule with no tick handled
* ``P:queues``, ``P:jobseq``, ``P:runseq``; pub/sub channel ``P:wake`` (payload: queue name)

Why a ready zset and not stream order: a stream is FIFO and ``XREADGROUP`` delivers only its next entries,
so picking by priority from the stream would mean scanning every undelivered entry on each claim. The zset
gives the lowest priorities in O(log n); the stream keeps only what the consumer group is good at (the
pending list of leased jobs). Streams written before priorities existed (undelivered entries on the stream)
are adopted into the ready set by the first claim that sees them.

Times are the Redis server clock (``TIME``), kept as ``%.6f`` strings (see ``common.lua``). Scripts build
their keys from ``P`` (standalone Redis; on a cluster use a ``{hash-tag}`` prefix).
"""

from __future__ import annotations

from functools import cache
from importlib import resources

#: Step hash fields (``<step>:<field>``), in the order every step-returning script reports them (the same
#: list as ``STEP_FIELDS`` in ``lua/state.lua``).
# fmt: off
STEP_FIELDS = (
    "form", "status", "rpc", "data", "result", "rtype", "error", "attempts", "max", "wake", "lowner", "luntil",
    "created", "updated", "seq",
)
# fmt: on

_QUEUE = ("common", "queue")
_STATE = ("common", "queue", "state")

#: Each script by name, as the ``.lua`` files it is made of, in order: the shared pieces, then its own.
PIECES: dict[str, tuple[str, ...]] = {
    "ENQUEUE": (*_QUEUE, "enqueue"),
    "CLAIM": (*_QUEUE, "claim"),
    "ACK": (*_QUEUE, "ack"),
    "RELEASE": (*_QUEUE, "release"),
    "EXTEND": (*_QUEUE, "extend"),
    "COUNT": (*_QUEUE, "count"),
    "NEXT_DUE": (*_QUEUE, "next_due"),
    "PRUNE_CONSUMERS": (*_QUEUE, "prune_consumers"),
    "DEAD_LETTER": (*_QUEUE, "dead_letter"),
    "LIST_DEAD": ("list_dead",),
    "RETRY_DEAD": (*_QUEUE, "retry_dead"),
    "DROP_DEAD": ("drop_dead",),
    "CREATE_RUN": (*_STATE, "create_run"),
    "SETTLE_RUN": ("common", "state", "settle_run"),
    "SUSPEND_RUN": ("common", "state", "suspend_run"),
    "LIST_RUNS": ("list_runs",),
    "LIST_CHILDREN": ("list_children",),
    "COUNT_RUNS": ("count_runs",),
    "RUN_LOCK": ("common", "state", "run_lock"),
    "LOCK_RUN": ("common", "state", "lock_run"),
    "SETTLE_STEP_TAKING": (*_STATE, "settle_step_taking"),
    "RELEASE_DISPATCHING": (*_STATE, "release_dispatching"),
    "INSERT_STEP": (*_STATE, "insert_step"),
    "MOVE_STEP": ("common", "state", "move_step"),
    "RENEW_STEP": ("common", "renew_step"),
    "SETTLE_STEP": (*_STATE, "settle_step"),
    "RUN_ATTEMPTS": ("state", "run_attempts"),
    "RESUME_RUN": ("common", "state", "resume_run"),
    "SEND_EVENT": (*_STATE, "send_event"),
    "TAKE_EVENT": ("common", "state", "take_event"),
    "DELETE_RUNS": ("state", "delete_runs"),
    "INDEX_SETTLED": ("index_settled",),
    "ADVANCE_SCHEDULE": ("advance_schedule",),
    "PAUSE_SCHEDULE": ("pause_schedule",),
}


@cache
def piece(name: str) -> str:
    """The text of ``lua/<name>.lua``."""
    return (resources.files("pikku.backends.redis") / "lua" / f"{name}.lua").read_text(encoding="utf-8")


def script(name: str) -> str:
    """The full text of the script ``name`` (a key of :data:`PIECES`): its pieces, one after another."""
    return "\n".join(piece(part) for part in PIECES[name])
