-- Version 7: schedules (wire_schedule). One row per schedule, written by every worker's scheduler: how far
-- its ticks have been handled (last_tick, epoch seconds; NULL: none yet), the run of the latest tick that
-- started one, and whether it is paused. advance_schedule's compare-and-set on last_tick picks one winner.
CREATE TABLE IF NOT EXISTS schedules (
    name TEXT PRIMARY KEY,
    last_tick REAL,
    last_run_id TEXT,
    paused INTEGER NOT NULL DEFAULT 0
);
