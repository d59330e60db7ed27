"""The renderer: model in, deterministic generated files out (no scanning involved)."""

from __future__ import annotations

import ast
import json

import pikku.wiring
from pikku.cli.model import ANY, FunctionMeta, Location, ProjectModel, StepMeta, TypeRef, WorkflowMeta
from pikku.cli.render import HEADER, queue_workers, render_project

LOC = Location("app/wf.py", 3, 1)
USER = TypeRef("app.models.User", ("app.models",))
CREATE = TypeRef("app.models.CreateUser", ("app.models",))


def _fn(rpc: str, module: str = "app.fns", inp: TypeRef = CREATE, out: TypeRef = USER) -> FunctionMeta:
    return FunctionMeta(rpc, module, rpc.replace(".", "_"), inp, out, True, LOC)


def _step(name: str, form: str = "rpc", rpc: str | None = "users.create", template: bool = False) -> StepMeta:
    return StepMeta(name, template, form, rpc if form == "rpc" else None, f"does {name}", None, LOC)  # type: ignore[arg-type]


def _model() -> ProjectModel:
    flow = _fn("onboard", "app.wf", TypeRef("app.models.In", ("app.models",)), TypeRef("app.models.Out", ("app.models",)))
    steps = (_step("create"), _step("rate", "inline"), _step("charge-{i}", template=True), _step("charge-{i}", template=True))
    wf = WorkflowMeta("onboard", "Onboard users", "remote", flow, "app.wf", steps, LOC)
    other = WorkflowMeta("a-first", None, "inline", _fn("plain", "app.plain", ANY, ANY), "app.plain", (), LOC)
    return ProjectModel(functions=(_fn("users.create"), flow), workflows=(other, wf))


def test_every_file_has_the_stable_header_and_compiles() -> None:
    """Generated Python starts with the fixed header (no timestamp) and is valid Python."""
    files = render_project(_model(), "gen")
    py = {k: v for k, v in files.items() if k.endswith(".py")}
    assert set(files) >= {"gen/workflow/map.py", "gen/workflow/types.py", "gen/workflow/workers.py",
                          "gen/workflow/wirings.py", "gen/workflow/meta.py", "gen/workflow/meta.json",
                          "gen/__init__.py"}
    for name, text in py.items():
        assert text.startswith(HEADER + "\n"), name
        compile(text, name, "exec")


def test_rendering_is_deterministic() -> None:
    """Rendering the same model twice gives byte-identical files."""
    assert render_project(_model(), "gen") == render_project(_model(), "gen")


def test_one_worker_per_rpc_step_and_one_orchestrator_per_workflow() -> None:
    """Queues: workflow-<wf>-<step> per RPC step (a template once), workflow-<wf>-orchestrator, sorted."""
    names = [q.queue for q in queue_workers(_model())]
    assert names == [
        "workflow-a-first-orchestrator",
        "workflow-onboard-charge-{i}",
        "workflow-onboard-create",
        "workflow-onboard-orchestrator",
    ]


def test_meta_json_lists_steps_in_source_order_with_locations() -> None:
    """meta.json carries each workflow's steps in order with form, rpc, description and file:line."""
    doc = json.loads(render_project(_model(), "gen")["gen/workflow/meta.json"])
    onboard = next(w for w in doc["workflows"] if w["name"] == "onboard")
    assert [s["name"] for s in onboard["steps"]] == ["create", "rate", "charge-{i}", "charge-{i}"]
    assert onboard["steps"][0]["location"] == "app/wf.py:3"
    assert onboard["steps"][1]["form"] == "inline"
    assert onboard["queues"]["orchestrator"] == "workflow-onboard-orchestrator"


def test_client_and_types_use_fully_qualified_models() -> None:
    """The typed client is parametrized by the workflow's models; do() is overloaded per rpc literal."""
    files = render_project(_model(), "gen")
    client = files["gen/workflow/map.py"]
    assert "WorkflowClient[\n            app.models.In, app.models.Out\n        ]" in client
    assert "self.a_first: WorkflowClient[" in client
    types = files["gen/workflow/types.py"]
    assert 'target: typing.Literal["users.create"]' in types
    assert ") -> app.models.User: ..." in types


def test_generated_code_imports_pikku_only_through_wiring() -> None:
    """Every generated module reaches pikku through ``pikku.wiring`` alone (its pinned ``__all__``)."""
    files = render_project(_model(), "gen")
    for name, text in files.items():
        if not name.endswith(".py"):
            continue
        tree = ast.parse(text)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "pikku":
                assert node.module == "pikku.wiring", (name, node.module)
                assert {a.name for a in node.names} <= set(pikku.wiring.__all__), name
            if isinstance(node, ast.Import):
                assert all(a.name.split(".")[0] != "pikku" for a in node.names), name


def test_no_function_registry_module_is_generated() -> None:
    """No ``functions.py``: nothing imported it (rpc.invoke finds functions registered by the wirings)."""
    files = render_project(_model(), "gen")
    assert "gen/functions.py" not in files
    assert not any("FUNCTIONS" in text for text in files.values())
