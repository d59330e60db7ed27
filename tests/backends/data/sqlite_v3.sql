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
INSERT INTO "attempts" VALUES('old-failed','b',1,1.79659979607897019385e+09,1.79659979607919120794e+09,'{"message":"down","type":"ConnectionError","stack":"...","code":null}');
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    payload_json TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    run_at REAL NOT NULL,
    lease_until REAL,
    owner TEXT
, priority REAL NOT NULL DEFAULT 0, key TEXT);
INSERT INTO "jobs" VALUES(1,'orch','{"run_id":"old-failed"}',1,1.79659979607948184013e+09,1.79660339607961320879e+09,'old-worker',1.0,'old-failed');
INSERT INTO "jobs" VALUES(2,'orch','{"run_id":"old-failed","n":2}',0,1.79659979607979178426e+09,NULL,NULL,2.0,'old-failed');
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
INSERT INTO "runs" VALUES('old-failed','wf','failed','{"x": 1}',NULL,'{"message":"down","type":"ConnectionError","stack":"...","code":null}',NULL,NULL,1.79659979607859492294e+09,1.79659979607932257647e+09);
INSERT INTO "runs" VALUES('old-done','wf','completed','{}','"out"',NULL,NULL,NULL,1.79659979607937526704e+09,1.79659979607945322985e+09);
CREATE TABLE schema_version (version INTEGER NOT NULL);
INSERT INTO "schema_version" VALUES(3);
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
INSERT INTO "steps" VALUES('old-failed','a','inline','done',NULL,NULL,'"A"',NULL,NULL,1,1,NULL,NULL,NULL,1.79659979607873511314e+09,1.79659979607873511314e+09);
INSERT INTO "steps" VALUES('old-failed','b','rpc','failed','f.b','"b"',NULL,NULL,'{"message":"down","type":"ConnectionError","stack":"...","code":null}',1,1,NULL,NULL,NULL,1.7965997960789237023e+09,1.79659979607919120794e+09);
INSERT INTO "steps" VALUES('old-done','a','inline','done',NULL,NULL,'"A"',NULL,NULL,1,1,NULL,NULL,NULL,1.79659979607941222186e+09,1.79659979607941222186e+09);
CREATE INDEX runs_by_workflow ON runs (workflow, status, created_at);
CREATE INDEX runs_by_status ON runs (status, created_at);
CREATE INDEX runs_by_created ON runs (created_at);
CREATE INDEX jobs_by_due ON jobs (run_at);
CREATE INDEX jobs_by_queue_priority ON jobs (queue, priority, run_at, id);
CREATE INDEX jobs_by_priority ON jobs (priority, run_at, id);
CREATE UNIQUE INDEX jobs_waiting_by_key ON jobs (queue, key) WHERE key IS NOT NULL AND lease_until IS NULL;
DELETE FROM "sqlite_sequence";
INSERT INTO "sqlite_sequence" VALUES('jobs',2);
COMMIT;
