#!/usr/bin/env bash
# Run the backend contract suite and the CLI error tests (every `pikku` command parses its options) with
# every direct dependency at the lowest version pyproject.toml allows (scripts/lowest-requirements.txt,
# hash-pinned), so the ranges users install from stay true.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_uv.sh
[ -x .venv-lowest/bin/python ] || "$uv" venv --quiet --python "$(command -v python3)" .venv-lowest
"$uv" pip sync --quiet --python .venv-lowest --require-hashes scripts/lowest-requirements.txt
"$uv" pip install --quiet --python .venv-lowest --no-deps -e .
exec .venv-lowest/bin/pytest tests/contract tests/cli/test_cli_errors.py -q -p no:cacheprovider "$@"
