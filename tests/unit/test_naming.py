"""Queue names are spelled by one function pair (pikku._naming) that generator and runtime both call."""

from __future__ import annotations

import ast
from pathlib import Path

import pikku._naming as naming
from pikku._registry import StepInfo, WorkflowDef, WorkflowInfo
from pikku.cli.model import ANY, FunctionMeta, Location, ProjectModel, StepMeta, WorkflowMeta
from pikku.cli.render import queue_workers

LOC = Location("app/wf.py", 1, 1)


def test_queue_name_rule() -> None:
    """A step's queue is workflow-<wf>-<step>; the replays' queue is workflow-<wf>-orchestrator."""
    assert naming.step_queue("onboarding", "sendEmail") == "workflow-onboarding-sendEmail"
    assert naming.orchestrator_queue("onboarding") == "workflow-onboarding-orchestrator"


def test_naming_imports_nothing_from_pikku() -> None:
    """pikku._naming stands alone, so the generator and the runtime can both import it cheaply."""
    tree = ast.parse(Path(naming.__file__).read_text(encoding="utf-8"))
    imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert [m for m in imported if m.split(".")[0] == "pikku"] == []


def test_generated_workers_and_runtime_routes_agree() -> None:
    """The queues prebuild generates are exactly those the runtime routes a workflow's steps to."""
    steps = (
        StepMeta("create", False, "rpc", "users.create", None, None, LOC),
        StepMeta("charge-{i}", True, "rpc", "pay", None, None, LOC),
    )
    func = FunctionMeta("flow", "app.wf", "flow", ANY, ANY, True, LOC)
    model = ProjectModel(workflows=(WorkflowMeta("my-flow", None, "remote", func, "app.wf", steps, LOC),))
    generated = {q.queue for q in queue_workers(model)}

    wf = WorkflowDef("my-flow", lambda services, data: None)
    infos = tuple(StepInfo(s.name, s.form, s.rpc_name, is_template=s.is_template) for s in steps)
    wf.attach_info(WorkflowInfo("my-flow", None, "remote", "flow", infos))
    routed = {wf.orchestrator_queue, wf.step_queue("create"), wf.step_queue("charge-7"), wf.step_queue("create#1")}
    assert routed == generated
