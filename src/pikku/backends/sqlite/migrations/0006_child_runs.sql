-- Version 6: child runs, forks, cancel reasons and resume counts.
-- parent_run_id: the run that started this one as a child (workflow.call_workflow / start_workflow);
-- list_children reads a parent's children off runs_by_parent. Partial: a run without a parent (almost every
-- run) writes no entry. forked_from: the run pikku.fork_run copied. cancel_reason: why a cancelled run was
-- cancelled. resumes: how many times the run was resumed (each failure episode's on_failure step is named
-- by it). Old rows read as no parent, no fork, no reason and no resume.
ALTER TABLE runs ADD COLUMN parent_run_id TEXT;
ALTER TABLE runs ADD COLUMN forked_from TEXT;
ALTER TABLE runs ADD COLUMN cancel_reason TEXT;
ALTER TABLE runs ADD COLUMN resumes INTEGER NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS runs_by_parent ON runs (parent_run_id, created_at) WHERE parent_run_id IS NOT NULL;
