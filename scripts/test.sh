#!/usr/bin/env bash
# Set up the locked environment and run the test suite: ruff, mypy --strict, pytest without the tests marked
# `soak` (scripts/test-soak.sh runs those). PostgreSQL and Redis tests skip with a reason if the servers are
# not running, except under CI=true where they must run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev,postgres,redis,fast
.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src
.venv/bin/mypy
exec .venv/bin/pytest "$@"
