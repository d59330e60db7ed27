"""The placeholder conversion of pikku's PostgreSQL executor (no database needed)."""

from __future__ import annotations

import pytest

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'pikku[postgres]')")

from pikku.backends.postgres.executor import _ordered, convert  # noqa: E402


def test_positional_placeholders_are_numbered_in_order() -> None:
    query = convert("SELECT %s, %s FROM t WHERE a = %s")
    assert (query.sql, query.names, query.count) == (b"SELECT $1, $2 FROM t WHERE a = $3", None, 3)


def test_a_name_used_twice_is_one_parameter() -> None:
    query = convert("UPDATE t SET a = %(x)s WHERE b = %(y)s AND c = %(x)s")
    assert query.sql == b"UPDATE t SET a = $1 WHERE b = $2 AND c = $1"
    assert (query.names, query.count) == (("x", "y"), 2)
    assert _ordered(query, {"y": 2, "x": 1, "unused": 3}) == (1, 2)


def test_one_named_parameter_is_a_sequence_of_one_value() -> None:
    """A statement with a single name still gets a sequence of values (itemgetter of one name would
    give the value itself), also when that value is a sequence."""
    query = convert("SELECT %(a)s")
    assert list(_ordered(query, {"a": 5})) == [5]
    assert list(_ordered(query, {"a": ["x", "y"]})) == [["x", "y"]]


def test_double_percent_is_a_literal_percent() -> None:
    query = convert("SELECT 7 %% %s")
    assert (query.sql, query.count) == (b"SELECT 7 % $1", 1)


def test_mixed_placeholders_are_refused() -> None:
    with pytest.raises(psycopg.ProgrammingError, match="mix"):
        convert("SELECT %s, %(x)s")


def test_wrong_parameters_are_refused_before_anything_is_sent() -> None:
    named, positional = convert("SELECT %(a)s"), convert("SELECT %s, %s")
    with pytest.raises(psycopg.ProgrammingError, match="missing: a"):
        _ordered(named, {"b": 1})
    with pytest.raises(psycopg.ProgrammingError, match="mapping"):
        _ordered(named, (1,))
    with pytest.raises(psycopg.ProgrammingError, match="2 %s placeholders"):
        _ordered(positional, (1,))
    with pytest.raises(psycopg.ProgrammingError, match="2 %s placeholders"):
        _ordered(positional, {"a": 1})
