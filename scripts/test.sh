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
# Two pytest-xdist workers, each test file kept on one worker (module fixtures and the projects a file
# prebuilds are not shared between processes): much of the suite waits on subprocesses, leases and
# servers, so even 2 cores run it in about 60% of the time. `-n 0` after it runs everything in one process.
exec .venv/bin/pytest -n 2 --dist loadfile "$@"
