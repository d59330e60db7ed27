"""Forking a run: a new run that starts from a step of an old one, keeping what came before it."""

from __future__ import annotations

import uuid
from typing import Any

from pikku._engine.compensation import is_run_compensation
from pikku._engine.jobs import orchestrate_job
from pikku._errors import InvalidInputError
from pikku._records import NewStep, StepRecord
from pikku._registry import get_workflow


async def fork(engine: Any, run_id: str, from_step: str) -> str:
    """The new run's id (its ``forked_from`` is ``run_id``). Created holding its own run lock, so no pass
    starts before the copied steps are in place; the steps before ``from_step`` (in the order first
    reached) that finished are copied as done, and the rest runs anew."""
    state = engine.state
    run = await state.get_run(run_id)
    steps = sorted((await state.get_steps(run_id)).values(), key=lambda s: (s.created_at, s.name))
    names = [s.name for s in steps]
    if from_step not in names:
        raise InvalidInputError(
            f"run {run_id!r} has no step {from_step!r}",
            hint=f"its steps, in order: {', '.join(names) or '(none)'}",
        )
    # A run's on_failure steps belong to its failure episodes, not to the new run's.
    kept = [s for s in steps[: names.index(from_step)] if s.status == "done" and not is_run_compensation(s.name)]
    wf = get_workflow(run.workflow)
    new_id = uuid.uuid4().hex
    lease = engine.settings.run_lock_lease
    await engine.transitions.create_run(
        new_id, run.workflow, run.input_json, first_job=orchestrate_job(wf, new_id, None),
        lock_owner=engine.owner, lock_lease=lease, forked_from=run_id,
    )  # fmt: skip
    for step in kept:
        await state.insert_step(_copy(new_id, step))
    await engine.transitions.release_run_lock(new_id, engine.owner)
    return new_id


def _copy(run_id: str, step: StepRecord) -> NewStep:
    return NewStep(
        run_id,
        step.name,
        step.form,
        step.rpc_name,
        step.data_json,
        "done",
        step.max_attempts,
        result_json=step.result_json,
        result_type=step.result_type,
    )


__all__ = ["fork"]
