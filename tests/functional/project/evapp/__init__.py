"""Workflows that wait for events, for the tests that kill real worker processes."""
