#!/usr/bin/env bash
# Set up and run the example app end to end on the embedded default (SQLite):
# prebuild, a worker process, a remote run (onboarding) and an inline run (invoice), with steps and output.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev,fast
pikku=.venv/bin/pikku

echo "== pikku prebuild"
$pikku prebuild

mkdir -p .pikku-data
echo "== pikku worker (background)"
$pikku worker --concurrency 4 > .pikku-data/worker.log 2>&1 &
worker=$!
trap 'kill -TERM $worker 2>/dev/null || true; wait $worker 2>/dev/null || true; ' EXIT

echo "== onboarding (remote: steps run on the worker, with a durable 5s sleep)"
$pikku start onboarding '{"email": "ada@example.eu"}' --wait --timeout 60

echo "== invoice (inline: every step runs in this process)"
$pikku start invoice '{"order_id": "o-1", "customer_email": "bo@example.com",
  "items": [{"sku": "apple", "quantity": 3, "unit_price": 0.5}, {"sku": "pear", "quantity": 1, "unit_price": 2.25}]}' --wait

echo "== pikku runs list"
$pikku runs list --limit 5
echo "== pikku runs show (the onboarding run)"
$pikku runs show "$($pikku runs list --workflow onboarding --limit 1 --json | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["runs"][0]["run_id"])')"

kill -TERM $worker
wait $worker || true
echo "== worker log"
cat .pikku-data/worker.log
