"""Every diagnostic code: when it fires, its level, its exact location, and what its message names."""

from __future__ import annotations

from pathlib import Path

import pytest
from scan_support import Scan, codes, only, workflow

from pikku.cli.model import Location

RPC = 'from pikku import pikku_func\n\n@pikku_func(name="known")\nasync def known(services, data): ...\n'


def _flow(body: str, wiring: str = 'wire_workflow(name="w", func=flow)') -> str:
    """A workflow module: imports on lines 1-2, ``def flow`` on line 4, ``body`` from line 5."""
    lines = "".join(f"    {line}\n" for line in body.splitlines())
    return f"from pikku import wire_workflow\n\n\nasync def flow(services, data):\n{lines}\n{wiring}\n"


def test_pku001_syntax_error_located(scan: Scan) -> None:
    """PKU001 is at the line/column libcst reports, with the parser's message and no traceback."""
    model = scan({"app/bad.py": "x = 1\n  y = 2\n"})
    error = only(model, "PKU001")
    assert (error.level, error.location) == ("error", Location("app/bad.py", 2, 1))
    assert "parser error" in error.message
    assert "Traceback" not in error.message


def test_pku001_undecodable_file(scan: Scan, tmp_path: Path) -> None:
    """Bytes that are not valid source text are PKU001 too, not a crash, at the first bad byte."""
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "bin.py").write_bytes(b"x = '\xff\xfe'\n")
    model = scan({})
    assert codes(model) == [("PKU001", "app/bin.py", 1, 6)]


@pytest.mark.parametrize(
    ("source", "place", "detail"),
    [
        (b"x = 1\ny = 2\nz = 'caf\xe9'\n", (3, 9), "byte 0xE9 on line 3"),
        (b"\xef\xbb\xbfx = '\xe9'\n", (1, 6), "byte 0xE9 on line 1"),
        (b"# -*- coding: ascii -*-\nx = 1\ns = '\xe9'\n", (3, 6), "not valid ascii"),
        (b"#!/usr/bin/env python\n# coding: nonesuch\n", (2, 1), "unknown encoding: nonesuch"),
    ],
)
def test_pku001_points_at_the_undecodable_byte(
    scan: Scan, tmp_path: Path, source: bytes, place: tuple[int, int], detail: str
) -> None:
    """A non-UTF-8 (or wrongly declared) file is PKU001 at the offending line and column, saying how to fix it."""
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "enc.py").write_bytes(source)
    error = only(scan({}), "PKU001")
    assert (error.location.line, error.location.column) == place
    assert detail in error.message
    assert "save the file as UTF-8" in error.hint


@pytest.mark.parametrize(
    ("line", "place"),
    [
        ('    await services.workflow.do("\\N{NO SUCH NAME}", lambda: 1)', (5, 32)),
        ('    await services.workflow.do("a" "\\x4", lambda: 1)', (5, 32)),
        ("    await services.workflow.sleep(1, description='\\N{X}')", (5, 50)),
    ],
)
def test_pku001_literal_python_would_reject(scan: Scan, line: str, place: tuple[int, int]) -> None:
    """A string libcst parses but Python's compiler refuses (bad escape): PKU001 at the literal, no traceback."""
    head = "from pikku import wire_workflow\n\n\nasync def flow(services, data):\n"
    source = f"{head}{line}\n\nwire_workflow(name='w', func=flow)\n"
    error = only(scan({"app/f.py": source}), "PKU001")
    assert (error.location.line, error.location.column) == place
    assert "is invalid: (unicode error)" in error.message


def test_pku002_step_name_not_literal(scan: Scan) -> None:
    """PKU002 is at the non-literal name argument (or the call when there is no name at all)."""
    model = scan(
        {
            "app/rpc.py": RPC,
            "app/f.py": _flow('name = "x"\nawait services.workflow.do(name, "known")\nawait services.workflow.do()'),
        }
    )
    assert codes(model) == [("PKU002", "app/f.py", 6, 32), ("PKU002", "app/f.py", 7, 11)]
    assert "name" in model.diagnostics[0].message


def test_pku003_duplicate_step_name(scan: Scan) -> None:
    """PKU003 is at the second use and names both lines; templates and sleeps are exempt."""
    body = (
        'await services.workflow.do("a", "known")\n'
        'await services.workflow.do(f"t-{data}", "known")\n'
        'await services.workflow.do(f"t-{data}", "known")\n'
        'await services.workflow.sleep("1s")\n'
        'await services.workflow.sleep("1s")\n'
        'await services.workflow.do("a", lambda: 1)'
    )
    model = scan({"app/rpc.py": RPC, "app/f.py": _flow(body)})
    error = only(model, "PKU003")
    assert error.location == Location("app/f.py", 10, 11)
    assert "'a'" in error.message
    assert "lines 5 and 10" in error.message


def test_pku004_unknown_rpc(scan: Scan) -> None:
    """PKU004 is at the step that names an rpc no @pikku_func defines, and names that rpc."""
    model = scan({"app/rpc.py": RPC, "app/f.py": _flow('await services.workflow.do("s", "unknown.rpc")')})
    error = only(model, "PKU004")
    assert error.location == Location("app/f.py", 5, 11)
    assert "unknown.rpc" in error.message


def test_pku005_workflow_name(scan: Scan) -> None:
    """PKU005 is at the non-literal name, or at the call when name= is missing."""
    model = scan(
        {"app/f.py": _flow("pass", 'NAME = "w"\nwire_workflow(name=NAME, func=flow)\nwire_workflow(func=flow)')}
    )
    assert codes(model) == [("PKU005", "app/f.py", 8, 20), ("PKU005", "app/f.py", 9, 1)]
    assert model.workflows == ()


def test_pku006_func_unresolved(scan: Scan) -> None:
    """PKU006: missing func= (at the call), an unknown name, a lambda, an import leading nowhere (at func=)."""
    wiring = "\n".join(
        [
            "from app.elsewhere import gone",
            'wire_workflow(name="a")',
            'wire_workflow(name="b", func=missing)',
            'wire_workflow(name="c", func=lambda s, d: None)',
            'wire_workflow(name="d", func=gone)',
        ]
    )
    model = scan({"app/f.py": _flow("pass", wiring), "app/elsewhere.py": "gone = 1\n"})
    assert codes(model) == [
        ("PKU006", "app/f.py", 8, 1),
        ("PKU006", "app/f.py", 9, 30),
        ("PKU006", "app/f.py", 10, 30),
        ("PKU006", "app/f.py", 11, 30),
    ]
    assert "app.elsewhere.gone" in model.diagnostics[-1].message
    assert model.workflows == ()


def test_pku007_duplicate_workflow(scan: Scan) -> None:
    """PKU007 is at the second wire_workflow of a name (in file order) and names the first's location."""
    model = scan(
        {
            "app/a.py": _flow("pass"),
            "app/b.py": _flow("pass"),
        }
    )
    error = only(model, "PKU007")
    assert error.location == Location("app/b.py", 7, 1)
    assert "app/a.py:7:1" in error.message
    assert [w.wire_module for w in model.workflows] == ["app.a"]


def test_pku008_duplicate_rpc(scan: Scan) -> None:
    """PKU008 is at the second @pikku_func of an rpc name and names the first."""
    model = scan({"app/a.py": RPC, "app/b.py": RPC.replace("def known", "def other")})
    error = only(model, "PKU008")
    assert error.location == Location("app/b.py", 4, 1)
    assert "'known'" in error.message
    assert "app.a.known" in error.message
    assert [f.module for f in model.functions] == ["app.a"]


def test_pku009_execution_mode(scan: Scan) -> None:
    """PKU009 is at an execution_mode that is not the literal "remote" or "inline"."""
    wiring = (
        'wire_workflow(name="w", func=flow, execution_mode="local")\n'
        'wire_workflow(name="v", func=flow, execution_mode=MODE)'
    )
    model = scan({"app/f.py": _flow("pass", wiring)})
    assert codes(model) == [("PKU009", "app/f.py", 7, 51), ("PKU009", "app/f.py", 8, 51)]
    assert "'local'" in model.diagnostics[0].message


def test_pku010_bad_duration(scan: Scan) -> None:
    """PKU010 is at an invalid literal sleep duration; valid ones and non-literals pass."""
    body = (
        'await services.workflow.sleep("5 parsecs")\n'
        'await services.workflow.sleep("100ms")\n'
        "await services.workflow.sleep(data.t)"
    )
    model = scan({"app/f.py": _flow(body)})
    assert codes(model) == [("PKU010", "app/f.py", 5, 35)]
    assert "5 parsecs" in model.diagnostics[0].message


def test_pku011_rpc_name_not_literal(scan: Scan) -> None:
    """PKU011 is at the non-literal name= of @pikku_func; that function is left out of the model."""
    model = scan({"app/f.py": 'from pikku import pikku_func\nNAME = "x"\n@pikku_func(name=NAME)\ndef f(s, d): ...\n'})
    assert codes(model) == [("PKU011", "app/f.py", 3, 18)]
    assert model.functions == ()


def test_pku012_is_a_warning(scan: Scan) -> None:
    """PKU012 alone does not make the model fail (the type becomes Any)."""
    model = scan({"app/f.py": "from pikku import pikku_func\n@pikku_func\ndef f(s, d: Nope): ...\n"})
    assert codes(model) == [("PKU012", "app/f.py", 3, 13)]
    assert not model.has_errors


def test_pku002_sleep_name_not_literal(scan: Scan) -> None:
    """A non-literal sleep name= is PKU002 (prebuild cannot know it); a non-literal duration stays "sleep:?"."""
    body = 'await services.workflow.sleep("1s", name=data.label)\nawait services.workflow.sleep(data.t)'
    model = scan({"app/f.py": _flow(body)})
    assert codes(model) == [("PKU002", "app/f.py", 5, 46)]
    assert "data.label" in model.diagnostics[0].message
    assert [s.name for s in model.workflows[0].steps] == ["sleep:?"]


def test_pku013_hash_in_step_name(scan: Scan) -> None:
    """PKU013 at a literal or f-string step name (or sleep name=) whose text holds '#'; '#' in a field is fine."""
    body = (
        'await services.workflow.do("a#1", "known")\n'
        'await services.workflow.do(f"b#{data}", "known")\n'
        'await services.workflow.sleep("1s", name="c#")\n'
        'await services.workflow.do(f"d-{data[\'#\']}", "known")\n'
        'await services.workflow.do("plain", "known")'
    )
    model = scan({"app/rpc.py": RPC, "app/f.py": _flow(body)})
    assert codes(model) == [("PKU013", "app/f.py", 5, 32), ("PKU013", "app/f.py", 6, 32), ("PKU013", "app/f.py", 7, 46)]
    assert "'#'" in model.diagnostics[0].message and "name#1" in model.diagnostics[0].message


def test_pku014_wire_workflow_not_at_module_level(scan: Scan) -> None:
    """PKU014 at each wire_workflow call in a block, function, class or expression; module-level ones count."""
    wiring = "\n".join(
        [
            'wire_workflow(name="top", func=flow)',
            'flow_def = wire_workflow(name="assigned", func=flow)',
            "if True:",
            '    wire_workflow(name="in-if", func=flow)',
            "try:",
            '    wire_workflow(name="in-try", func=flow)',
            "except Exception:",
            "    pass",
            "for n in range(2):",
            '    wire_workflow(name=f"loop-{n}", func=flow)',
            "def setup():",
            '    wire_workflow(name="in-def", func=flow)',
            'flows = [wire_workflow(name="in-list", func=flow)]',
            'later = lambda: wire_workflow(name="in-lambda", func=flow)',
        ]
    )
    model = scan({"app/f.py": _flow("pass", wiring)})
    assert codes(model) == [("PKU014", "app/f.py", line, col) for line, col in
                            [(10, 5), (12, 5), (16, 5), (18, 5), (19, 10), (20, 17)]]  # fmt: skip
    messages = [d.message for d in model.diagnostics]
    assert "inside an if block" in messages[0] and "inside the body of function setup" in messages[3]
    assert [w.name for w in model.workflows] == ["assigned", "top"]


def test_pku014_not_reported_without_pikku(scan: Scan) -> None:
    """Another library's wire_workflow inside a function is not pikku's and not reported."""
    model = scan({"app/f.py": "from other import wire_workflow\n\ndef f():\n    wire_workflow(name='x')\n"})
    assert model.diagnostics == ()


def test_pku015_unawaited_step(scan: Scan) -> None:
    """PKU015 at a do/sleep call standing alone; gathered, task-wrapped, assigned or returned calls are fine."""
    body = (
        'services.workflow.do("a", "known")\n'
        "wf = services.workflow\n"
        'wf.sleep("1s")\n'
        'task = asyncio.create_task(wf.do("b", "known"))\n'
        'await asyncio.gather(wf.do("c", "known"), wf.do("d", "known"))\n'
        'pending = wf.do("e", "known")\n'
        "await task; await pending\n"
        "async def later():\n"
        '    wf.do("f", "known")\n'
        'return wf.do("g", "known")'
    )
    model = scan({"app/rpc.py": RPC, "app/f.py": _flow(body)})
    assert codes(model) == [("PKU015", "app/f.py", 5, 5), ("PKU015", "app/f.py", 7, 5), ("PKU015", "app/f.py", 13, 9)]
    assert "workflow.sleep(...) in flow is not awaited" in model.diagnostics[1].message


def test_diagnostics_of_wired_plain_function(scan: Scan) -> None:
    """A wired undecorated function's unresolvable annotations are reported (once, even if wired twice)."""
    wiring = 'wire_workflow(name="a", func=flow)\nwire_workflow(name="b", func=flow)'
    source = _flow("pass", wiring).replace("data):", "data: Nope):")
    model = scan({"app/f.py": source})
    assert codes(model) == [("PKU012", "app/f.py", 4, 32)]


def test_diagnostics_sorted(scan: Scan) -> None:
    """Diagnostics are ordered by file, line, column, then code."""
    model = scan(
        {
            "app/b.py": "x = (\n",
            "app/a.py": _flow('await services.workflow.do(x, "nowhere")\nawait services.workflow.do("y", "nowhere")'),
        }
    )
    assert codes(model) == [
        ("PKU002", "app/a.py", 5, 32),
        ("PKU004", "app/a.py", 6, 11),
        ("PKU001", "app/b.py", 1, 1),
    ]


@pytest.mark.parametrize(
    ("literal", "why"),
    [
        ('"1 hour"', "it is not a duration"),
        ('"5x"', "it is not a duration"),
        ('"-1h"', "it is not a duration"),
        ('""', "it is not a duration"),
        ('"0s"', "more than 0 seconds"),
        ("0", "more than 0 seconds"),
        ("0.0", "more than 0 seconds"),
        ("-5", "more than 0 seconds"),
        ("-1.5", "more than 0 seconds"),
        ("1e999", "not a finite number"),
        ('"' + "9" * 400 + 'd"', "not a finite number"),
        ("True", "neither a duration string nor a number of seconds"),
        ('b"1h"', "neither a duration string nor a number of seconds"),
        ("2j", "neither a duration string nor a number of seconds"),
    ],
)
def test_pku024_bad_timeout_literal(scan: Scan, literal: str, why: str) -> None:
    """PKU024 is at a literal timeout= that parse_duration refuses or that is not positive; it names the
    workflow, the literal as written and why, and the fix shows the accepted forms."""
    wiring = f'wire_workflow(name="w", func=flow, timeout={literal})'
    model = scan({"app/f.py": _flow("pass", wiring)})
    error = only(model, "PKU024")
    assert error.level == "error"
    assert error.location == Location("app/f.py", 7, wiring.index("timeout=") + len("timeout=") + 1)
    assert error.message.startswith(f"wire_workflow timeout {literal} of workflow 'w' is not a valid run time limit")
    assert why in error.message
    assert 'timeout="30s"' in error.hint and "positive number of seconds" in error.hint
    assert workflow(model, "w").timeout is None
    assert model.has_errors


def test_pku024_not_reported_for_non_literals(scan: Scan) -> None:
    """A timeout= whose value is only known at run time (a name, an attribute, a call, an f-string) or None
    passes silently and records no limit."""
    values = ["TIMEOUT", "settings.run_timeout", 'hours("1")', 'f"{n}s"', '"1" f"{n}"', "None", "-TIMEOUT"]
    wiring = "\n".join(f'wire_workflow(name="w{i}", func=flow, timeout={v})' for i, v in enumerate(values))
    model = scan({"app/f.py": _flow("pass", wiring)})
    assert model.diagnostics == ()
    assert [w.timeout for w in model.workflows] == [None] * len(values)
