"""The renderer: model in, deterministic generated files out (no scanning involved)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

import pikku.wiring
from pikku._config import load_config
from pikku.cli import render
from pikku.cli.model import ANY, FunctionMeta, Location, ProjectModel, StepMeta, TypeRef, WorkflowMeta
from pikku.cli.prebuild import build
from pikku.cli.render import (
    HEADER,
    UnsafeName,
    attribute_name,
    check_names,
    environment,
    py_literal,
    queue_workers,
    render_project,
)

LOC = Location("app/wf.py", 3, 1)
USER = TypeRef("app.models.User", ("app.models",))
CREATE = TypeRef("app.models.CreateUser", ("app.models",))


def _fn(rpc: str, module: str = "app.fns", inp: TypeRef = CREATE, out: TypeRef = USER) -> FunctionMeta:
    return FunctionMeta(rpc, module, rpc.replace(".", "_"), inp, out, True, LOC)


def _step(name: str, form: str = "rpc", rpc: str | None = "users.create", template: bool = False) -> StepMeta:
    return StepMeta(name, template, form, rpc if form == "rpc" else None, f"does {name}", None, LOC)  # type: ignore[arg-type]


def _model() -> ProjectModel:
    flow = _fn(
        "onboard", "app.wf", TypeRef("app.models.In", ("app.models",)), TypeRef("app.models.Out", ("app.models",))
    )
    steps = (
        _step("create"),
        _step("rate", "inline"),
        _step("charge-{i}", template=True),
        _step("charge-{i}", template=True),
    )
    wf = WorkflowMeta("onboard", "Onboard users", "remote", flow, "app.wf", steps, LOC)
    other = WorkflowMeta("a-first", None, "inline", _fn("plain", "app.plain", ANY, ANY), "app.plain", (), LOC)
    return ProjectModel(functions=(_fn("users.create"), flow), workflows=(other, wf))


def test_every_file_has_the_stable_header_and_compiles() -> None:
    """Generated Python starts with the fixed header (no timestamp) and is valid Python."""
    files = render_project(_model(), "gen")
    py = {k: v for k, v in files.items() if k.endswith(".py")}
    assert set(files) >= {
        "gen/workflow/map.py",
        "gen/workflow/types.py",
        "gen/workflow/workers.py",
        "gen/workflow/wirings.py",
        "gen/workflow/meta.py",
        "gen/workflow/meta.json",
        "gen/__init__.py",
    }
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


@pytest.mark.parametrize(
    "text",
    [
        "plain",
        'quote " and \' and """',
        "back\\slash",
        "new\nline\r\x00nul",
        "\u2028sep\x85",
        "lone \ud800 surrogate",
        "é☕𝄞",
        "{{ jinja }} {% raw %}",
    ],
)
def test_py_filter_writes_a_literal_of_exactly_the_text(text: str) -> None:
    """Data reaches generated code as one Python string literal that evaluates back to the same text."""
    literal = py_literal(text)
    assert ast.literal_eval(literal) == text
    literal.encode("utf-8")  # always writable


def test_templates_cannot_print_an_unchecked_value() -> None:
    """A ``{{ value }}`` without the py/ident/dotted/type filter stops rendering instead of writing code."""
    env = environment()
    with pytest.raises(UnsafeName):
        env.from_string("x = {{ value }}").render(value="1; import os")
    with pytest.raises(UnsafeName):
        env.from_string("import {{ value | dotted }}").render(value="os; os.system('x')")
    assert env.from_string("x = {{ value | py }}").render(value="1; import os") == 'x = "1; import os"'


@pytest.mark.parametrize(
    ("workflow", "attribute"),
    [
        ("onboarding", "onboarding"),
        ("a-first", "a_first"),
        ("order v2", "order_v2"),
        ("class", "class_"),
        ("2fa", "_2fa"),
        ("users.create", "users_create"),
        ("ﬁle", "file"),
        ("", "_"),
    ],
)
def test_workflow_names_map_to_identifiers(workflow: str, attribute: str) -> None:
    """The client attribute is an identifier Python reads as itself (NFKC), not a keyword."""
    assert attribute_name(workflow) == attribute


def test_check_names_reports_unimportable_modules_and_attribute_clashes() -> None:
    """Modules that are not dotted identifiers (PKU016) and clashing client attributes (PKU017), located."""
    bad_fn = FunctionMeta("x", "app.my-mod", "x", ANY, ANY, True, Location("app/my-mod.py", 4, 1))
    flow = _fn("flow", "app.wf", ANY, ANY)
    first = WorkflowMeta("a b", None, "remote", flow, "app.wf", (), Location("app/wf.py", 9, 1))
    second = WorkflowMeta("a_b", None, "remote", flow, "app.wf", (), Location("app/wf.py", 10, 1))
    found = check_names(ProjectModel(functions=(bad_fn, flow), workflows=(first, second)))
    assert [(d.code, str(d.location)) for d in found] == [("PKU016", "app/my-mod.py:4:1"), ("PKU017", "app/wf.py:10:1")]
    assert check_names(_model()) == []


def test_prebuild_compiles_what_it_rendered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Generated text that does not compile is a PKU019 naming the generated file and line; nothing is written."""
    (tmp_path / "pyproject.toml").write_text('[tool.pikku]\nsource = ["app"]\n')
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text("")

    def broken(model: ProjectModel, package: str) -> dict[str, str]:
        return {f"{package}/x.py": "ok = 1\ndef (:\n", f"{package}/data.json": "{"}

    monkeypatch.setattr(render, "render_project", broken)
    for use_cache in (True, False):
        model, files = build(load_config(tmp_path), use_cache=use_cache)
        assert files == {}
        assert [(d.code, str(d.location)) for d in model.diagnostics] == [("PKU019", ".pikku/pikku_gen/x.py:2:5")]


# Type expressions is_type_expression lets through, some of which CPython refuses in an annotation.
HOSTILE_TYPES = [
    "(yield)",
    "(yield from y)",
    "(await x)",
    "(x := 1)",
    "[(yield) for i in x]",
    "(i for i in (yield))",
    "[x for x in y if (z := x)]",
    "[(x := 1) for x in y]",
    "lambda x, x: 1",
    "[i async for i in x]",
    "lambda: (yield)",
    "(lambda: await x)",
    "[await i for i in x]",
    "f'{x!r:>{y}}'",
    "A[*Ts]",
    "{**a}",
    "__class__",
    "super()",
    "f(a=1, a=2)",
    "Literal[1j]",
    "-1 ** 2",
    "'a' 'b'",
]


@pytest.mark.parametrize("expr", HOSTILE_TYPES)
def test_the_signature_check_of_types_py_refuses_what_compile_refuses(expr: str) -> None:
    """types.py is checked with symtable, not compile(): on every expression both give the same verdict."""
    assert render.is_type_expression(expr)
    odd = TypeRef(expr, ())
    model = ProjectModel(functions=(_fn("users.create", inp=odd, out=odd),), workflows=())
    text = render_project(model, "gen")["gen/workflow/types.py"]
    assert f"data: {expr} | Mapping" in text

    def verdict(signatures_only: bool) -> str:
        try:
            render.check_module(text, "gen/workflow/types.py", signatures_only=signatures_only)
        except SyntaxError as exc:
            return f"{exc.msg} at {exc.lineno}"
        return "ok"

    assert verdict(signatures_only=True) == verdict(signatures_only=False)


def test_a_types_py_that_does_not_hold_is_pku019_at_its_line() -> None:
    """The signature check reports a refused annotation like compile() did: PKU019 at the generated line."""
    odd = TypeRef("(yield)", ())
    model = ProjectModel(functions=(_fn("users.create", inp=odd, out=USER),), workflows=())
    files = render_project(model, "gen")
    [problem] = render.compile_problems(files, ".pikku")
    wanted = "        data: (yield) | Mapping[str, typing.Any] | None = ...,"
    line = files["gen/workflow/types.py"].splitlines().index(wanted)
    assert (problem.code, str(problem.location)) == ("PKU019", f".pikku/gen/workflow/types.py:{line + 1}:16")
    assert "can not be used within an annotation" in problem.message
