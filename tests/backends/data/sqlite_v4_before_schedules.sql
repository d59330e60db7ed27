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
CREATE TABLE dead_jobs (
    id INTEGER PRIMARY KEY,
    queue TEXT NOT NULL,
    payload_json TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    key TEXT,
    reason TEXT NOT NULL,
    died_at REAL NOT NULL
);
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    payload_json TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    run_at REAL NOT NULL,
    lease_until REAL,
    owner TEXT
, priority REAL NOT NULL DEFAULT 0, key TEXT);
INSERT INTO "jobs" VALUES(1,'orch','{"run_id":"live"}',0,1796607277.93936,NULL,NULL,1796607277.93936,'live');
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
INSERT INTO "runs" VALUES('report@2026-01-01T03:00:00Z','report','completed','{"day": 1}','"ok"',NULL,NULL,NULL,1.79660727793909597398e+09,1.79660727793924975392e+09);
INSERT INTO "runs" VALUES('live','report','running','{}',NULL,NULL,NULL,NULL,1.79660727793931937219e+09,1.79660727793931937219e+09);
CREATE TABLE schema_version (version INTEGER NOT NULL);
INSERT INTO "schema_version" VALUES(4);
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
CREATE INDEX runs_by_workflow ON runs (workflow, status, created_at);
CREATE INDEX runs_by_status ON runs (status, created_at);
CREATE INDEX runs_by_created ON runs (created_at);
CREATE INDEX jobs_by_due ON jobs (run_at);
CREATE INDEX jobs_by_queue_priority ON jobs (queue, priority, run_at, id);
CREATE INDEX jobs_by_priority ON jobs (priority, run_at, id);
CREATE UNIQUE INDEX jobs_waiting_by_key ON jobs (queue, key) WHERE key IS NOT NULL AND lease_until IS NULL;
CREATE INDEX dead_jobs_by_death ON dead_jobs (died_at);
CREATE INDEX runs_settled_by_update ON runs (status, updated_at) WHERE status <> 'running';
DELETE FROM "sqlite_sequence";
INSERT INTO "sqlite_sequence" VALUES('jobs',1);
COMMIT;
