-- Child runs, forks, cancel reasons and resume counts.
-- parent_run_id: the run that started this one as a child (workflow.call_workflow / start_workflow);
-- list_children reads a parent's children off runs_by_parent. Partial: a run without a parent (almost every
-- run) writes no entry. forked_from: the run pikku.fork_run copied. cancel_reason: why a cancelled run was
-- cancelled. resumes: how many times the run was resumed (each failure episode's on_failure step is named
-- by it). Adding columns with constant defaults rewrites no row; old rows read as no parent, no fork, no
-- reason and no resume.
ALTER TABLE runs
    ADD COLUMN parent_run_id text,
    ADD COLUMN forked_from text,
    ADD COLUMN cancel_reason text,
    ADD COLUMN resumes integer NOT NULL DEFAULT 0;
CREATE INDEX runs_by_parent ON runs (parent_run_id, created_at, seq) WHERE parent_run_id IS NOT NULL;
