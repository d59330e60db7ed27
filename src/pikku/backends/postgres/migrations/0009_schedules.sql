-- Schedules (wire_schedule): one row per schedule, written by every worker's scheduler. last_tick is how
-- far its ticks have been handled (epoch seconds; NULL: none yet), last_run_id the run of the latest tick
-- that started one, paused whether ticks start runs. advance_schedule's compare-and-set on last_tick (one
-- conditional statement) picks one winner among workers racing for a tick.
CREATE TABLE schedules (
    name text PRIMARY KEY,
    last_tick float8,
    last_run_id text,
    paused boolean NOT NULL DEFAULT false
);
