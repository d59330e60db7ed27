-- Job priorities. A claim takes due jobs by (priority, run_at, id) straight off jobs_claim; jobs_due
-- stays for the next-due probe of `wait` (earliest delayed job). Existing jobs get priority = run_at.
ALTER TABLE jobs ADD COLUMN priority float8;
UPDATE jobs SET priority = run_at;
ALTER TABLE jobs ALTER COLUMN priority SET NOT NULL;
CREATE INDEX jobs_claim ON jobs (queue, priority, run_at, id);
