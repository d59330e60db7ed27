"""wire_schedule in source: read through any import form, checked at its place, kept through the facts cache."""

from __future__ import annotations

from scan_support import Scan, codes, only

from pikku.cli.model import Location, ScheduleMeta
from pikku.cli.scan import FileFacts, scan_source

FLOW = """
from pikku import wire_workflow

async def report(services, data: dict) -> str:
    return "ok"

wire_workflow(name="report", func=report)
"""


def test_a_schedule_in_its_own_module_is_in_the_model(scan: Scan) -> None:
    """Every argument but input=, the module (the wirings import it) and the call's place; defaults filled."""
    model = scan(
        {
            "app/flows.py": FLOW,
            "app/timers.py": """
            import pikku as p

            p.wire_schedule(name="nightly", cron="0 3 * * *", workflow="report", input={"day": 1})
            """,
        }
    )
    assert model.diagnostics == ()
    assert model.schedules == (
        ScheduleMeta(
            "nightly",
            "0 3 * * *",
            "report",
            "UTC",
            "latest",
            "skip",
            None,
            "app.timers",
            Location("app/timers.py", 3, 1),
        ),
    )


def test_an_aliased_import_is_recognised_and_checked(scan: Scan) -> None:
    """``from pikku import wire_schedule as every``: still read, and its bad cron is PKU034 at the literal."""
    model = scan(
        {
            "app/flows.py": FLOW
            + """
from pikku import wire_schedule as every
every(name="x", cron="0 25 * * *", workflow="report")
""",
        }
    )
    found = only(model, "PKU034")
    assert found.location == Location("app/flows.py", 9, 22)
    assert "'0 25 * * *'" in found.message and model.schedules == ()


def test_a_function_named_wire_schedule_of_another_library_is_not_read(scan: Scan) -> None:
    """Only pikku's wire_schedule counts: a call of someone else's reports nothing."""
    model = scan({"app/flows.py": FLOW + "from cron import wire_schedule\nwire_schedule(name=1)\n"})
    assert codes(model) == [] and model.schedules == ()


def test_an_unknown_workflow_is_reported_where_it_is_named(scan: Scan) -> None:
    """PKU036 points at the workflow= argument and lists the wired workflows."""
    model = scan(
        {
            "app/flows.py": FLOW
            + 'from pikku import wire_schedule\nwire_schedule(name="n", cron="@daily", workflow="reprot")\n'
        }
    )
    found = only(model, "PKU036")
    assert found.location == Location("app/flows.py", 8, 49)
    assert "'reprot'" in found.message and "'report'" in found.message


def test_schedule_facts_round_trip_through_the_cache_format() -> None:
    """A file's schedule facts survive to_json/from_json unchanged (the prebuild cache stores them)."""
    call = 'wire_schedule(name="n", cron="@daily", workflow="report", timezone="Europe/Helsinki", overlap="allow")'
    source = FLOW + f"from pikku import wire_schedule\n{call}\n"
    facts = scan_source("app/flows.py", source.encode())
    assert len(facts.schedules) == 1
    assert FileFacts.from_json(facts.to_json()) == facts
