"""Workflow steps: the do/sleep calls of a wired function, in source order, with their details."""

from __future__ import annotations

import json

from scan_support import Scan, workflow

from pikku.cli.model import Location, StepMeta
from pikku.cli.render import render_project

RPCS = """
from pikku import pikku_func

@pikku_func(name="users.create")
async def create_user(services, data): ...

@pikku_func(name="email.send")
async def send_email(services, data): ...

@pikku_func(name="payments.charge")
async def charge(services, data): ...
"""

ONBOARDING = """
from pikku import pikku_func, wire_workflow

@pikku_func
async def onboarding(services, data):
    workflow = services.workflow
    user = await workflow.do("createUser", "users.create", {"email": data.email}, description="Create user account")
    tax_rate = await workflow.do(
        "calculateTaxRate", lambda: 0.2 if user.region == "EU" else 0.08, description="Calculate tax rate"
    )
    await workflow.do("sendEmail", "email.send", {"to": user.email}, description="Send welcome email")
    await workflow.sleep("5s", description="Wait for email delivery")
    for i in range(3):
        await workflow.do(f"charge-{i}", "payments.charge", {"n": i})
    return tax_rate

wire_workflow(name="onboarding", description="User onboarding workflow", func=onboarding)
"""


def _steps(scan: Scan, body: str, name: str = "w") -> tuple[StepMeta, ...]:
    model = scan({"app/rpcs.py": RPCS, "app/flow.py": body})
    return workflow(model, name).steps


def test_onboarding_steps(scan: Scan) -> None:
    """The design example yields its five steps with forms, rpc names, descriptions, durations and places."""
    model = scan({"app/rpcs.py": RPCS, "app/flow.py": ONBOARDING})
    f = "app/flow.py"
    assert workflow(model, "onboarding").steps == (
        StepMeta("createUser", False, "rpc", "users.create", "Create user account", None, Location(f, 6, 18)),
        StepMeta("calculateTaxRate", False, "inline", None, "Calculate tax rate", None, Location(f, 7, 22)),
        StepMeta("sendEmail", False, "rpc", "email.send", "Send welcome email", None, Location(f, 10, 11)),
        StepMeta("sleep:5s", False, "sleep", None, "Wait for email delivery", "5s", Location(f, 11, 11)),
        StepMeta("charge-{i}", True, "rpc", "payments.charge", None, None, Location(f, 13, 15)),
    )
    assert model.diagnostics == ()


def test_direct_services_workflow_and_other_param_name(scan: Scan) -> None:
    """``ctx.workflow.do`` works without an alias, whatever the first parameter is called."""
    steps = _steps(
        scan,
        """
        from pikku import wire_workflow

        async def flow(ctx, data):
            await ctx.workflow.do("a", "users.create", data)
            ctx.workflow.sleep("100ms")

        wire_workflow(name="w", func=flow)
        """,
    )
    assert [(s.name, s.form, s.location.line, s.location.column) for s in steps] == [
        ("a", "rpc", 4, 11),
        ("sleep:100ms", "sleep", 5, 5),
    ]


def test_aliases_and_non_workflow_calls(scan: Scan) -> None:
    """Aliases (also chained) count; other objects' do/sleep and a reassigned alias do not."""
    steps = _steps(
        scan,
        """
        import asyncio
        from pikku import wire_workflow

        async def flow(services, data):
            wf = services.workflow
            again = wf
            await again.do("one", lambda: 1)
            await asyncio.sleep(1)
            await services.other.do("x", "users.create")
            wf = services.something_else
            await wf.do("not-a-step", "users.create")

        wire_workflow(name="w", func=flow)
        """,
    )
    assert [s.name for s in steps] == ["one"]


def test_nested_blocks_and_gather(scan: Scan) -> None:
    """Steps inside if/else, async with, try, while and asyncio.gather(...) arguments keep source order."""
    steps = _steps(
        scan,
        """
        import asyncio
        from pikku import wire_workflow

        async def flow(services, data):
            workflow = services.workflow
            if data:
                await workflow.do("in-if", "users.create")
            else:
                await workflow.do("in-else", "email.send")
            async with data.lock:
                try:
                    await workflow.do("in-try", lambda: 1)
                finally:
                    await workflow.sleep("1h30m")
            await asyncio.gather(workflow.do("g1", "email.send"), workflow.do("g2", "email.send"))
            results = [workflow.do(f"c-{n}", "payments.charge") for n in data]
            while False:
                await workflow.do("loop", lambda: 2)

        wire_workflow(name="w", func=flow)
        """,
    )
    assert [(s.name, s.location.line) for s in steps] == [
        ("in-if", 7),
        ("in-else", 9),
        ("in-try", 12),
        ("sleep:1h30m", 14),
        ("g1", 15),
        ("g2", 15),
        ("c-{n}", 16),
        ("loop", 18),
    ]


def test_lambdas_and_nested_defs_are_searched(scan: Scan) -> None:
    """Steps taken in a nested def (a closure the workflow calls) or a lambda are the workflow's steps too."""
    model = scan(
        {
            "app/rpcs.py": RPCS,
            "app/flow.py": """
                from pikku import wire_workflow

                async def flow(services, data):
                    workflow = services.workflow

                    async def helper():
                        await workflow.do("hidden", "users.create")

                    await helper()
                    await workflow.do("outer", lambda: workflow.do("inner", "users.create"))

                    class Local:
                        async def run(self):
                            await workflow.sleep("1s", name="in-class")

                wire_workflow(name="w", func=flow)
            """,
        }
    )
    steps = workflow(model, "w").steps
    assert [(s.name, s.form, s.location.line) for s in steps] == [
        ("hidden", "rpc", 7),
        ("outer", "inline", 10),
        ("inner", "rpc", 10),
        ("in-class", "sleep", 14),
    ]
    queues = json.loads(render_project(model, "gen")["gen/workflow/meta.json"])["workflows"][0]["queues"]
    assert queues["steps"] == ["workflow-w-hidden", "workflow-w-inner"]
    assert model.diagnostics == ()


def test_keyword_arguments(scan: Scan) -> None:
    """``do(name=..., target=...)`` and ``sleep(duration=..., name=...)`` are read like positional ones."""
    steps = _steps(
        scan,
        """
        from pikku import wire_workflow

        async def flow(services, data):
            await services.workflow.do(name="kw", target="email.send", data=data)
            await services.workflow.sleep(duration="2m", name="pause", description="Pause")

        wire_workflow(name="w", func=flow)
        """,
    )
    assert [(s.name, s.form, s.rpc_name, s.duration, s.description) for s in steps] == [
        ("kw", "rpc", "email.send", None, None),
        ("pause", "sleep", None, "2m", "Pause"),
    ]


def test_sleep_durations(scan: Scan) -> None:
    """Sleep names come from the literal duration (numbers too); a non-literal one gives sleep:?."""
    steps = _steps(
        scan,
        """
        from pikku import wire_workflow

        async def flow(services, data):
            await services.workflow.sleep("1d")
            await services.workflow.sleep(5)
            await services.workflow.sleep(data.delay)
            await services.workflow.sleep(data.delay, name="named")

        wire_workflow(name="w", func=flow)
        """,
    )
    assert [(s.name, s.duration, s.is_template) for s in steps] == [
        ("sleep:1d", "1d", False),
        ("sleep:5", "5", False),
        ("sleep:?", None, False),
        ("named", None, False),
    ]


def test_string_forms_of_names(scan: Scan) -> None:
    """Concatenated literals are literal names; non-literal descriptions are None; f-string fields stay as written."""
    steps = _steps(
        scan,
        """
        from pikku import wire_workflow

        async def flow(services, data):
            await services.workflow.do("a" "b", "email.send", description=data.text)
            await services.workflow.do(f"item-{data.id!r}-{data.n:>3}", lambda: 1)
            await services.workflow.do("pre-{x}-" f"{data.id}", lambda: 1)

        wire_workflow(name="w", func=flow)
        """,
    )
    assert [(s.name, s.is_template, s.description) for s in steps] == [
        ("ab", False, None),
        ("item-{data.id!r}-{data.n:>3}", True, None),
        ("pre-{{x}}-{data.id}", True, None),
    ]


def test_unwired_function_has_no_workflow(scan: Scan) -> None:
    """Steps only matter for wired functions: an unwired function with bad steps reports nothing."""
    model = scan(
        {
            "app/flow.py": """
                async def flow(services, data):
                    await services.workflow.do(data.name, "nowhere")
            """
        }
    )
    assert model.workflows == ()
    assert model.diagnostics == ()


def test_sleep_fstring_name_is_a_template(scan: Scan) -> None:
    """``sleep(..., name=f"wait-{n}")`` is a template name, like an f-string do() name (no PKU002)."""
    steps = _steps(
        scan,
        """
        from pikku import wire_workflow

        async def flow(services, data):
            for n in range(2):
                await services.workflow.sleep("1s", name=f"wait-{n}")

        wire_workflow(name="w", func=flow)
        """,
    )
    assert [(s.name, s.is_template, s.form) for s in steps] == [("wait-{n}", True, "sleep")]
