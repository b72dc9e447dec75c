#!/usr/bin/env bash
# The README's test command: provision (idempotent) then run every jest test against real nats-servers.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$repo/scripts/provision.sh"
# shellcheck disable=SC1091
source "${NATS_CLUSTER_CACHE:-$HOME/.cache/nats-cluster}/env.sh"
cd "$repo"
echo "[test] building the engine's JavaScript (the Pulumi provider require()s it)"
npm run --silent build
echo "[test] pulumi engine: $PULUMI_ENGINE_STATUS"
exec npx jest --runInBand "$@"
