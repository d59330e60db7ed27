-- Version 2: job priorities. A job is claimed by (priority, run_at, id); jobs from version 1 take their
-- due time as priority, and the claim's index replaces the version-1 (queue, run_at) one.
ALTER TABLE jobs ADD COLUMN priority REAL NOT NULL DEFAULT 0;
UPDATE jobs SET priority = run_at;
DROP INDEX IF EXISTS jobs_by_queue;
CREATE INDEX IF NOT EXISTS jobs_by_queue_priority ON jobs (queue, priority, run_at, id);
CREATE INDEX IF NOT EXISTS jobs_by_priority ON jobs (priority, run_at, id);
