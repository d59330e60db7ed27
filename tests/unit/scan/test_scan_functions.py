"""@pikku_func discovery: every decorator spelling, sync/async, and what is not a pikku function."""

from __future__ import annotations

import pytest
from scan_support import Scan

from pikku.cli.model import ANY, FunctionMeta, Location, TypeRef


@pytest.mark.parametrize(
    ("header", "decorator", "rpc_name"),
    [
        ("from pikku import pikku_func", "@pikku_func", "create_user"),
        ("from pikku import pikku_func", "@pikku_func()", "create_user"),
        ("from pikku import pikku_func", '@pikku_func(name="users.create")', "users.create"),
        ("import pikku", '@pikku.pikku_func(name="users.create")', "users.create"),
        ("import pikku", "@pikku.pikku_func", "create_user"),
        ("from pikku import pikku_func as pf", '@pf(name="users.create")', "users.create"),
        ("import pikku as pk", "@pk.pikku_func()", "create_user"),
        ("from pikku import *", "@pikku_func", "create_user"),
        ("from pikku import pikku_func", "@pikku_func(name=None)", "create_user"),
    ],
)
def test_decorator_forms(scan: Scan, header: str, decorator: str, rpc_name: str) -> None:
    """Each spelling of @pikku_func is found; without a name= literal the rpc name is the function's."""
    model = scan({"app/users.py": f"{header}\n\n{decorator}\nasync def create_user(services, data: int) -> str: ...\n"})
    assert [f.rpc_name for f in model.functions] == [rpc_name]
    assert model.diagnostics == ()


def test_function_meta_fields(scan: Scan) -> None:
    """A @pikku_func becomes a FunctionMeta with module, qualname, types, async flag and def location."""
    model = scan(
        {
            "app/__init__.py": "",
            "app/users.py": """
                from pikku import pikku_func

                @pikku_func(name="users.get")
                async def get_user(services, data: str) -> int:
                    return 1
            """,
        }
    )
    assert model.functions == (
        FunctionMeta(
            rpc_name="users.get",
            module="app.users",
            qualname="get_user",
            input_type=TypeRef("str"),
            output_type=TypeRef("int"),
            is_async=True,
            location=Location("app/users.py", 4, 1),
        ),
    )


def test_sync_function(scan: Scan) -> None:
    """A plain ``def`` is a pikku function too, with is_async False."""
    model = scan(
        {"app/calc.py": "from pikku import pikku_func\n\n@pikku_func\ndef add(services, data: int) -> int: ...\n"}
    )
    assert [(f.rpc_name, f.is_async) for f in model.functions] == [("add", False)]


def test_missing_annotations_are_any(scan: Scan) -> None:
    """No data parameter annotation / no return annotation / no data parameter -> typing.Any."""
    model = scan(
        {
            "app/m.py": """
                from pikku import pikku_func

                @pikku_func
                async def a(services, data): ...

                @pikku_func
                async def b(services): ...
            """
        }
    )
    assert [(f.input_type, f.output_type) for f in model.functions] == [(ANY, ANY), (ANY, ANY)]


def test_location_is_def_line_not_decorator(scan: Scan) -> None:
    """The location of a decorated function is its ``def`` (or ``async def``) line, column 1."""
    model = scan(
        {
            "app/m.py": """
                from pikku import pikku_func
                # a comment

                @pikku_func(
                    name="m.f",
                )
                async def f(services, data): ...
            """
        }
    )
    assert model.functions[0].location == Location("app/m.py", 7, 1)


def test_not_pikku_functions(scan: Scan) -> None:
    """Undecorated, otherwise-decorated, same-named-but-not-imported, nested and method defs are ignored."""
    model = scan(
        {
            "app/m.py": """
                import functools
                from other import pikku_func as not_ours

                def plain(services, data): ...

                @functools.cache
                def cached(services, data): ...

                @not_ours
                def foreign(services, data): ...

                class Api:
                    from pikku import pikku_func

                    @pikku_func
                    def method(self, data): ...
            """
        }
    )
    assert model.functions == ()


def test_functions_sorted_by_rpc_name(scan: Scan) -> None:
    """Functions are ordered by rpc name, whatever their file and source order."""
    model = scan(
        {
            "app/a.py": 'from pikku import pikku_func\n\n@pikku_func(name="z.last")\ndef f(s, d): ...\n',
            "app/b.py": 'from pikku import pikku_func\n\n@pikku_func(name="a.first")\ndef g(s, d): ...\n'
            '@pikku_func(name="m.mid")\ndef h(s, d): ...\n',
        }
    )
    assert [f.rpc_name for f in model.functions] == ["a.first", "m.mid", "z.last"]
