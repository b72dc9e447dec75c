#!/usr/bin/env bash
# One idempotent provisioning command for a fresh clone (used by the README's commands and by .ci/run). It installs
# only what the command at hand needs, chosen with --for (default: test, everything):
#
#   --for unit   Node.js >= 22 and the npm packages: all `npm run test:unit` needs (no Go, no nats-server, no root)
#   --for local  + the system tools (openssl, tar, sha256sum, sh), nats-server at the oldest and the newest pinned
#                version (the two the main job moves between) and the Pulumi engine: scripts/local-rollout.sh
#   --for lab    + the lab's host tools and VM image (root only): scripts/lab-rollout.sh
#   --for test   everything: every pinned nats-server, natscli, node_exporter (served by the lab's release server for
#                the exporter test), the lab and the Pulumi engine, as the full suite and CI need (scripts/test.sh, .ci/run)
#
# Downloads and builds go to a versioned cache outside the repo ($NATS_CLUSTER_CACHE, default ~/.cache/nats-cluster);
# nothing depends on that cache existing: a fresh machine builds it all again, and a cache somewhere else (e.g.
# NATS_CLUSTER_CACHE=/tmp/cold-cache) is a cold run. Each step prints its time since the start.
# It ends by writing $NATS_CLUSTER_CACHE/env.sh, which the other scripts source. What this profile did not provision
# is reported there as found in the cache (PULUMI_ENGINE_STATUS, LAB_STATUS), so a narrow run never hides, nor claims,
# what an earlier wider one built.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

profile=test
while [ $# -gt 0 ]; do
  case "$1" in
    --for) [ $# -ge 2 ] || usage; profile="$2"; shift ;;
    --for=*) profile="${1#--for=}" ;;
    -h|--help) usage ;;
    *) echo "provision: unknown argument '$1'" >&2; usage ;;
  esac
  shift
done
# What each profile installs, in the order below. A profile is a list of parts; `wants PART` asks for one.
case "$profile" in
  unit) parts="node npm" ;;
  local) parts="system node npm nats-server pulumi" ;;
  lab) parts="system node npm nats-server lab pulumi" ;;
  test) parts="system node npm nats-server natscli node-exporter lab pulumi" ;;
  *) echo "provision: --for $profile: use unit, local, lab or test" >&2; exit 2 ;;
esac
wants() { [[ " $parts " == *" $1 "* ]]; }

# shellcheck source=../versions.env
source "$repo/versions.env"
read -r -a pinned <<<"$NATS_SERVER_VERSIONS"
if [ "$profile" = test ]; then
  nats_versions="$NATS_SERVER_VERSIONS"
else
  # The main jobs (local-rollout.sh, lab-rollout.sh) move a cluster between the oldest and the newest pinned version.
  nats_versions="${pinned[0]} ${pinned[${#pinned[@]}-1]}"
fi
cache="${NATS_CLUSTER_CACHE:-$HOME/.cache/nats-cluster}"
mkdir -p "$cache"
started=$SECONDS
step() { printf '[provision %3ds] %s\n' "$((SECONDS - started))" "$*"; }
shown_parts="$parts"; wants nats-server && shown_parts="${parts/nats-server/nats-server $nats_versions,}"
step "for $profile: $shown_parts (cache $cache)"

export PATH="/usr/local/go/bin:$PATH"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

# --- system tools the tests call --------------------------------------------------------------
# openssl makes the TLS test's certificates; tar and sha256sum build and check release-shaped tarballs; sh runs the
# user data's install snippet. A fresh Debian machine normally has them all; when one is missing it comes from
# Debian's packages (reachable here), so no test fails for a tool nobody installed.
# (Not for the unit tier: a unit test starts no process.)
if wants system; then
  missing_pkgs=()
  for tool_pkg in openssl:openssl tar:tar sha256sum:coreutils sh:dash; do
    command -v "${tool_pkg%%:*}" >/dev/null || missing_pkgs+=("${tool_pkg#*:}")
  done
  if [ "${#missing_pkgs[@]}" -gt 0 ]; then
    step "system tools: installing ${missing_pkgs[*]} from Debian's packages"
    sudo_cmd=(); [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq && "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing_pkgs[@]}" >/dev/null \
      || { echo "provision: could not install ${missing_pkgs[*]} (apt-get install -y ${missing_pkgs[*]})" >&2; exit 1; }
  fi
  step "system tools: $(openssl version | cut -d' ' -f1-2), tar $(tar --version | head -1 | awk '{print $NF}'), sha256sum, sh"
fi

# --- Node.js >= NODE_MIN_MAJOR ------------------------------------------------------------
node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
node_bin_dir=""
if command -v node >/dev/null && [ "$(node_major node)" -ge "$NODE_MIN_MAJOR" ]; then
  node_bin_dir="$(dirname "$(command -v node)")"
  step "node $(node --version) on PATH is >= $NODE_MIN_MAJOR: using it"
else
  node_dir="$cache/node/v$NODE_VERSION"
  if [ -x "$node_dir/node_modules/node/bin/node" ]; then
    step "node v$NODE_VERSION: cached in $node_dir"
  else
    command -v npm >/dev/null || { echo "provision: npm is needed to fetch Node.js from the npm registry (apt-get install -y npm)" >&2; exit 1; }
    step "node: machine has $(node --version 2>/dev/null || echo none), installing node@$NODE_VERSION from the npm registry into $node_dir"
    mkdir -p "$node_dir"
    # The `node` package's preinstall fetches the platform binary package from the npm registry.
    npm install --prefix "$node_dir" --no-save --no-audit --no-fund --loglevel=error "node@$NODE_VERSION" >/dev/null
  fi
  node_bin_dir="$node_dir/node_modules/node/bin"
  [ "$(node_major "$node_bin_dir/node")" -ge "$NODE_MIN_MAJOR" ] || { echo "provision: $node_bin_dir/node is not Node >= $NODE_MIN_MAJOR" >&2; exit 1; }
fi
export PATH="$node_bin_dir:$PATH"
step "node $(node --version), npm $(npm --version)"

# --- npm packages ---------------------------------------------------------------------------
stamp="$repo/node_modules/.provision-lock-sha"
lock_sha="$(sha256sum "$repo/package-lock.json" | cut -d' ' -f1)-$(node --version)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$lock_sha" ]; then
  step "npm packages: node_modules matches package-lock.json"
else
  step "npm packages: npm ci"
  (cd "$repo" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_sha" > "$stamp"
fi

# --- Pulumi engine (time-boxed: tests that need it skip with the reason when it is missing) --
# Its first build is the longest step (the CLI from the Go module proxy: minutes on 2 cores), so it starts here, in
# the background, as soon as the npm packages its smoke check needs are in, and runs beside the nats-server builds,
# natscli and the lab's image (downloads and single-threaded links leave cores idle there). Its lines are shown as
# they come, prefixed `pulumi |`; the status is waited for before env.sh is written.
pulumi_status="ok"
pulumi_dir="$cache/pulumi/v$PULUMI_VERSION"
pulumi_pid=""
if [ "${SKIP_PULUMI_ENGINE:-}" = "1" ]; then
  pulumi_status="skipped: SKIP_PULUMI_ENGINE=1"
  step "pulumi engine: $pulumi_status"
elif ! wants pulumi; then
  # Ready when an earlier run built it and its smoke check passed (provision-pulumi.sh writes smoke-ok last).
  smoke_ok="$(head -n 1 "$pulumi_dir/smoke-ok" 2>/dev/null || true)"
  if [ -x "$pulumi_dir/bin/pulumi" ] && [ "${smoke_ok%% *}" = "v$PULUMI_VERSION" ]; then
    step "pulumi engine: not in this profile (ready from an earlier run)"
  else
    pulumi_status="not provisioned: bash scripts/provision.sh --for local"
    step "pulumi engine: not in this profile"
  fi
else
  pulumi_started=$((SECONDS - started))
  step "pulumi engine: bash scripts/provision-pulumi.sh, in the background (first build of the CLI takes minutes; log in $cache/provision-pulumi.log)"
  # pipefail makes the subshell's status the script's own.
  (bash "$repo/scripts/provision-pulumi.sh" 2>&1 | tee "$cache/provision-pulumi.log" | sed -u 's/^/  pulumi | /') &
  pulumi_pid=$!
fi

# --- nats-server: every pinned version (test), or the main jobs' two --------------------------
go_install() { # module@version into dir, unless the binary is there
  local pkg="$1" dir="$2" bin="$3"
  if [ -x "$dir/$bin" ]; then return 0; fi
  mkdir -p "$dir"
  # GOGC=400: the compiler collects garbage less often; a cold nats-server build took 16 % less CPU (62 s against
  # 75 s, the median of 3) for 1.5 GB of memory at its peak instead of 1.15 GB. Same binary.
  GOBIN="$dir" GOGC=400 nice -n 5 go install "$pkg" || { echo "provision: 'go install $pkg' failed" >&2; exit 1; }
}
if wants nats-server; then
  for v in $nats_versions; do
    dir="$cache/nats-server/v$v"
    if [ -x "$dir/nats-server" ]; then step "nats-server v$v: cached"; else
      step "nats-server v$v: go install github.com/nats-io/nats-server/v2@v$v"
      go_install "github.com/nats-io/nats-server/v2@v$v" "$dir" nats-server
    fi
    reported="$("$dir/nats-server" --version)"
    case "$reported" in *"v$v"*) ;; *) echo "provision: $dir/nats-server reports '$reported', expected v$v" >&2; exit 1;; esac
  done
  step "nats-server: $(for v in $nats_versions; do printf 'v%s ' "$v"; done)checked with --version"
fi

# --- natscli (test only: neither main job calls it) ------------------------------------------
nats_dir="$cache/natscli/v$NATSCLI_VERSION"
if wants natscli; then
  if [ -x "$nats_dir/nats" ]; then step "natscli v$NATSCLI_VERSION: cached"; else
    step "natscli v$NATSCLI_VERSION: go install github.com/nats-io/natscli/nats@v$NATSCLI_VERSION"
    go_install "github.com/nats-io/natscli/nats@v$NATSCLI_VERSION" "$nats_dir" nats
  fi
  "$nats_dir/nats" --version >/dev/null
fi

# --- node_exporter (test only: the lab's release server serves it as the exporter the lab test installs) --------
if wants node-exporter; then
  exporter_dir="$cache/node_exporter/v$NODE_EXPORTER_VERSION"
  if [ -x "$exporter_dir/node_exporter" ]; then step "node_exporter v$NODE_EXPORTER_VERSION: cached"; else
    step "node_exporter v$NODE_EXPORTER_VERSION: go install github.com/prometheus/node_exporter@v$NODE_EXPORTER_VERSION"
    go_install "github.com/prometheus/node_exporter@v$NODE_EXPORTER_VERSION" "$exporter_dir" node_exporter
  fi
  "$exporter_dir/node_exporter" --version >/dev/null 2>&1 || { echo "provision: $exporter_dir/node_exporter does not run" >&2; exit 1; }
fi

# --- the lab: real systemd VMs on this machine (scripts/lab.sh; the ssh platform's and fault tests' hosts) ----
# Root only (network namespaces, systemd-nspawn, loop devices). Installs systemd-container, debootstrap, nftables,
# openssh-client and iproute2 from Debian's packages when missing, then builds the VM image once into
# $cache/lab (debootstrap; about a minute). Not fatal: the lab tests skip and say why when it cannot be done.
# Outside the lab and test profiles nothing is installed: the status says whether an earlier run left the lab ready.
lab_ready() ( # the host tools on PATH and the image of the current definition built (what `lab.sh prepare` ensures)
  # shellcheck source=lab/common.sh
  source "$repo/scripts/lab/common.sh"
  # shellcheck source=lab/image.sh
  source "$repo/scripts/lab/image.sh"
  for pair in "${lab_host_tools[@]}"; do command -v "${pair%%:*}" >/dev/null || exit 1; done
  [ -d "$(lab_image_dir)" ]
)
lab_status="ok"
if ! wants lab; then
  lab_status="not provisioned: bash scripts/provision.sh --for lab (root)"
  if [ "${SKIP_LAB:-}" = "1" ]; then lab_status="skipped: SKIP_LAB=1"
  elif [ "$(id -u)" -eq 0 ] && lab_ready; then lab_status="ok"
  fi
elif [ "${SKIP_LAB:-}" = "1" ]; then
  lab_status="skipped: SKIP_LAB=1"
elif [ "$(id -u)" -ne 0 ]; then
  lab_status="skipped: not root (the lab needs root for network namespaces, systemd-nspawn and loop devices)"
elif ! command -v systemd-nspawn >/dev/null && ! command -v apt-get >/dev/null; then
  lab_status="skipped: no systemd-nspawn and no apt-get to install systemd-container"
fi
if ! wants lab; then
  step "lab: not in this profile ($([ "$lab_status" = ok ] && echo "ready from an earlier run" || echo "$lab_status"))"
elif [ "$lab_status" = ok ]; then
  lab_started=$SECONDS
  step "lab: host tools and VM image (bash scripts/lab.sh prepare; log in $cache/lab-prepare.log)"
  if bash "$repo/scripts/lab.sh" prepare 2>&1 | tee "$cache/lab-prepare.log" | sed -u 's/^/  | /'; then
    step "lab: ready in $((SECONDS - lab_started))s"
  else
    lab_status="failed: bash scripts/lab.sh prepare (last lines: $(tail -n 3 "$cache/lab-prepare.log" | tr '\n' ' '))"
    step "lab: FAILED (the lab tests will skip and say why), see $cache/lab-prepare.log"
  fi
else
  step "lab: $lab_status"
fi

# --- Pulumi engine: waited for here; started in the background after the npm packages (see above) --------------
if [ -n "$pulumi_pid" ]; then
  step "pulumi engine: waiting for its build (started at ${pulumi_started}s)"
  if wait "$pulumi_pid"; then
    step "pulumi engine: ready ($((SECONDS - started - pulumi_started))s after it started)"
  else
    pulumi_status="failed: bash scripts/provision-pulumi.sh (last lines: $(tail -n 3 "$cache/provision-pulumi.log" | tr '\n' ' '))"
    step "pulumi engine: FAILED (tests that need it will skip and say why), see $cache/provision-pulumi.log"
  fi
fi

# --- environment for the other scripts ------------------------------------------------------
# Written whole, then renamed: another command's provisioning may be sourcing it right now.
cat > "$cache/env.sh.$$" <<ENV
# Written by scripts/provision.sh --for $profile; sourced by scripts/test.sh and scripts/local-rollout.sh.
export PATH="$node_bin_dir:$pulumi_dir/bin:$nats_dir:/usr/local/go/bin:\$PATH"
export NATS_CLUSTER_CACHE="$cache"
export NATS_SERVER_BIN_CACHE="$cache/nats-server"
export NATSCLI_BIN="$nats_dir/nats"
export PULUMI_ENGINE_STATUS="$pulumi_status"
export LAB_STATUS="$lab_status"
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK=true
ENV
mv -f "$cache/env.sh.$$" "$cache/env.sh"
step "done ($profile): environment in $cache/env.sh"
