#!/usr/bin/env bash
# THE main job on a fresh clone: a local cluster (3 nats-server processes on this machine, the layout of
# stacks/Pulumi.local.yaml) comes up at the oldest pinned version, a version bump shows its per-member plan in
# `pulumi preview`, and `pulumi up` performs the rolling upgrade with live progress; the final state and report are
# printed.
#
# It runs its own stack, `local-demo`, whose file (stacks/Pulumi.local-demo.yaml, ignored by git) is made from the
# committed local one, so the version bump never edits a tracked file: `git status` stays clean.
# Re-runnable: a second run finds the stack; if the cluster already runs the newer version it is first rolled back to
# the older one (a downgrade goes the same safe path), so every run shows the same upgrade.
# Without a Pulumi engine (PULUMI_ENGINE_STATUS not "ok") it drives the same engine through its command line
# (dist/cli/nats-rollout.js, on the same stack file) and says so.
#
# Environment: NATS_CLUSTER_CACHE (tool cache, default ~/.cache/nats-cluster), PULUMI_BACKEND_URL (default a file
# backend in .state/pulumi), PULUMI_CONFIG_PASSPHRASE (default a local demo passphrase: the demo stack holds no
# secret unless you add one).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
stack=local-demo
say() { printf '\n\033[1m[local-rollout] %s\033[0m\n' "$*"; }

# Only what this job uses: no lab image, no natscli, no middle nats-server version (provision.sh --for local).
say "provisioning (idempotent): Node.js, npm packages, nats-server (its two versions), the Pulumi engine"
bash "$repo/scripts/provision.sh" --for local
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

# shellcheck source=demo-stack.sh
source "$repo/scripts/demo-stack.sh"
stack_file="$(demo_stack_file "$stack" local)"

if [ "${PULUMI_ENGINE_STATUS:-}" != "ok" ] || ! command -v pulumi >/dev/null; then
  say "no Pulumi engine here (${PULUMI_ENGINE_STATUS:-pulumi not on PATH}): the same engine through its command line"
  cli=(node "$repo/dist/cli/nats-rollout.js")
  mkdir -p "$repo/.state"
  say "1/3 the cluster at nats-server $old"
  "${cli[@]}" rollout --stack-file "$stack_file" --version "$old"
  say "2/3 the plan for $new"
  "${cli[@]}" plan --stack-file "$stack_file" --version "$new"
  say "3/3 the rolling upgrade to $new"
  "${cli[@]}" rollout --stack-file "$stack_file" --version "$new" \
    --timeline "$repo/.state/local-rollout-timeline.svg" --metrics "$repo/.state/local-rollout.prom"
  echo "The rollout drawn in $repo/.state/local-rollout-timeline.svg, its figures in $repo/.state/local-rollout.prom"
  echo "To stop it: node dist/cli/nats-rollout.js stop --stack-file $stack_file --yes"
  exit 0
fi

demo_backend local-demo-passphrase

say "pulumi $(pulumi version), state in $PULUMI_BACKEND_URL"
run pulumi stack select --create "$stack" --non-interactive
say "the demo's credentials: a client password and a system-account password, made once, kept as Pulumi secrets"
demo_credentials

say "1/4 the cluster at nats-server $old: \`pulumi up\` (first run: 3 members start; a re-run heals and rolls back to $old if needed)"
run pulumi config set nats-cluster:version "$old" --non-interactive
run pulumi up --yes --non-interactive

say "2/4 the version bump: \`pulumi config set nats-cluster:version $new\`, then \`pulumi preview\` shows the rollout plan"
run pulumi config set nats-cluster:version "$new" --non-interactive
run pulumi preview --non-interactive

say "3/4 \`pulumi up\`: the rolling upgrade, with live progress (its picture and figures into .state/)"
# Where pulumi up draws the rollout and writes its Prometheus figures (not changes of the cluster: no diff).
run pulumi config set --path nats-cluster:rollout.timelineFile .state/local-rollout-timeline.svg --non-interactive
run pulumi config set --path nats-cluster:rollout.metricsFile .state/local-rollout.prom --non-interactive
run pulumi up --yes --non-interactive

say "4/4 the final state and report"
run pulumi stack output --json --non-interactive

cat <<EOT

[local-rollout] done: the local cluster runs nats-server $new (stack $stack; its file $stack_file is
ignored by git). The next run of this script rolls the cluster back to $old first, then upgrades it again.
  clients:   $(pulumi stack output clientUrl --non-interactive 2>/dev/null || echo "nats://127.0.0.1:4222,…")
  timeline:  $repo/.state/local-rollout-timeline.svg   (each member's down window, the surge server, the clients' gap)
  metrics:   $repo/.state/local-rollout.prom   (Prometheus text, for node_exporter's textfile collector)
  try:       pulumi config set nats-cluster:version $old && pulumi preview    (a downgrade plan)
To tear it down (stops every nats-server process of the demo and removes its directories):
  source ${NATS_CLUSTER_CACHE:-$HOME/.cache/nats-cluster}/env.sh
  export PULUMI_BACKEND_URL=$PULUMI_BACKEND_URL PULUMI_CONFIG_PASSPHRASE=$passphrase_hint
  pulumi destroy --yes --stack $stack
EOT
