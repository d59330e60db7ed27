"""The PostgreSQL list_runs statements built from the run statuses: one branch per status, each the filtered
statement with its status bound (no server needed: the texts are checked as text)."""

from __future__ import annotations

import re

import pytest

from pikku._records import RUN_STATUSES
from pikku.backends.postgres import statements

#: Each unfiltered statement and the filtered statement every one of its branches must repeat.
MERGED = {
    "LIST_RUNS": statements.LIST_RUNS_WITH_STATUS,
    "LIST_RUNS_OF_WORKFLOW": statements.LIST_RUNS_OF_WORKFLOW_WITH_STATUS,
}


def _words(text: str) -> str:
    return " ".join(text.split())


def _columns(select: str) -> list[str]:
    found = re.search(r"SELECT\s+(.*?)\s+(?:FROM\b|\Z)", select, re.S)
    assert found, select
    return [column.strip() for column in found.group(1).split(",")]


def _branches(merged: str) -> tuple[str, list[str]]:
    """The outer select and the UNION ALL branches of a merged statement."""
    outer, opening, rest = merged.partition("FROM (")
    body, closing, _ = rest.rpartition(") AS merged")
    assert opening and closing, merged
    return outer, body.split("UNION ALL")


@pytest.mark.parametrize("name", sorted(MERGED))
def test_every_status_has_a_branch_with_the_filtered_columns(name: str) -> None:
    """One branch per run status, in RUN_STATUSES order, and every branch (and the merge) selects exactly the
    columns of the filtered statement: a branch left behind when a column is added fails here."""
    filtered = _columns(MERGED[name])
    outer, branches = _branches(getattr(statements, name))
    assert _columns(outer) == filtered
    assert [re.findall(r"status = '(\w+)'", branch) for branch in branches] == [[s] for s in RUN_STATUSES]
    for branch in branches:
        assert _columns(branch) == [*filtered, "seq"], branch


@pytest.mark.parametrize("name", sorted(MERGED))
def test_every_branch_is_the_filtered_statement_for_its_status(name: str) -> None:
    """Beyond the columns, each branch filters, orders and limits as the filtered statement does (so it reads
    the same index slice), with the status a literal instead of a parameter and ``seq`` added for the merge."""
    filtered = _words(MERGED[name])
    columns = ", ".join(_columns(MERGED[name]))
    _, branches = _branches(getattr(statements, name))
    for status, branch in zip(RUN_STATUSES, branches, strict=True):
        expected = filtered.replace("%(status)s", f"'{status}'").replace(columns, f"{columns}, seq", 1)
        assert _words(branch) == f"({expected})"
