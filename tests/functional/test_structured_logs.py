"""Log records written inside a pass or a step carry run_id, workflow, step and attempt (every backend)."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from pikku import pikku_func, wire_workflow
from pikku._logcontext import JsonFormatter
from pikku._runtime import Runtime
from pikku.testing import settle
from pikku.wiring import WorkflowClient


@pikku_func(name="log.flaky")
async def flaky(services: Any, data: None) -> str:
    services.logger.info("charging, attempt %s", services.step.attempt)
    if services.step.attempt == 1:
        raise ConnectionError("gateway timeout")
    return "ok"


async def logging_wf(services: Any, data: None) -> str:
    services.logger.info("in the pass")
    return str(await services.workflow.do("charge", "log.flaky", retries=1, retry_delay=0.01))


wire_workflow(name="log-wf", func=logging_wf)


async def test_records_carry_the_run_fields(rt: Runtime, caplog: pytest.LogCaptureFixture) -> None:
    """services.logger in a pass and in each attempt of a step: the fields are record attributes."""
    with caplog.at_level(logging.INFO, logger="pikku"):
        handle = await WorkflowClient("log-wf").start(None)
        await settle(rt, [handle.run_id])
    assert await handle.result(timeout=1) == "ok"
    ours = [r for r in caplog.records if r.name == "pikku.app"]
    in_pass = [r for r in ours if r.getMessage() == "in the pass"]
    in_step = [r for r in ours if r.getMessage().startswith("charging")]
    assert in_pass and all((r.run_id, r.workflow, r.step) == (handle.run_id, "log-wf", None) for r in in_pass)  # type: ignore[attr-defined]
    assert [(r.step, r.attempt) for r in in_step] == [("charge", 1), ("charge", 2)]  # type: ignore[attr-defined]
    assert all(r.run_id == handle.run_id for r in in_step)  # type: ignore[attr-defined]


def test_records_outside_a_run_have_no_run_fields() -> None:
    """Outside a pass or a step nothing is added (no stale fields from an earlier run)."""
    from pikku._services import logger

    record = logger.makeRecord("pikku.app", logging.INFO, __file__, 1, "idle", (), None)
    logger.filter(record)
    assert not hasattr(record, "run_id")


def test_the_json_formatter_prints_one_object_with_the_fields() -> None:
    """--log-format json: one JSON object per record with the run fields and the exception text."""
    record = logging.LogRecord("pikku.engine", logging.WARNING, __file__, 1, "step %s lost", ("a",), None)
    record.run_id, record.workflow, record.step, record.attempt = "r1", "wf", "a", 2
    out = json.loads(JsonFormatter().format(record))
    assert out["message"] == "step a lost" and out["level"] == "WARNING"
    assert (out["run_id"], out["workflow"], out["step"], out["attempt"]) == ("r1", "wf", "a", 2)
