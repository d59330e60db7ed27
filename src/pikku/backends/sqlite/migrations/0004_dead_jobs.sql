-- Version 4: dead jobs, and pruning settled runs.
-- A dead job (malformed, forged, delivered too often) leaves `jobs` for this table in the transaction that
-- dead-letters it, so no claim ever sees it again and the queue's statements and indexes stay as they were.
-- It keeps its key, so that a retried keyed job merges into a waiting one like any keyed enqueue.
CREATE TABLE IF NOT EXISTS dead_jobs (
    id INTEGER PRIMARY KEY,
    queue TEXT NOT NULL,
    payload_json TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    key TEXT,
    reason TEXT NOT NULL,
    died_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_jobs_by_death ON dead_jobs (died_at);
-- delete_runs walks the settled runs of a status oldest change first. Partial: a running run (every new run)
-- is not in it, so creating a run costs no extra index write; settling one costs one.
CREATE INDEX IF NOT EXISTS runs_settled_by_update ON runs (status, updated_at) WHERE status <> 'running';
