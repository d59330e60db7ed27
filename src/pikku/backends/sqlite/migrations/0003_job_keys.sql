-- Version 3: keyed jobs. While a job with a key waits (never claimed, or released: no lease), it is the
-- only one with that key on its queue; an enqueue with the key merges into it (ON CONFLICT on this
-- partial index). Jobs without a key, and every job from before, stay out of the index.
ALTER TABLE jobs ADD COLUMN key TEXT;
CREATE UNIQUE INDEX IF NOT EXISTS jobs_waiting_by_key ON jobs (queue, key) WHERE key IS NOT NULL AND lease_until IS NULL;
