"""Benchmarks of pikku against DBOS Transact and the database's own limit: ``python -m bench``."""
