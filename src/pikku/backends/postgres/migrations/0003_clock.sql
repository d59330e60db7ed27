-- The database's clock as epoch seconds, the one time every statement writes and compares: stable
-- within a statement (statement_timestamp()), so a statement that writes and compares in several places
-- sees one instant, and workers on many hosts agree on leases and due times whatever their own clocks
-- say. A single-expression SQL function without SET clauses: the planner inlines it, so it costs what
-- the expression costs.
CREATE FUNCTION pikku_now() RETURNS float8
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT extract(epoch FROM statement_timestamp())::float8 $$;
