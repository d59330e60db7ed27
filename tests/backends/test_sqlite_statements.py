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


def test_pruning_walks_the_settled_runs_index_in_order(tmp_path: Path) -> None:
    """delete_runs' page of one status is read along the partial index runs_settled_by_update, already in
    oldest-change-first order (no sort of every settled run per page), a claim's form condition keeps
    the step claim on the steps primary key, and a run's oldest waiting event of a name and its events are
    read off their indexes in order."""
    db = open_database(f"sqlite:///{tmp_path / 's.db'}")
    try:

        def plan(text: str) -> str:
            params = dict.fromkeys(re.findall(r":(\w+)", text))
            return " | ".join(str(row[3]) for row in db.conn.execute(f"EXPLAIN QUERY PLAN {text}", params))

        prune = plan(sql.RUNS_TO_DELETE_WITH_STATUS)
        assert "runs_settled_by_update (status=? AND updated_at<?)" in prune and "TEMP B-TREE" not in prune
        assert "(run_id=? AND name=?)" in plan(sql.CLAIM_STEP)
        take = plan(sql.OLDEST_WAITING_EVENT)
        assert "events_waiting (run_id=? AND name=?)" in take and "TEMP B-TREE" not in take
        assert "events_of_run (run_id=?)" in plan(sql.EVENTS_OF_RUN)
    finally:
        db.checkpointer.stop()
        db.conn.close()
