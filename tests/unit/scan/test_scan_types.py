"""TypeRef rewriting: annotation names become dotted paths plus the modules to import for them."""

from __future__ import annotations

import pytest
from scan_support import Scan, only

from pikku.cli.model import ANY, Location, TypeRef


def _types(scan: Scan, header: str, data: str, returns: str = "None") -> tuple[TypeRef, TypeRef]:
    signature = f"async def f(services, data: {data}) -> {returns}: ...\n"
    source = f"from pikku import pikku_func\n{header}\n\n@pikku_func\n{signature}"
    model = scan({"app/__init__.py": "", "app/pkg/__init__.py": "", "app/pkg/mod.py": source})
    assert [d.code for d in model.diagnostics] == []
    return model.functions[0].input_type, model.functions[0].output_type


@pytest.mark.parametrize(
    ("header", "annotation", "expected"),
    [
        ("class User: ...", "User", TypeRef("app.pkg.mod.User", ("app.pkg.mod",))),
        ("from app.models import User", "User", TypeRef("app.models.User", ("app.models",))),
        ("from app.models import User as U", "U", TypeRef("app.models.User", ("app.models",))),
        ("from .models import User", "User", TypeRef("app.pkg.models.User", ("app.pkg.models",))),
        ("from ..models import User", "User", TypeRef("app.models.User", ("app.models",))),
        ("from . import models", "models.User", TypeRef("app.pkg.models.User", ("app.pkg",))),
        ("import app.models as m", "m.User", TypeRef("app.models.User", ("app.models",))),
        ("import app.models", "app.models.User", TypeRef("app.models.User", ("app.models",))),
        ("", "int", TypeRef("int")),
        ("", "dict[str, list[bytes]]", TypeRef("dict[str, list[bytes]]")),
        ("from app.models import User", "list[User]", TypeRef("list[app.models.User]", ("app.models",))),
        ("from app.models import User", "User | None", TypeRef("app.models.User | None", ("app.models",))),
        ("from typing import Optional", "Optional[int]", TypeRef("typing.Optional[int]", ("typing",))),
        ("import typing", "typing.Any", TypeRef("typing.Any", ("typing",))),
        ("import typing as t", "t.Optional[str]", TypeRef("typing.Optional[str]", ("typing",))),
        (
            "from collections.abc import Sequence\nfrom app.models import User",
            "Sequence[User]",
            TypeRef("collections.abc.Sequence[app.models.User]", ("app.models", "collections.abc")),
        ),
        ("from app.models import User", '"User"', TypeRef("app.models.User", ("app.models",))),
        (
            "from app.models import User",
            "list['User | None']",
            TypeRef("list[app.models.User | None]", ("app.models",)),
        ),
        ("from typing import Literal", 'Literal["a", 1, None]', TypeRef('typing.Literal["a", 1, None]', ("typing",))),
        (
            "from typing import Annotated\nfrom pydantic import Field",
            "Annotated[int, Field(gt=0)]",
            TypeRef("typing.Annotated[int, pydantic.Field(gt=0)]", ("pydantic", "typing")),
        ),
        (
            "from collections.abc import Callable",
            "Callable[[int], str]",
            TypeRef("collections.abc.Callable[[int], str]", ("collections.abc",)),
        ),
        ("", "tuple[int, ...]", TypeRef("tuple[int, ...]")),
    ],
)
def test_input_annotation(scan: Scan, header: str, annotation: str, expected: TypeRef) -> None:
    """Local, imported (absolute/relative/aliased), builtin, generic, union and string annotations resolve."""
    input_type, _ = _types(scan, header, annotation)
    assert input_type == expected


def test_literal_strings_are_not_parsed_as_types(scan: Scan) -> None:
    """Members of Literal[...] stay string values, as written, even when they look like names."""
    input_type, _ = _types(scan, "import typing", "typing.Literal['User']")
    assert input_type == TypeRef("typing.Literal['User']", ("typing",))


def test_return_annotation_and_none(scan: Scan) -> None:
    """The return annotation is rewritten like the input one; ``None`` stays bare with no imports."""
    input_type, output_type = _types(scan, "from app.models import User", "None", "User")
    assert (input_type, output_type) == (TypeRef("None"), TypeRef("app.models.User", ("app.models",)))


def test_later_binding_wins(scan: Scan) -> None:
    """A name imported and then redefined locally resolves to the local definition, as at runtime."""
    input_type, _ = _types(scan, "from app.models import User\nclass User: ...", "User")
    assert input_type == TypeRef("app.pkg.mod.User", ("app.pkg.mod",))


def test_type_checking_imports_count(scan: Scan) -> None:
    """Imports under ``if TYPE_CHECKING:`` bind names for annotations too."""
    header = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from app.models import User"
    input_type, _ = _types(scan, header, "User")
    assert input_type == TypeRef("app.models.User", ("app.models",))


@pytest.mark.parametrize("annotation", ["Missing", "list[Missing]", '"Missing"', "'not valid ('", "lambda: 1"])
def test_unresolvable_annotation_warns(scan: Scan, annotation: str) -> None:
    """An unresolvable name (or unsupported form) types the parameter as Any with a PKU012 warning there."""
    source = f"from pikku import pikku_func\n\n@pikku_func\nasync def f(services, data: {annotation}): ...\n"
    model = scan({"app/m.py": source})
    warning = only(model, "PKU012")
    assert warning.level == "warning"
    assert warning.location == Location("app/m.py", 4, 29)  # the annotation after "data: "
    assert "f" in warning.message
    assert model.functions[0].input_type == ANY
    assert not model.has_errors


def test_unresolvable_return_annotation_warns(scan: Scan) -> None:
    """The return annotation warning points at the return annotation and names it."""
    model = scan({"app/m.py": "from pikku import pikku_func\n\n@pikku_func\ndef f(services, data) -> Nope: ...\n"})
    warning = only(model, "PKU012")
    assert warning.location == Location("app/m.py", 4, 26)
    assert "Nope" in warning.message
    assert "return" in warning.message


def test_plain_unwired_function_does_not_warn(scan: Scan) -> None:
    """Annotations of functions that are neither @pikku_func nor wired are not reported."""
    model = scan({"app/m.py": "def helper(services, data: Missing) -> Nope: ...\n"})
    assert model.diagnostics == ()


def test_submodule_reached_through_package_is_imported(scan: Scan) -> None:
    """``from app import models`` + ``models.User`` also imports ``app.models`` when that module is scanned."""
    model = scan(
        {
            "app/__init__.py": "",
            "app/models.py": "class User: ...\n",
            "app/f.py": "from pikku import pikku_func\nfrom app import models\n\n"
            "@pikku_func\ndef f(services, data: models.User) -> list[models.User]: ...\n",
        }
    )
    func = model.functions[0]
    assert func.input_type == TypeRef("app.models.User", ("app", "app.models"))
    assert func.output_type == TypeRef("list[app.models.User]", ("app", "app.models"))
