-- The schema as pikku created it before dead jobs (schema version 4): the migration files
-- src/pikku/backends/postgres/migrations/0001..0004 at 45aafb7, verbatim, as that code ran them (with
-- search_path set to the schema being created), followed by its version table.
-- tests/backends/test_pg_migrations.py starts an upgrade from here.
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
-- Job priorities. A claim takes due jobs by (priority, run_at, id) straight off jobs_claim; jobs_due
-- stays for the next-due probe of `wait` (earliest delayed job). Existing jobs get priority = run_at.
ALTER TABLE jobs ADD COLUMN priority float8;
UPDATE jobs SET priority = run_at;
ALTER TABLE jobs ALTER COLUMN priority SET NOT NULL;
CREATE INDEX jobs_claim ON jobs (queue, priority, run_at, id);
-- The database's clock as epoch seconds, the one time every statement writes and compares: stable
-- within a statement (statement_timestamp()), so a statement that writes and compares in several places
-- sees one instant, and workers on many hosts agree on leases and due times whatever their own clocks
-- say. A single-expression SQL function without SET clauses: the planner inlines it, so it costs what
-- the expression costs.
CREATE FUNCTION pikku_now() RETURNS float8
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT extract(epoch FROM statement_timestamp())::float8 $$;
-- Keyed jobs (JobQueue.enqueue(key=), Enqueue.key): while a job with a key waits (never claimed, or
-- released: locked_until IS NULL), it is the only waiting job with that key on its queue, and an enqueue
-- with the key merges into it (INSERT ... ON CONFLICT on this index: the earlier due time, the lower
-- priority). A claimed job leaves the index, so work that arrives while it runs gets a job of its own.
-- Cost: locked_until is now part of an index's predicate, so a claim is no longer a HOT update.
ALTER TABLE jobs ADD COLUMN dedupe_key text;
CREATE UNIQUE INDEX jobs_waiting_key ON jobs (queue, dedupe_key)
    WHERE dedupe_key IS NOT NULL AND locked_until IS NULL;
CREATE TABLE pikku_schema_version (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());
INSERT INTO pikku_schema_version (version) VALUES (1), (2), (3), (4);
