"""The retry decision every failed step goes through (queued, local and inline steps alike)."""

from __future__ import annotations

from pikku._engine import retry
from pikku._errors import InvalidInputError


def test_a_transient_failure_with_attempts_left_waits_the_fixed_or_backed_off_delay() -> None:
    assert retry.next_delay(ConnectionError("blip"), 1, 3, 0.25) == 0.25
    backed_off = retry.next_delay(ConnectionError("blip"), 3, 6, None)
    assert backed_off is not None and 1.0 <= backed_off <= 2.0  # ceiling 0.5 * 2**2, equal jitter


def test_no_attempts_left_or_a_permanent_failure_ends_the_step() -> None:
    assert retry.next_delay(ConnectionError("blip"), 3, 3, 0.25) is None
    assert retry.next_delay(InvalidInputError("input of workflow wf is not an int"), 1, 3, 0.25) is None
