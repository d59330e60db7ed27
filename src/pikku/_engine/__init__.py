"""The replay engine: drives runs, executes steps, hands off between queue workers."""
