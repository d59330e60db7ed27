"""Run histories: a run's stored state as JSON (``pikku runs export``) and a replay of it against the
current code (``pikku.testing.replay``), so CI can catch a change that recorded runs would not survive,
before a deploy (Temporal's ``Replayer``).

The replay runs the workflow function through the same :class:`WorkflowContext` as a real pass, over a
host that never writes: recorded steps return their recorded values, and the history ends at the first
step it holds no result for. A recorded step the code reaches as something else, or never reaches
although the workflow returned, is a :class:`NonDeterminismError` with the engine's fields.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pikku import _serde
from pikku._engine.calls import StepCall, StepOutcome, Where
from pikku._engine.compensation import is_run_compensation
from pikku._engine.context import WorkflowContext
from pikku._errors import CorruptStateError, NonDeterminismError, WorkflowAsyncException, WorkflowCancelled
from pikku._records import ErrorInfo, RunRecord, StepAttempt, StepForm, StepRecord
from pikku._registry import WorkflowDef, get_workflow
from pikku._services import RPC, Services, call_workflow

FORMAT = "pikku-run-history"
VERSION = 1


def export_history(run: RunRecord, steps: list[StepRecord], attempts: dict[str, list[StepAttempt]]) -> dict[str, Any]:
    """The JSON-ready history of one run: the run, its steps in order, each with its attempts."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "run": dataclasses.asdict(run),
        "steps": [
            {**dataclasses.asdict(s), "attempt_log": [dataclasses.asdict(a) for a in attempts.get(s.name, [])]}
            for s in steps
        ],
    }


def parse_history(history: dict[str, Any]) -> tuple[RunRecord, dict[str, StepRecord]]:
    """The run and its steps from :func:`export_history` output; CorruptStateError if it is not one."""
    if not isinstance(history, dict) or history.get("format") != FORMAT or history.get("version") != VERSION:
        raise CorruptStateError("the history document", f"not a {FORMAT} version {VERSION} (from `pikku runs export`)")
    try:
        run = _record(RunRecord, history["run"])
        steps = {s.name: s for s in (_record(StepRecord, raw) for raw in history["steps"])}
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptStateError("the history document", f"a field is missing or malformed: {exc}") from exc
    return run, steps


def _record(cls: type[Any], raw: dict[str, Any]) -> Any:
    fields = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in raw.items() if k in fields}
    if values.get("error") is not None:
        values["error"] = ErrorInfo.from_dict(values["error"])
    return cls(**values)


class _HistoryEnds(WorkflowAsyncException):
    """The replay reached a step the history holds no result for: everything before it matched."""


class _ReadOnlyHost:
    """A StepHost over a history: nothing runs and nothing is written.

    Reaching a step the history does not hold ends the replay -- unless recorded steps remain that this
    replay has not reached: then the code inserted a step ahead of them, which old runs would run.
    """

    def __init__(self, run: RunRecord, steps: dict[str, StepRecord]) -> None:
        self._run_id = run.run_id
        self._recorded = frozenset(steps)
        self.ctx: WorkflowContext | None = None

    def _end(self, name: str, what: str) -> BaseException:
        reached = self.ctx.reached_names if self.ctx is not None else frozenset()
        ahead = sorted(self._recorded - reached - {name})
        if name not in self._recorded and ahead:
            return NonDeterminismError(self._run_id, name, f"no step here (recorded {ahead[0]!r} comes next)", what)
        return _HistoryEnds(self._run_id, f"the history ends at {name!r}")

    def max_attempts(self, wf: WorkflowDef, retries: int | None) -> int:
        return 1

    async def run_step(self, call: StepCall, rec: StepRecord | None, where: Where) -> StepOutcome:
        raise self._end(call.name, _what(call.form, call.rpc_name))

    async def dispatch_step(self, call: StepCall, *, alone: bool = False) -> StepRecord:
        raise self._end(call.name, _what(call.form, call.rpc_name))

    async def requeue_step(self, call: StepCall) -> None:
        raise self._end(call.name, _what(call.form, call.rpc_name))

    async def begin_timer(
        self, run_id: str, name: str, wake_at: float | None, *, form: StepForm = "sleep", data_json: str | None = None
    ) -> StepRecord:
        raise self._end(name, f"a {form} step")

    async def end_timer(self, run_id: str, name: str) -> None:
        raise _HistoryEnds(self._run_id, f"the history ends during the timer of {name!r}")

    async def take_event(self, run_id: str, name: str, event: str) -> StepRecord | None:
        raise _HistoryEnds(self._run_id, f"the history ends while {name!r} waits for event {event!r}")

    async def suspend_run(self, run_id: str, name: str, data_json: str) -> bool:
        raise self._end(name, "a suspend step")

    async def run_is_live(self, run_id: str) -> bool:
        return True

    async def store_now(self) -> float:
        return float("inf")  # a replay stands after every time its history recorded

    async def record_marker(self, run_id: str, name: str) -> StepRecord:
        raise _HistoryEnds(self._run_id, f"the history ends before marker {name!r}")

    async def start_child(self, run: RunRecord, name: str, workflow: str, data: Any, detached: bool) -> StepRecord:
        raise self._end(name, f"a child step running workflow {workflow!r}")

    async def child_outcome(self, run_id: str, name: str, retry: bool) -> StepRecord | None:
        raise _HistoryEnds(self._run_id, f"the history ends while child step {name!r} runs")


def _what(form: str, rpc_name: str | None) -> str:
    return f"an {form} step" + (f" calling {rpc_name!r}" if rpc_name else "")


async def replay_history(history: dict[str, Any], *, services: Any = None) -> None:
    """Replay a run's history against the workflow code registered in this process.

    Returns when the code agrees with everything recorded; raises NonDeterminismError naming the run, the
    step, what was recorded and what the code does now.
    """
    run, steps = parse_history(history)
    wf = get_workflow(run.workflow)
    host = _ReadOnlyHost(run, steps)
    ctx = host.ctx = WorkflowContext(host, wf, run, dict(steps), None)
    data = _serde.decode(run.input_json, wf.function.input_type)
    try:
        await call_workflow(wf.func, Services(services, rpc=RPC(services), workflow=ctx), data, wf.function.takes_data)
    except NonDeterminismError:
        raise
    except WorkflowAsyncException:
        return  # the history ends at a step not finished yet; all before it matched
    except WorkflowCancelled:
        if run.status != "cancelled":  # the recorded run did not cancel itself: the code now does
            raise
        return
    except Exception:
        if run.status != "failed":  # the recorded run did not fail here: the code now does something else
            raise
        return
    # A run's on_failure steps are reached on a failure path only: a run resumed since completes without them.
    unreached = [name for name in steps if name not in ctx.reached_names and not is_run_compensation(name)]
    if unreached:
        first = steps[unreached[0]]
        recorded = _what(first.form, first.rpc_name)
        raise NonDeterminismError(run.run_id, first.name, recorded, "nothing: the workflow returned before it")


__all__ = ["export_history", "parse_history", "replay_history"]
