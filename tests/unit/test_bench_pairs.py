"""The benchmark's paired ratios (bench/__main__.py): pure table logic, no database."""

from __future__ import annotations

import pytest

pytest.importorskip("psycopg")  # bench.common connects with it (imported, not used, here)

from bench.__main__ import Row, _loop_rows, _prebuild_rows, cells, pair

P, D = ("inline", "pg", "pikku"), ("inline", "pg", "dbos")


def test_pair_is_the_median_of_per_round_ratios() -> None:
    """A paired figure divides within each round, then takes the median (not a ratio of medians); rounds
    missing either side or with a zero denominator are skipped."""
    rounds = {
        "g": [
            {P: {"x": 10.0}, D: {"x": 5.0}},  # 2.0
            {P: {"x": 30.0}, D: {"x": 10.0}},  # 3.0
            {P: {"x": 1.0}, D: {"x": 1.0}},  # 1.0
            {P: {"x": 4.0}},  # no DBOS sample this round
            {P: {"x": 4.0}, D: {"x": 0.0}},  # unusable
        ]
    }
    assert pair(rounds, "g", P, D, "x") == (2.0, 1.0, 3.0)
    assert pair(rounds, "other", P, D, "x") is None


def test_cells_show_the_paired_ratio_with_its_spread() -> None:
    """The pikku/DBOS cell of a paired row is the median pair ratio with min-max, not pikku/DBOS of the medians."""
    row = Row("w", "steps/s", 100.0, 10.0, None, "rate", pair=(4.0, 2.5, 6.0))
    assert cells(row)[5] == "4.00x (2.50-6.00)"
    assert cells(Row("w", "steps/s", 100.0, 10.0, None, "rate"))[5] == "10.00x"


def test_loop_rows_split_rounds_by_which_loop_ran_first() -> None:
    """The uvloop/asyncio rows split the rounds by the order the two ran in, so an order bias shows."""
    u, a = ("loops", "pg", "uvloop"), ("loops", "pg", "asyncio")
    rounds = {"loops": [{u: {"steps_per_s": 8.0}, a: {"steps_per_s": 10.0}},
                        {u: {"steps_per_s": 12.0}, a: {"steps_per_s": 10.0}}]}  # fmt: skip
    orders = {"loops": [[u, a], [a, u]]}
    rows = {row.metric: row.pikku for row in _loop_rows(rounds, orders, "loops", u, a, "w")}
    assert rows["steps/s ratio in the 1 rounds where uvloop ran first"] == pytest.approx(0.8)
    assert rows["steps/s ratio in the 1 rounds where asyncio ran first"] == pytest.approx(1.2)
    assert rows["steps/s ratio, median of 2 rounds"] == pytest.approx(1.0)


def test_prebuild_target_is_judged_on_the_median_pair_ratio() -> None:
    """Row 5: cold/parse is the median of per-pair ratios (wall, and CPU beside it), not a ratio of medians."""
    parse, cold, warm = ("prebuild", "parse"), ("prebuild", "cold"), ("prebuild", "warm")
    rounds = {
        "prebuild": [
            {parse: {"time": 2.0, "cpu": 2.0}, cold: {"time": 2.8, "cpu": 3.0}},  # 1.4 wall, 1.5 CPU
            {parse: {"time": 4.0, "cpu": 2.0}, cold: {"time": 4.0, "cpu": 2.6}},  # 1.0, 1.3
            {parse: {"time": 1.0, "cpu": 1.0}, cold: {"time": 3.0, "cpu": 1.2}},  # 3.0, 1.2
        ]
    }
    results = {parse: {"time": 2.0, "cpu": 2.0}, cold: {"time": 3.0, "cpu": 2.6}, warm: {"time": 0.1}}
    rows = {row.metric: row for row in _prebuild_rows(results, rounds)}  # type: ignore[arg-type]
    wall = rows["cold / parse, wall, median of 3 interleaved pairs"]
    assert (wall.pikku, wall.meets) == (1.4, True) and "min-max 1.00-3.00" in wall.target
    assert rows["cold / parse, CPU, median of the pairs"].pikku == 1.3
    assert rows["warm, nothing changed (s)"].meets is True
    rounds["prebuild"][0][cold]["time"] = 3.2  # 1.6: the median pair now misses
    assert {r.metric: r for r in _prebuild_rows(results, rounds)}[wall.metric].meets is False  # type: ignore[arg-type]
