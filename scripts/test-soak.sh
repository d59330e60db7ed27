#!/usr/bin/env bash
# Set up the locked environment and run the tests marked `soak`, which scripts/test.sh leaves out: the chaos
# suite (tests/chaos: worker kills and churn on SQLite, PostgreSQL and Redis; its last scenario RESTARTS the
# PostgreSQL server and drops every Redis client, so run it only where nobody else uses them), the 15-second
# soak smoke test, and the multi-worker scale, children-scale and schedule-workers tests (these six took 51 s
# on 2 cores; the chaos suite adds several minutes). The long soak stays by hand: python -m tests.chaos.soak.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev,postgres,redis,fast
exec .venv/bin/pytest -m soak "$@"
