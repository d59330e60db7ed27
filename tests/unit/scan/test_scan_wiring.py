"""wire_workflow: its arguments, and resolving func= within and across modules."""

from __future__ import annotations

import pytest
from scan_support import Scan, workflow

from pikku.cli.model import Location, TypeRef
from pikku.cli.scan import FileFacts, scan_source

FLOW = """
from pikku import pikku_func, wire_workflow

@pikku_func
async def onboarding(services, data: int) -> str:
    return "ok"

async def plain_flow(services, data):
    return None
"""


def test_func_in_same_module(scan: Scan) -> None:
    """name, description, execution_mode, func, wire_module and the call's location are recorded."""
    model = scan(
        {
            "app/flows.py": FLOW
            + """
wire_workflow(name="onboarding", description="User onboarding", execution_mode="inline", func=onboarding)
""",
        }
    )
    flow = workflow(model, "onboarding")
    assert (flow.description, flow.execution_mode, flow.wire_module) == ("User onboarding", "inline", "app.flows")
    assert flow.location == Location("app/flows.py", 10, 1)
    assert (flow.func.rpc_name, flow.func.module, flow.func.qualname) == ("onboarding", "app.flows", "onboarding")
    assert flow.func.input_type == TypeRef("int")
    assert model.diagnostics == ()


def test_defaults_and_import_forms(scan: Scan) -> None:
    """execution_mode defaults to remote, description to None; ``pikku.wire_workflow`` and aliases work."""
    model = scan(
        {
            "app/flows.py": FLOW.replace(
                "from pikku import pikku_func, wire_workflow", "from pikku import pikku_func\nimport pikku"
            )
            + "from pikku import wire_workflow as ww\n"
            + 'pikku.wire_workflow(name="a", func=onboarding)\n'
            + 'flow = ww(name="b", func=onboarding)\n',
        }
    )
    assert [(w.name, w.execution_mode, w.description) for w in model.workflows] == [
        ("a", "remote", None),
        ("b", "remote", None),
    ]


def test_plain_function_meta(scan: Scan) -> None:
    """An undecorated workflow function gets a FunctionMeta whose rpc name is its own name."""
    model = scan({"app/flows.py": FLOW + 'wire_workflow(name="p", func=plain_flow)\n'})
    func = workflow(model, "p").func
    assert (func.rpc_name, func.qualname, func.is_async, func.location.line) == ("plain_flow", "plain_flow", True, 7)
    assert [f.rpc_name for f in model.functions] == ["onboarding"]


@pytest.mark.parametrize(
    "wiring",
    [
        "from app.flows import onboarding\nwire_workflow(name='w', func=onboarding)\n",
        "from .flows import onboarding as o\nwire_workflow(name='w', func=o)\n",
        "from app import flows\nwire_workflow(name='w', func=flows.onboarding)\n",
        "import app.flows\nwire_workflow(name='w', func=app.flows.onboarding)\n",
        "import app.flows as f\nwire_workflow(name='w', func=f.onboarding)\n",
    ],
)
def test_func_imported(scan: Scan, wiring: str) -> None:
    """func= may be imported absolutely, relatively, via its module, or via a module alias."""
    model = scan(
        {
            "app/__init__.py": "",
            "app/flows.py": FLOW,
            "app/wiring.py": "from pikku import wire_workflow\n" + wiring,
        }
    )
    flow = workflow(model, "w")
    assert (flow.func.module, flow.func.qualname, flow.wire_module) == ("app.flows", "onboarding", "app.wiring")
    assert model.diagnostics == ()


def test_func_reexported_through_packages(scan: Scan) -> None:
    """func= is followed through ``__init__`` re-exports, two levels deep."""
    model = scan(
        {
            "app/__init__.py": "from .workflows import onboarding\n",
            "app/workflows/__init__.py": "from app.workflows.impl import onboarding\n",
            "app/workflows/impl.py": FLOW,
            "app/wiring.py": "from pikku import wire_workflow\nfrom app import onboarding\n"
            "wire_workflow(name='w', func=onboarding)\n",
        }
    )
    assert workflow(model, "w").func.module == "app.workflows.impl"
    assert model.diagnostics == ()


def test_import_cycle_is_unresolved(scan: Scan) -> None:
    """Re-exports that loop forever end in PKU006 instead of hanging."""
    model = scan(
        {
            "app/a.py": "from app.b import f\n",
            "app/b.py": "from app.a import f\n",
            "app/w.py": "from pikku import wire_workflow\nfrom app.a import f\nwire_workflow(name='w', func=f)\n",
        }
    )
    assert [d.code for d in model.diagnostics] == ["PKU006"]
    assert model.workflows == ()


def test_workflows_sorted_by_name(scan: Scan) -> None:
    """Workflows are ordered by name regardless of file and source order."""
    model = scan(
        {
            "app/z.py": FLOW + "wire_workflow(name='a', func=onboarding)\n",
            "app/a.py": FLOW + "wire_workflow(name='c', func=onboarding)\nwire_workflow(name='b', func=onboarding)\n",
        }
    )
    assert [w.name for w in model.workflows] == ["a", "b", "c"]


def test_wire_inside_function_is_ignored(scan: Scan) -> None:
    """Only module-level wire_workflow calls count."""
    model = scan({"app/f.py": FLOW + "def setup():\n    wire_workflow(name='x', func=onboarding)\n"})
    assert model.workflows == ()


@pytest.mark.parametrize(
    ("literal", "seconds"),
    [
        ('"30s"', 30.0),
        ('"5m"', 300.0),
        ('"1h"', 3600.0),
        ('"3d"', 259200.0),
        ('"1h30m"', 5400.0),
        ('"250ms"', 0.25),
        ('"1" "h"', 3600.0),
        ("90", 90.0),
        ("1_800", 1800.0),
        ("0.5", 0.5),
        ("+10", 10.0),
    ],
)
def test_timeout_literal_in_seconds(scan: Scan, literal: str, seconds: float) -> None:
    """A literal timeout= (duration string or positive seconds) is read as parse_duration reads it."""
    model = scan({"app/flows.py": FLOW + f'wire_workflow(name="w", func=onboarding, timeout={literal})\n'})
    assert model.diagnostics == ()
    assert workflow(model, "w").timeout == seconds


def test_timeout_absent_is_none(scan: Scan) -> None:
    """Without timeout= the workflow has no run time limit."""
    model = scan({"app/flows.py": FLOW + 'wire_workflow(name="w", func=onboarding)\n'})
    assert workflow(model, "w").timeout is None


def test_timeout_survives_the_facts_cache() -> None:
    """The timeout is part of a file's facts, so a prebuild that reuses cached facts still knows it."""
    facts = scan_source("app/flows.py", (FLOW + 'wire_workflow(name="w", func=onboarding, timeout="2h")\n').encode())
    again = FileFacts.from_json(facts.to_json())
    assert [w.timeout for w in again.wires] == [7200.0]
    assert again == facts
