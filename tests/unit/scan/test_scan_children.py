"""Child workflow calls and compensations in the scan: call_workflow/start_workflow steps with their child
workflow, on_error and on_failure rpc names, and the diagnostics when they name nothing wired."""

from __future__ import annotations

from scan_support import Scan, codes, only, workflow

from pikku.cli.scan.extract import scan_source
from pikku.cli.scan.facts import FileFacts

FLOWS = """
from pikku import pikku_func, wire_workflow

@pikku_func(name="refund")
async def refund(services, data): ...

async def child(services, data):
    return await services.workflow.do("charge", "refund", data, on_error="refund")

async def parent(services, data):
    wf = services.workflow
    out = await wf.call_workflow("provision", "child", data, description="Provision")
    handle = await wf.start_workflow(name="kickoff", workflow="child", data=data)
    for i in range(2):
        await wf.call_workflow(f"more-{i}", "child", data)
    name = "child"
    await wf.call_workflow("dynamic", name, data)
    return out

wire_workflow(name="child", func=child)
wire_workflow(name="parent", func=parent, on_failure="refund")
"""


def test_child_calls_are_child_steps_naming_their_workflow(scan: Scan) -> None:
    """call_workflow and start_workflow become ``child`` steps in source order: name, template, child
    workflow (None when not a literal), detached for start_workflow, description."""
    model = scan({"app/flows.py": FLOWS})
    assert model.diagnostics == ()
    steps = workflow(model, "parent").steps
    assert [(s.name, s.form, s.workflow, s.detached, s.is_template) for s in steps] == [
        ("provision", "child", "child", False, False),
        ("kickoff", "child", "child", True, False),
        ("more-{i}", "child", "child", False, True),
        ("dynamic", "child", None, False, False),
    ]
    assert steps[0].description == "Provision" and steps[0].rpc_name is None


def test_compensation_rpc_names_are_recorded(scan: Scan) -> None:
    """do(..., on_error=) on the step, wire_workflow(on_failure=) on the workflow."""
    model = scan({"app/flows.py": FLOWS})
    [charge] = workflow(model, "child").steps
    assert (charge.on_error, workflow(model, "parent").on_failure, workflow(model, "child").on_failure) == (
        "refund",
        "refund",
        None,
    )


def test_an_unwired_child_workflow_is_pku025_at_the_call(scan: Scan) -> None:
    """A literal child workflow that no wire_workflow names: PKU025 at the call, listing the wired ones."""
    source = FLOWS.replace('"provision", "child"', '"provision", "chlid"')
    model = scan({"app/flows.py": source})
    found = only(model, "PKU025")
    assert "'chlid'" in found.message and "wired: child, parent" in found.message
    assert (found.location.file, found.location.line) == ("app/flows.py", 11)


def test_unknown_compensation_rpcs_are_pku004(scan: Scan) -> None:
    """on_error and on_failure are checked like step rpcs: PKU004 at the step, and at the on_failure value."""
    source = FLOWS.replace('on_error="refund"', 'on_error="refnud"').replace(
        'on_failure="refund"', 'on_failure="compensate"'
    )
    model = scan({"app/flows.py": source})
    assert [c for c in codes(model) if c[0] == "PKU004"] == [
        ("PKU004", "app/flows.py", 7, 18),
        ("PKU004", "app/flows.py", 20, 54),
    ]
    messages = " ".join(d.message for d in model.diagnostics)
    assert "'refnud' (on_error=)" in messages and "'compensate' (on_failure=)" in messages


def test_the_facts_cache_keeps_child_steps_and_compensations() -> None:
    """Facts written to the prebuild cache and read back are equal, new fields included."""
    facts = scan_source("app/flows.py", FLOWS.encode())
    assert FileFacts.from_json(facts.to_json()) == facts
    assert any(s.detached for f in facts.functions for s in f.steps)
    assert [w.on_failure for w in facts.wires] == [None, "refund"]
