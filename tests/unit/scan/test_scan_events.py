"""Waits and suspends in a workflow body: their steps, the workflow's events with their models, the
static sends checked against them, and the cache's round trip of what is new."""

from __future__ import annotations

from pathlib import Path

from scan_support import Scan, codes, only, workflow

from pikku.cli.model import EventMeta, Location, SendMeta, TypeRef
from pikku.cli.scan.extract import scan_source
from pikku.cli.scan.facts import FileFacts

FLOW = """
from pikku import wire_workflow
from app import models
from app.models import Approval

async def flow(services, data):
    wf = services.workflow
    await wf.suspend("hold", name="hold-1")
    await wf.suspend(f"hold {data}")
    first = await wf.wait_for_event("approval", Approval, timeout="3d", description="Manager")
    second = await wf.wait_for_event(event="approval", model=Approval)
    docs = await wf.wait_for_event("docs", models.Docs, name=f"docs-{data}")
    unknown = await wf.wait_for_event("note", NotImported)

wire_workflow(name="w", func=flow)
"""
MODELS = """
from pydantic import BaseModel

class Approval(BaseModel):
    ok: bool

class Docs(BaseModel):
    pages: int
"""


def test_waits_and_suspends_are_steps_named_as_the_runtime_names_them(scan: Scan) -> None:
    """Each wait is an ``event`` step (``event:<name>`` unless named; its timeout as duration, its event and
    model); each suspend a ``suspend`` step (``suspend`` unless named); repeats are not duplicates."""
    model = scan({"app/models.py": MODELS, "app/flow.py": FLOW})
    steps = workflow(model, "w").steps
    assert [(s.name, s.form, s.is_template, s.event, s.duration) for s in steps] == [
        ("hold-1", "suspend", False, None, None),
        ("suspend", "suspend", False, None, None),
        ("event:approval", "event", False, "approval", "3d"),
        ("event:approval", "event", False, "approval", None),
        ("docs-{data}", "event", True, "docs", None),
        ("event:note", "event", False, "note", None),
    ]
    assert steps[2].description == "Manager"
    assert steps[2].model == TypeRef("app.models.Approval", ("app.models",))
    assert steps[4].model == TypeRef("app.models.Docs", ("app",))  # the submodule is added by the link phase
    assert codes(model) == [("PKU012", "app/flow.py", 12, 47)]  # NotImported: typed Any, a warning


def test_the_workflow_lists_each_event_once_with_its_model(scan: Scan) -> None:
    """WorkflowMeta.events: sorted by name, the first wait's place, Any for a model that cannot be resolved."""
    events = workflow(scan({"app/models.py": MODELS, "app/flow.py": FLOW}), "w").events
    assert events == (
        EventMeta("approval", TypeRef("app.models.Approval", ("app.models",)), Location("app/flow.py", 9, 19)),
        EventMeta("docs", TypeRef("app.models.Docs", ("app", "app.models")), Location("app/flow.py", 11, 18)),
        EventMeta("note", TypeRef("typing.Any", ("typing",)), Location("app/flow.py", 12, 21)),
    )


def test_a_static_send_of_an_event_the_workflow_never_waits_for_is_pku031(scan: Scan) -> None:
    """Only literal event names on the generated client's workflows are checked; a dynamic one, another
    object's send_event and an unknown client attribute are left to the runtime and the type checker."""
    sender = """
    from gen.workflow.map import workflows
    from app.other import thing

    async def send(run_id, name):
        await workflows.w.send_event(run_id, "approval", {})
        await workflows.w.send_event(run_id, "aproval", {})
        await workflows.w.send_event(run_id, name, {})
        await thing.w.send_event(run_id, "zzz", {})
        await workflows.unknown.send_event(run_id, "zzz", {})
    """
    model = scan({"app/models.py": MODELS, "app/flow.py": FLOW, "app/send.py": sender})
    found = only(model, "PKU031")
    assert (found.location.file, found.location.line) == ("app/send.py", 6)
    assert "'aproval'" in found.message and "'approval', 'docs', 'note'" in found.message


def test_new_facts_survive_the_cache(tmp_path: Path) -> None:
    """A file's facts with waits and static sends read back equal from their JSON (FACTS_VERSION 3)."""
    send = "from gen.workflow.map import workflows\nasync def s(r): await workflows.w.send_event(r, 'x', 1)\n"
    source = FLOW + "\n" + send
    facts = scan_source("app/flow.py", source.encode())
    assert facts.sends == (SendMeta("w", "x", facts.sends[0].location),)
    assert next(s.model for s in facts.functions[0].steps if s.form == "event") is not None
    assert FileFacts.from_json(facts.to_json()) == facts
