"""Workflow names that are not Python identifiers, steps in closures, text with quotes and newlines."""
