-- Version 5: events sent to runs (pikku.send_event), and the run statuses 'waiting' and 'suspended'.
-- A run's events, kept until a wait_for_event step takes one: first in, first out per name (by seq). A taken
-- event stays, marked with the step that took it (consumed_by), so that a send repeated with the same
-- event_id (unique per run) is still recognised afterwards. A run's events are deleted with the run.
-- The new run statuses need no change to runs: status is free text, and the partial index of settled runs
-- (runs_settled_by_update) is read with the settled statuses only.
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    name TEXT NOT NULL,
    payload_json TEXT NOT NULL,
    event_id TEXT,
    created_at REAL NOT NULL,
    consumed_by TEXT
);
CREATE INDEX IF NOT EXISTS events_of_run ON events (run_id, seq);
-- take_event: the oldest event of a name still waiting, straight off this index.
CREATE INDEX IF NOT EXISTS events_waiting ON events (run_id, name, seq) WHERE consumed_by IS NULL;
CREATE UNIQUE INDEX IF NOT EXISTS events_by_id ON events (run_id, event_id) WHERE event_id IS NOT NULL;
