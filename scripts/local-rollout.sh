#!/usr/bin/env bash
# THE main job on a fresh clone: the local stack (3 nats-server processes on this machine) comes up at the oldest
# pinned version, a version bump shows its per-member plan in `pulumi preview`, and `pulumi up` performs the rolling
# upgrade with live progress; the final state and report are printed.
#
# Re-runnable: a second run finds the stack; if the cluster already runs the newer version it is first rolled back
# to the older one (a downgrade goes the same safe path), so every run shows the same upgrade.
# Without a Pulumi engine (PULUMI_ENGINE_STATUS not "ok") it drives the same RollingUpgrade provider code directly
# (dist/scripts/local-rollout-direct.js) and says so.
#
# Environment: NATS_CLUSTER_CACHE (tool cache, default ~/.cache/nats-cluster), PULUMI_BACKEND_URL (default a file
# backend in .state/pulumi), PULUMI_CONFIG_PASSPHRASE (default a local demo passphrase: the local stack holds no
# secret unless you add one).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
say() { printf '\n\033[1m[local-rollout] %s\033[0m\n' "$*"; }

say "provisioning (idempotent): Node.js, npm packages, nats-server binaries, the Pulumi engine"
bash "$repo/scripts/provision.sh"
# shellcheck disable=SC1091
source "${NATS_CLUSTER_CACHE:-$HOME/.cache/nats-cluster}/env.sh"
cd "$repo"

# shellcheck source=../versions.env
source "$repo/versions.env"
read -r -a pinned <<<"$NATS_SERVER_VERSIONS"
old="${pinned[0]}"
new="${pinned[${#pinned[@]}-1]}"

say "building the TypeScript (the provider require()s the engine's compiled JavaScript in dist/)"
npm run --silent build

if [ "${PULUMI_ENGINE_STATUS:-}" != "ok" ] || ! command -v pulumi >/dev/null; then
  say "no Pulumi engine here (${PULUMI_ENGINE_STATUS:-pulumi not on PATH}): running the same RollingUpgrade provider directly"
  exec node "$repo/dist/scripts/local-rollout-direct.js" "$old" "$new"
fi

export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://$repo/.state/pulumi}"
case "$PULUMI_BACKEND_URL" in file://*) mkdir -p "${PULUMI_BACKEND_URL#file://}" ;; esac
# The demo default is printed in the teardown hint; a passphrase of your own never is.
if [ -z "${PULUMI_CONFIG_PASSPHRASE+set}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
  export PULUMI_CONFIG_PASSPHRASE=local-demo-passphrase
  passphrase_hint=local-demo-passphrase
else
  passphrase_hint='<your passphrase>'
fi
# `npm run build` type-checked the program already: the language host only needs to transpile it.
export PULUMI_NODEJS_TRANSPILE_ONLY=true
run() { printf '\n\033[36m$ %s\033[0m\n' "$*"; "$@"; }

say "pulumi $(pulumi version), state in $PULUMI_BACKEND_URL"
run pulumi stack select --create local --non-interactive

# A re-run: make the state match the servers first (they may have stopped, or run the newer version already).
if pulumi stack export --non-interactive 2>/dev/null | grep -q ':RollingUpgrade::'; then
  say "the stack exists from an earlier run: refreshing it from what the servers report"
  run pulumi refresh --yes --non-interactive --skip-preview
  current="$(pulumi stack output versions --json --non-interactive 2>/dev/null || echo '{}')"
  echo "servers now: $current"
  if printf '%s' "$current" | grep -q "\"$new\""; then
    say "the cluster runs $new from an earlier run: rolling it back to $old first (a downgrade takes the same safe path)"
  fi
fi

say "1/4 the cluster at nats-server $old: \`pulumi up\` (first run: 3 members come up; re-run: back to $old if needed)"
run pulumi config set nats-cluster:version "$old" --non-interactive
run pulumi up --yes --non-interactive

say "2/4 the version bump: \`pulumi config set nats-cluster:version $new\`, then \`pulumi preview\` shows the rollout plan"
run pulumi config set nats-cluster:version "$new" --non-interactive
run pulumi preview --non-interactive

say "3/4 \`pulumi up\`: the rolling upgrade, with live progress"
run pulumi up --yes --non-interactive

say "4/4 the final state and report"
run pulumi stack output --json --non-interactive

cat <<EOF

[local-rollout] done: the local cluster runs nats-server $new. stacks/Pulumi.local.yaml now says version $new, as
after any operator's bump (plus the encryptionsalt line Pulumi adds for the stack's passphrase); the next run of this
script rolls the cluster back to $old first, then upgrades it again.
  clients:   nats://127.0.0.1:4222, nats://127.0.0.1:4333, nats://127.0.0.1:4555
  try:       pulumi config set nats-cluster:version $old && pulumi preview    (a downgrade plan)
To tear it down (stops every nats-server process and removes .state/local/servers):
  source ${NATS_CLUSTER_CACHE:-$HOME/.cache/nats-cluster}/env.sh
  export PULUMI_BACKEND_URL=$PULUMI_BACKEND_URL PULUMI_CONFIG_PASSPHRASE=$passphrase_hint
  pulumi destroy --yes --stack local
EOF
