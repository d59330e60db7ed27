-- The schema as pikku created it before keyed jobs (schema version 2): the two migrations of
-- src/pikku/backends/postgres/database.py at d22d587, verbatim, as that code ran them ({s} is the
-- quoted schema name), followed by its version table. tests/backends/test_pg_migrations.py starts an
-- upgrade from here.
CREATE SCHEMA {s};
CREATE TABLE {s}.runs (
    run_id text PRIMARY KEY,
    workflow text NOT NULL,
    status text NOT NULL,
    input_json text NOT NULL,
    output_json text,
    error_json text,
    lock_owner text,
    lock_until float8,
    created_at float8 NOT NULL,
    updated_at float8 NOT NULL,
    seq bigint GENERATED ALWAYS AS IDENTITY
) WITH (fillfactor = 90);
-- list_runs: (workflow, status) and (status) slices, each already in newest-first order.
CREATE INDEX runs_by_workflow ON {s}.runs (workflow, status, created_at, seq);
CREATE INDEX runs_by_status ON {s}.runs (status, created_at, seq);

CREATE TABLE {s}.steps (
    run_id text NOT NULL REFERENCES {s}.runs (run_id) ON DELETE CASCADE,
    name text NOT NULL,
    seq bigint GENERATED ALWAYS AS IDENTITY,
    form text NOT NULL,
    status text NOT NULL,
    rpc_name text,
    data_json text,
    result_json text,
    result_type text,
    error_json text,
    attempts integer NOT NULL DEFAULT 0,
    max_attempts integer NOT NULL DEFAULT 1,
    wake_at float8,
    lease_owner text,
    lease_until float8,
    created_at float8 NOT NULL,
    updated_at float8 NOT NULL,
    PRIMARY KEY (run_id, name)
) WITH (fillfactor = 80);

CREATE TABLE {s}.step_attempts (
    run_id text NOT NULL,
    name text NOT NULL,
    attempt integer NOT NULL,
    started_at float8 NOT NULL,
    ended_at float8,
    error_json text,
    PRIMARY KEY (run_id, name, attempt),
    FOREIGN KEY (run_id, name) REFERENCES {s}.steps (run_id, name) ON DELETE CASCADE
);

-- Claims only touch attempts/owner/locked_until, none of them indexed, so with free space on the
-- page (fillfactor) a claim or extend is a HOT update: no index writes. Jobs churn (insert, claim,
-- delete), so autovacuum runs early to keep dead entries off the head of jobs_due.
CREATE TABLE {s}.jobs (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue text NOT NULL,
    payload text NOT NULL,
    run_at float8 NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    owner text,
    locked_until float8
) WITH (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.02);
CREATE INDEX jobs_due ON {s}.jobs (queue, run_at, id);
ALTER TABLE {s}.jobs ADD COLUMN priority float8;
UPDATE {s}.jobs SET priority = run_at;
ALTER TABLE {s}.jobs ALTER COLUMN priority SET NOT NULL;
CREATE INDEX jobs_claim ON {s}.jobs (queue, priority, run_at, id);
CREATE TABLE {s}.pikku_schema_version (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());
INSERT INTO {s}.pikku_schema_version (version) VALUES (1), (2);
