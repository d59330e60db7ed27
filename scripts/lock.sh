#!/usr/bin/env bash
# Write the locks from pyproject.toml: uv.lock (the development, CI and bench environment that
# scripts/setup.sh installs) and scripts/lowest-requirements.txt (every direct dependency at its floor, for
# scripts/test-lowest.sh). Arguments go to `uv lock`:
#   bash scripts/lock.sh                 after editing pyproject.toml: keep every pin that still fits
#   bash scripts/lock.sh --upgrade       move every pin to the newest release the ranges allow
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_uv.sh
"$uv" lock --python "$(command -v python3)" "$@"
{
  echo "# The contract suite's environment at the LOWEST versions pyproject.toml allows (scripts/test-lowest.sh)."
  echo "# Written by scripts/lock.sh; do not edit."
  "$uv" pip compile pyproject.toml --quiet --no-header --generate-hashes --resolution lowest-direct \
    --python-version 3.11 --extra dev --extra postgres --extra redis
} > scripts/lowest-requirements.txt
