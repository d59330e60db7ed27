"""Retention: delete settled runs older than a cutoff, page by page (``pikku.prune_runs``, ``pikku runs
prune`` and, with ``[tool.pikku.settings] retention``, every worker now and then)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pikku._clock import now
from pikku._logcontext import get_logger
from pikku._records import SETTLED_RUN_STATUSES, RunStatus
from pikku.backends._contract import StateStore

log = get_logger("pikku.retention")

#: Runs deleted per store call: small enough that one delete never holds the database for long.
PRUNE_PAGE = 500


@dataclass(frozen=True, slots=True)
class Retention:
    """What a worker prunes: settled runs of ``statuses`` unchanged for ``older_than`` seconds, checked
    every ``interval`` seconds (jittered, so that many workers do not prune in lockstep)."""

    older_than: float
    statuses: tuple[RunStatus, ...] = ("completed",)
    interval: float = 3600.0

    def __post_init__(self) -> None:
        active = [s for s in self.statuses if s not in SETTLED_RUN_STATUSES]
        if active:  # the stores refuse too; saying it here names the setting
            raise ValueError(f"retention never prunes active runs ({', '.join(active)})")


async def prune(state: StateStore, older_than: float, statuses: Sequence[RunStatus]) -> int:
    """Delete the settled runs of ``statuses`` whose last change is more than ``older_than`` seconds ago,
    with their steps; returns how many. The cutoff is taken once, so runs settling meanwhile are kept."""
    cutoff = now() - older_than
    deleted = 0
    while True:
        page = await state.delete_runs(before=cutoff, statuses=list(statuses), limit=PRUNE_PAGE)
        deleted += len(page)
        if len(page) < PRUNE_PAGE:
            return deleted


async def prune_once(state: StateStore, retention: Retention) -> int:
    """One worker pass of ``retention``: prune, log what went (errors are logged, never raised)."""
    try:
        deleted = await prune(state, retention.older_than, retention.statuses)
    except Exception:
        log.exception("retention: pruning failed; trying again at the next interval")
        return 0
    if deleted:
        log.info("retention: pruned %d run(s) older than %gs (%s)", deleted, retention.older_than,
                 ", ".join(retention.statuses))  # fmt: skip
    return deleted
