"""The SQLite backend's statements: named constants with named parameters, rows read through checked shapes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

import pytest

from pikku.backends.sqlite import statements as sql
from pikku.backends.sqlite.database import open_database

STATEMENTS = {name: text for name, text in vars(sql).items() if name.isupper() and isinstance(text, str)}


def test_every_statement_compiles_on_the_current_schema(tmp_path: Path) -> None:
    """Each statement constant is valid SQL for the migrated schema, with named parameters only."""
    db = open_database(f"sqlite:///{tmp_path / 's.db'}")
    try:
        for name, text in STATEMENTS.items():
            assert "?" not in text, f"{name} has a positional parameter"
            params = dict.fromkeys(re.findall(r":(\w+)", text))
            db.conn.execute(f"EXPLAIN {text}", params)
    finally:
        db.checkpointer.stop()
        db.conn.close()


class _Swapped(NamedTuple):
    workflow: str
    run_id: str


def test_a_shape_that_does_not_match_the_columns_is_refused(tmp_path: Path) -> None:
    """Rows are read by name: a shape whose fields are not the statement's columns, in order, raises."""
    db = open_database(f"sqlite:///{tmp_path / 's.db'}")
    try:
        with pytest.raises(TypeError, match="_Swapped"):
            db.rows("SELECT run_id, workflow FROM runs", None, _Swapped)
    finally:
        db.checkpointer.stop()
        db.conn.close()
