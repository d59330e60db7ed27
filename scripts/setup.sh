#!/usr/bin/env bash
# Create .venv and install pikku (editable) with the given extras, at exactly the versions in uv.lock.
# Idempotent. Nothing newer than the lock is ever installed, so a release elsewhere cannot change the suite.
#   bash scripts/setup.sh dev,postgres     extras to install (default: dev); others are removed
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_uv.sh
extras="${1:-dev}"
extra_flags=()
IFS=',' read -ra wanted <<< "$extras"
for extra in "${wanted[@]}"; do extra_flags+=(--extra "$extra"); done
# --locked: fail (instead of re-resolving) when pyproject.toml and uv.lock disagree; CI runs this too.
UV_PROJECT_ENVIRONMENT=.venv "$uv" sync --quiet --locked --python "$(command -v python3)" "${extra_flags[@]}"
