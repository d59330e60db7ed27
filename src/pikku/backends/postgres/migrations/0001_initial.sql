-- Runs, steps, step attempts and jobs. Applied with search_path set to the schema being migrated, so
-- every name here lands in (and refers to) that schema. Values are JSON *text* (byte-faithful), times
-- are float8 epoch seconds.
CREATE TABLE runs (
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
CREATE INDEX runs_by_workflow ON runs (workflow, status, created_at, seq);
CREATE INDEX runs_by_status ON runs (status, created_at, seq);

CREATE TABLE steps (
    run_id text NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
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

CREATE TABLE step_attempts (
    run_id text NOT NULL,
    name text NOT NULL,
    attempt integer NOT NULL,
    started_at float8 NOT NULL,
    ended_at float8,
    error_json text,
    PRIMARY KEY (run_id, name, attempt),
    FOREIGN KEY (run_id, name) REFERENCES steps (run_id, name) ON DELETE CASCADE
);

-- Claims only touch attempts/owner/locked_until, none of them indexed, so with free space on the
-- page (fillfactor) a claim or extend is a HOT update: no index writes. Jobs churn (insert, claim,
-- delete), so autovacuum runs early to keep dead entries off the head of jobs_due.
CREATE TABLE jobs (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue text NOT NULL,
    payload text NOT NULL,
    run_at float8 NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    owner text,
    locked_until float8
) WITH (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.02);
CREATE INDEX jobs_due ON jobs (queue, run_at, id);
