"""File store: runs that two processes stamped with the same (created_at, seq) still page exactly once each."""

from __future__ import annotations

import json
from pathlib import Path

from pikku.backends import file


async def test_exact_ties_page_by_run_id(tmp_path: Path) -> None:
    state = await file.open_state(f"file://{tmp_path / 'state'}")
    try:
        for run_id in ("a", "b", "c"):
            await state.create_run(run_id, "wf", "{}")
        for path in (tmp_path / "state").rglob("*.json"):  # as if two processes wrote a and b at once
            doc = json.loads(path.read_text())
            if doc["run"]["run_id"] in ("a", "b"):
                doc["run"]["created_at"], doc["run"]["seq"] = 1.0, 1
                path.write_text(json.dumps(doc))
        assert [r.run_id for r in await state.list_runs()] == ["c", "b", "a"]
        seen, before = [], None
        while page := await state.list_runs(limit=1, before=before):
            seen.append(page[0].run_id)
            before = page[0].run_id
        assert seen == ["c", "b", "a"]
    finally:
        await state.close()
