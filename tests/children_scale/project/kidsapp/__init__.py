"""A small app for the child-workflow scale test: every rpc body appends its execution to a ledger file."""
