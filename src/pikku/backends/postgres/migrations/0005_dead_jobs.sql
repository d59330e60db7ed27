-- Dead jobs (JobQueue.dead_letter): a job taken out of delivery for good (malformed, forged, delivered too
-- often) moves from jobs to this table in one statement, with its reason and the time. The claim
-- statements never read it, so they, jobs and its indexes are unchanged, and count() (jobs only) leaves
-- dead jobs out. A dead job keeps the id it had (what list_dead shows, retry_dead and drop_dead take),
-- its payload, deliveries, priority and key: retry_dead puts it back on its queue with them (as a new job;
-- a keyed one merges into the job waiting with its key).
CREATE TABLE dead_jobs (
    id bigint PRIMARY KEY,
    queue text NOT NULL,
    payload text NOT NULL,
    attempts integer NOT NULL,
    priority float8 NOT NULL,
    dedupe_key text,
    reason text NOT NULL,
    died_at float8 NOT NULL
);
-- list_dead: newest first.
CREATE INDEX dead_jobs_by_time ON dead_jobs (died_at, id);
