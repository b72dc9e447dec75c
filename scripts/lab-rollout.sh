#!/usr/bin/env bash
# The second main job: the lab stack (stacks/Pulumi.lab.yaml: platform ssh, 3 members + a surge server on real
# systemd VMs of the lab, seed-server routes) through the real Pulumi engine: lab up, `pulumi up` at the oldest pinned
# version, a version bump with its plan in `pulumi preview`, the rolling upgrade, the report, a downgrade back.
#
# It runs its own stack, `lab-demo` (its file, made from the committed lab one, is ignored by git): what only a
# running lab knows (each VM's host key, the lab's SSH key) goes there, so `git status` stays clean. The cluster and
# the lab stay up afterwards; tear them down with the commands printed at the end.
# Needs root (network namespaces, systemd-nspawn); scripts/provision.sh prepares the lab's image.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
stack=lab-demo
say() { printf '\n\033[1m[lab-rollout] %s\033[0m\n' "$*"; }

say "provisioning (idempotent): Node.js, npm packages, nats-server (its two versions), the Pulumi engine, the lab"
bash "$repo/scripts/provision.sh" --for lab
# shellcheck disable=SC1091
source "${NATS_CLUSTER_CACHE:-$HOME/.cache/nats-cluster}/env.sh"
cd "$repo"
if [ "${PULUMI_ENGINE_STATUS:-}" != "ok" ] || ! command -v pulumi >/dev/null; then
  echo "lab-rollout: no Pulumi engine here (${PULUMI_ENGINE_STATUS:-pulumi not on PATH}); see scripts/provision.sh" >&2
  exit 1
fi
if [ "${LAB_STATUS:-}" != "ok" ]; then
  echo "lab-rollout: the lab cannot run here (${LAB_STATUS:-unknown}); it needs root and systemd-nspawn" >&2
  exit 1
fi

# shellcheck source=../versions.env
source "$repo/versions.env"
read -r -a pinned <<<"$NATS_SERVER_VERSIONS"
old="${pinned[0]}"
new="${pinned[${#pinned[@]}-1]}"

say "building the TypeScript (the provider require()s the engine's compiled JavaScript in dist/)"
npm run --silent build

# The committed stack file's addresses are the default lab's: 10.213.0.0/24, VMs .11-.14.
export LAB_NAME=natslab LAB_VMS=4 LAB_SUBNET=10.213.0
say "the lab: 4 systemd VMs (3 members + the surge server) on $LAB_SUBNET.0/24"
bash "$repo/scripts/lab.sh" up
lab_json="/var/lib/nats-cluster-lab/$LAB_NAME/lab.json"
ssh_key="$(node -p "require('$lab_json').sshKey")"
known_hosts="$(node -p "require('$lab_json').knownHosts")"

# shellcheck source=demo-stack.sh
source "$repo/scripts/demo-stack.sh"
stack_file="$(demo_stack_file "$stack" lab)"
demo_backend lab-demo-passphrase

say "pulumi $(pulumi version), state in $PULUMI_BACKEND_URL"
run pulumi stack select --create "$stack" --non-interactive

say "pinning each VM's host key (made at its first boot) and setting the lab's SSH key as a secret"
for pair in nats-a:11 nats-b:12 nats-c:13 nats-surge:14; do
  server="${pair%%:*}"
  key="$(awk -v ip="$LAB_SUBNET.${pair#*:}" '$2 == "ssh-ed25519" { split($1, names, ","); for (i in names) if (names[i] == ip) { print $2 " " $3; exit } }' "$known_hosts")"
  [ -n "$key" ] || { echo "lab-rollout: no ed25519 host key for $LAB_SUBNET.${pair#*:} in $known_hosts" >&2; exit 1; }
  pulumi config set --path "nats-cluster:ssh.hostKeys.$server" "$key" --non-interactive
done
pulumi config set --secret nats-cluster:sshPrivateKey --non-interactive <"$ssh_key"
say "pinning the SHA-256 of each release tarball: the lab's release server is plain http, so the VMs check the pins"
node -e '
  const pins = require(process.argv[1]).releaseSha256;
  for (const [version, byArch] of Object.entries(pins))
    for (const [arch, sha] of Object.entries(byArch)) console.log(`${version} ${arch} ${sha}`);
' "$lab_json" | while read -r version arch sha; do
  pulumi config set --path "nats-cluster:ssh.releaseSha256[\"$version\"].$arch" "$sha" --non-interactive
done
say "the demo's credentials (random, Pulumi secrets) and monitoring through the system account; TLS comes from the stack"
demo_credentials

say "1/5 the cluster at nats-server $old on the lab's VMs: \`pulumi up\`"
run pulumi config set nats-cluster:version "$old" --non-interactive
run pulumi up --yes --non-interactive

say "2/5 the version bump: \`pulumi config set nats-cluster:version $new\`, then \`pulumi preview\` shows the plan"
run pulumi config set nats-cluster:version "$new" --non-interactive
run pulumi preview --non-interactive

say "3/5 \`pulumi up\`: the rolling upgrade over SSH, with live progress"
run pulumi up --yes --non-interactive

say "4/5 the report, and what each VM's systemd says"
run pulumi stack output lastRolloutReport --non-interactive
for vm in 1 2 3 4; do
  printf '%s: nats-server unit %s\n' "$LAB_NAME-vm$vm" "$(bash "$repo/scripts/lab.sh" exec "$vm" systemctl is-active nats-server 2>/dev/null || true)"
done

say "5/5 the downgrade back to $old: the same safe path"
run pulumi config set nats-cluster:version "$old" --non-interactive
run pulumi up --yes --non-interactive
run pulumi stack output versions --non-interactive

cat <<EOT

[lab-rollout] done: the lab's cluster runs nats-server $old on $LAB_SUBNET.11-13 (stack $stack; its file
$stack_file is ignored by git). The lab and the cluster stay up.
  clients:   $(pulumi stack output clientUrl --non-interactive 2>/dev/null || echo "nats://$LAB_SUBNET.11:4222,…")
To tear it down:
  source ${NATS_CLUSTER_CACHE:-$HOME/.cache/nats-cluster}/env.sh
  export PULUMI_BACKEND_URL=$PULUMI_BACKEND_URL PULUMI_CONFIG_PASSPHRASE=$passphrase_hint
  pulumi destroy --yes --stack $stack     # stops nats-server on every VM (lame duck first)
  bash scripts/lab.sh down                # removes the VMs, namespaces, links and the release server
EOT
