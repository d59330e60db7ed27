-- Keyed jobs (JobQueue.enqueue(key=), Enqueue.key): while a job with a key waits (never claimed, or
-- released: locked_until IS NULL), it is the only waiting job with that key on its queue, and an enqueue
-- with the key merges into it (INSERT ... ON CONFLICT on this index: the earlier due time, the lower
-- priority). A claimed job leaves the index, so work that arrives while it runs gets a job of its own.
-- Cost: locked_until is now part of an index's predicate, so a claim is no longer a HOT update.
ALTER TABLE jobs ADD COLUMN dedupe_key text;
CREATE UNIQUE INDEX jobs_waiting_key ON jobs (queue, dedupe_key)
    WHERE dedupe_key IS NOT NULL AND locked_until IS NULL;
