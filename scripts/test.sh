#!/usr/bin/env bash
# The README's test command: provision (idempotent) then run every jest test against real nats-servers.
# Extra arguments go to jest (e.g. `bash scripts/test.sh test/rollout`).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$repo/scripts/provision.sh"
# shellcheck disable=SC1091
source "${NATS_CLUSTER_CACHE:-$HOME/.cache/nats-cluster}/env.sh"
cd "$repo"
echo "[test] building the engine's JavaScript (the Pulumi provider require()s it)"
npm run --silent build
echo "[test] lint: eslint (typescript-eslint) and prettier (lines <= 120)"
npm run --silent lint
echo "[test] pulumi engine: $PULUMI_ENGINE_STATUS"
results="$(mktemp)"
status=0
npx jest --runInBand --json --outputFile="$results" "$@" || status=$?
# A plain closing line that any CI reader understands: "jest: N passed, N failed, N skipped".
node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); console.log(`jest: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests} skipped`)' "$results" || true
rm -f "$results"
exit "$status"
