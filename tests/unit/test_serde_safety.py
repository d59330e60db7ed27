"""Stored values are data: reading them back never imports a module, and what cannot round-trip is refused."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Callable

import pytest
from pydantic import BaseModel

from pikku import _serde
from pikku._errors import CorruptStateError, StepSerializationError


class Model(BaseModel):
    n: int


@dataclasses.dataclass
class Data:
    n: int


def test_a_stored_type_tag_never_imports_a_module() -> None:
    """A ``result_type`` read from the database naming a module nobody imported (``this`` prints the Zen of
    Python on import) is refused, and the module stays unimported."""
    code = (
        "import sys\nfrom pikku import _serde\n"
        "try:\n    _serde.decode('{}', None, 'this:s')\nexcept Exception as exc:\n    print(type(exc).__name__)\n"
        "print('this' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["CorruptStateError", "False"]


@pytest.mark.parametrize(
    "tag", ["os:system", "builtins:dict", f"{__name__}:test_a_stored_type_tag_never_imports_a_module"]
)
def test_a_stored_type_tag_must_name_a_model_or_dataclass(tag: str) -> None:
    """Only a pydantic model or dataclass class is rebuilt from a tag; a function or any other class is not."""
    with pytest.raises(CorruptStateError):
        _serde.type_from_tag(tag)


@pytest.mark.parametrize(("value", "cls"), [(Model(n=1), Model), (Data(n=2), Data)])
def test_tagged_values_of_loaded_classes_come_back(value: object, cls: type) -> None:
    """The legitimate case still works: a model or dataclass of a loaded module is rebuilt from its tag."""
    tag = _serde.type_tag(value)
    assert tag is not None
    text, back = _serde.encode_checked(value, None, tag, what="v")
    assert back == value and isinstance(back, cls)
    assert _serde.decode(text, None, tag) == value


@pytest.mark.parametrize(
    "make", [lambda: float("nan"), lambda: float("inf"), lambda: {"x": [float("-inf")]}, lambda: 10**5000]
)
def test_values_that_cannot_round_trip_are_refused(make: Callable[[], object]) -> None:
    """NaN/Infinity (not JSON) and ints Python's JSON reader refuses are refused at encode time."""
    with pytest.raises(StepSerializationError):
        _serde.encode_checked(make(), None, what="v")


def test_documented_conversions_are_the_same_on_first_run_and_replay() -> None:
    """A set becomes a list, a tuple key a string, and the text 'NaN' inside a string is kept: the value a
    step hands on is the decoded text, exactly what a replay returns."""
    text, first = _serde.encode_checked({"s": {3}, "t": {(1, 2): "x"}, "w": "NaN"}, None, what="v")
    assert first == {"s": [3], "t": {"1,2": "x"}, "w": "NaN"} == _serde.decode(text)
