"""A small app for the scale test: every rpc body records its execution in a PostgreSQL table."""
