-- Events sent to runs (pikku.send_event), kept until a wait_for_event step takes one: first in, first out per
-- name (by seq). A taken event stays, marked with the step that took it (consumed_by), so that a send
-- repeated with the same event_id (unique per run) is still recognised afterwards; a run's events go with
-- it (ON DELETE CASCADE). The run statuses 'waiting' and 'suspended' need no change to runs: status is free
-- text, runs_settled (0006) is read with settled statuses only, and list_runs reads one slice per status.
CREATE TABLE events (
    run_id text NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    seq bigint GENERATED ALWAYS AS IDENTITY,
    name text NOT NULL,
    payload_json text NOT NULL,
    event_id text,
    created_at float8 NOT NULL,
    consumed_by text,
    PRIMARY KEY (run_id, seq)
);
-- take_event: the oldest event of a name still waiting, straight off this index.
CREATE INDEX events_waiting ON events (run_id, name, seq) WHERE consumed_by IS NULL;
CREATE UNIQUE INDEX events_by_id ON events (run_id, event_id) WHERE event_id IS NOT NULL;
