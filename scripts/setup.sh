#!/usr/bin/env bash
# Create .venv (if missing) and install pikku editable with the given extras. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-dev}"
# A venv without pip (a half-made or copied one) is made again rather than failing below.
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -m pip install --help >/dev/null 2>&1; then
  python3 -m venv --clear .venv
fi
# pip's notes about this machine's package index settings are noise here; real errors still show.
quiet() { "$@" 2> >(grep -v '^WARNING: Location' >&2); }
quiet .venv/bin/python -m pip install --quiet --upgrade pip >/dev/null
quiet .venv/bin/python -m pip install --quiet -e ".[${extras}]"
