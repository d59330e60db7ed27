BEGIN TRANSACTION;
CREATE TABLE attempts (
    run_id TEXT NOT NULL,
    name TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL,
    error_json TEXT,
    PRIMARY KEY (run_id, name, attempt)
) WITHOUT ROWID;
INSERT INTO "attempts" VALUES('old-run','a',1,1.7965965540747461319e+09,1.7965965540748548508e+09,NULL);
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    payload_json TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    run_at REAL NOT NULL,
    lease_until REAL,
    owner TEXT,
    priority REAL NOT NULL
);
INSERT INTO "jobs" VALUES(1,'orch','{"run_id":"old-run"}',1,1.79659655407443881033e+09,1.79660015407491946218e+09,'old-worker',1.0);
INSERT INTO "jobs" VALUES(2,'orch','{"run_id":"old-run","n":2}',0,1.79659655407505607603e+09,NULL,NULL,2.0);
INSERT INTO "jobs" VALUES(3,'later','{"n":3}',0,1.79660015407509541509e+09,NULL,NULL,1.79660015407509541509e+09);
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    workflow TEXT NOT NULL,
    status TEXT NOT NULL,
    input_json TEXT NOT NULL,
    output_json TEXT,
    error_json TEXT,
    lock_owner TEXT,
    lock_until REAL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
INSERT INTO "runs" VALUES('old-run','wf','running','{"x": 1}',NULL,NULL,NULL,NULL,1.79659655407443881033e+09,1.79659655407443881033e+09);
CREATE TABLE schema_version (version INTEGER NOT NULL);
INSERT INTO "schema_version" VALUES(2);
CREATE TABLE steps (
    run_id TEXT NOT NULL,
    name TEXT NOT NULL,
    form TEXT NOT NULL,
    status TEXT NOT NULL,
    rpc_name TEXT,
    data_json TEXT,
    result_json TEXT,
    result_type TEXT,
    error_json TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL DEFAULT 1,
    wake_at REAL,
    lease_owner TEXT,
    lease_until REAL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (run_id, name)
);
INSERT INTO "steps" VALUES('old-run','a','rpc','done','f','{"i": 1}','"done"',NULL,NULL,1,3,NULL,NULL,NULL,1.79659655407462120059e+09,1.7965965540748548508e+09);
CREATE INDEX runs_by_workflow ON runs (workflow, status, created_at);
CREATE INDEX runs_by_status ON runs (status, created_at);
CREATE INDEX runs_by_created ON runs (created_at);
CREATE INDEX jobs_by_due ON jobs (run_at);
CREATE INDEX jobs_by_queue_priority ON jobs (queue, priority, run_at, id);
CREATE INDEX jobs_by_priority ON jobs (priority, run_at, id);
DELETE FROM "sqlite_sequence";
INSERT INTO "sqlite_sequence" VALUES('jobs',3);
COMMIT;
