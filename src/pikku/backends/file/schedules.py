"""The file store's schedules: one small JSON file per schedule under ``<dir>/schedules/``.

Every change is a read-modify-write under the schedule's inter-process lock (``<stem>.lock``) that replaces
the file atomically, so the compare-and-set of ``advance_schedule`` has one winner across processes.
Reads need no lock. A schedule without a file has never been stored: no tick handled, not paused.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pikku._errors import CorruptStateError
from pikku._records import ScheduleState
from pikku.backends.file.files import locked, make_lock, read_json, write_json


class ScheduleFiles:
    """Schedule states kept as ``<dir>/schedules/<stem>.json`` (the stem as a run file's: safe and unique)."""

    def __init__(self, root: Path, stem: Callable[[str], str]) -> None:
        self._dir = root / "schedules"
        self._dir.mkdir(parents=True, exist_ok=True)
        self._stem = stem

    def _path(self, name: str) -> Path:
        return self._dir / f"{self._stem(name)}.json"

    def read(self, name: str) -> ScheduleState:
        """The stored state, or a fresh one when there is no file."""
        path = self._path(name)
        try:
            doc = read_json(path)
        except FileNotFoundError:
            return ScheduleState(name)
        try:
            if not isinstance(doc, dict) or doc["name"] != name:
                raise ValueError("not the file of this schedule")
            last, run_id, paused = doc["last_tick"], doc["last_run_id"], doc["paused"]
            return ScheduleState(name, None if last is None else float(last), run_id, bool(paused))
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptStateError(str(path), f"malformed schedule file: {exc!r}") from exc

    def change(self, name: str, change: Callable[[ScheduleState], bool]) -> bool:
        """Read the state under the schedule's lock and write it back when ``change`` (which edits it in
        place) returns True; what ``change`` returned."""
        path = self._path(name)
        with locked(make_lock(path.with_suffix(".lock"))):
            state = self.read(name)
            changed = change(state)
            if changed:
                doc = {"name": name, "last_tick": state.last_tick, "last_run_id": state.last_run_id}
                write_json(path, doc | {"paused": state.paused})
        return changed
