#!/usr/bin/env bash
# The README's test command and CI's (.ci/run): provision everything (idempotent), then lint and run every jest test,
# both tiers (test/tiers.js): the unit tests and the integration tests against real nats-servers, the lab and the
# Pulumi CLI. Extra arguments go to jest (e.g. `bash scripts/test.sh test/rollout`). The unit tier alone, which needs
# only Node.js and the npm packages, is `npm run test:unit`.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$repo/scripts/provision.sh" --for test
# shellcheck disable=SC1091
source "${NATS_CLUSTER_CACHE:-$HOME/.cache/nats-cluster}/env.sh"
# Node's on-disk code cache (Node >= 22.1) for every Node process of the run: the suite starts hundreds (Pulumi
# programs, dynamic providers, the CLI under test) and the two cores are saturated. A `pulumi preview` took 13 % less
# CPU with it (3.04 s against 3.51 s, mean of 3 each). Outside the repo; a missing or stale cache only costs a compile.
export NODE_COMPILE_CACHE="${NODE_COMPILE_CACHE:-${NATS_CLUSTER_CACHE:-$HOME/.cache/nats-cluster}/node-compile-cache}"
cd "$repo"
echo "[test] building the engine's JavaScript (the Pulumi provider require()s it)"
npm run --silent build
echo "[test] lint: eslint (typescript-eslint) and prettier (lines <= 120)"
npm run --silent lint
# Jest transpiles each file alone (jest.config.js), so the tests' types are checked here, once, for the whole program.
echo "[test] types: tsc -p tsconfig.test.json --noEmit"
npx tsc -p tsconfig.test.json --noEmit
echo "[test] pulumi engine: $PULUMI_ENGINE_STATUS"
results="$(mktemp)"
status=0
# Four workers on 2 cores: the suites mostly wait (lame duck, gates, VMs booting), and each claims its own random
# ports and its own lab (name and /24, claimed under a host-wide lock), so they run side by side. Measured on fresh
# clones, warm cache: 1596 s of jest with 3 workers against 1175 s with 4 (CPU 14 % idle on average against 35 %);
# earlier, 965 s with 3 against 2149 s in band. More labs at once need more of root's inotify instances than the
# kernel's default: scripts/lab.sh raises the limit. Lab VMs boot beside other suites' VMs under load: the lab waits
# until ops (not root alone) logs in, and the ssh transport tries a host whose sshd answered until the command's
# deadline. JEST_WORKERS overrides (JEST_WORKERS=1 runs in band, for a clean per-file timing).
workers="${JEST_WORKERS:-4}"
if [ "$workers" = 1 ]; then worker_args=(--runInBand); else worker_args=(--maxWorkers="$workers"); fi
npx jest "${worker_args[@]}" --json --outputFile="$results" "$@" || status=$?
# A plain closing line that any CI reader understands: "jest: N passed, N failed, N skipped".
node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); console.log(`jest: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests} skipped`)' "$results" || true
rm -f "$results"
exit "$status"
