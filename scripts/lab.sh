#!/usr/bin/env bash
# The lab: real systemd "VMs" on this machine. Each VM is a systemd-nspawn container booting a Debian image with its
# own writable root, its own network namespace and address on a bridge in the host's namespace; see
# scripts/lab/README.md.
#
#   scripts/lab.sh up                 build the image if needed, boot the VMs, check ssh; writes $LAB_STATE_DIR/lab.json
#   scripts/lab.sh down               remove everything the lab (or a crashed run of it) made
#   scripts/lab.sh status             each VM: running?, systemd state, ssh; exits 1 unless the lab is fully up
#   scripts/lab.sh exec VM [CMD...]   run a command inside a VM (nsenter; default: a login shell)
#   scripts/lab.sh ssh VM [CMD...]    ssh into a VM as root (LAB_SSH_USER=ops for the sudo user), host key pinned
#   scripts/lab.sh poweroff VM        kill the VM hard (its systemd and everything in it, as a VM dying)
#   scripts/lab.sh shutdown VM        halt the VM cleanly (SIGTERM to nspawn: systemd stops its units)
#   scripts/lab.sh boot VM            boot a powered-off VM again, with the same root and address
#   scripts/lab.sh recreate VM        destroy the VM and make a new one at the same address: a fresh root from the
#                                     image (new SSH host keys, no nats-server, no data), a new empty volume; boots it
#   scripts/lab.sh prepare            install the host tools and build the image (what provisioning runs)
#   scripts/lab.sh release-pins       pack the release tarballs (if needed) and print their SHA-256s as JSON,
#                                     { "<version>": { "<arch>": "<sha256>" } }: the lab's release server is plain
#                                     http, so a stack pins them (releaseSha256) and the hosts verify against the pins
#
# VM is a VM's name (natslab-vm2), its short name (vm2) or its number (2).
# Settings (environment, or --name/--vms/--subnet/--volume-mb/--volume-vms/--state-dir/--release-port before the verb):
#   LAB_NAME (natslab; 1-10 of [a-z0-9], starting with a letter: it prefixes interface names, 15 characters at most),
#   LAB_VMS (4), LAB_SUBNET (10.213.0: the /24's first three octets), LAB_VOLUME_MB (none; a loop-device volume,
#   /dev/sdf in the VM; at least 300 for mkfs.xfs), LAB_VOLUME_VMS (which VMs get it, e.g. "3" or "1 2"; default all),
#   LAB_RELEASE_PORT (8081), LAB_STATE_DIR (/var/lib/nats-cluster-lab/$LAB_NAME), LAB_USER_DATA (a file: every VM's
#   cloud-init user data), LAB_ROOT_MODE (overlay: the image under a per-VM overlayfs upper directory; copy: cp -a of
#   the image; overlay falls back to copy when the mount fails), LAB_BOOT_TIMEOUT (180 s), LAB_STOP_TIMEOUT (30 s),
#   LAB_KEEP_FAILED=1 (a failed `up` leaves the lab for inspection instead of tearing it down), LAB_OWNER_PID (recorded
#   as $LAB_STATE_DIR/owner.pid: test/support/lab.ts removes test labs whose owner process is gone), LAB_DOWN_HARD=1
#   (`down` kills each VM at once, as `poweroff` does, instead of halting it: for test teardowns, which keep nothing),
#   LAB_CLOUD_INIT=0 (cloud-init does not run in the VMs: about 1 s of CPU per boot, for labs with no user data).
set -euo pipefail
shopt -s inherit_errexit
export LC_ALL=C
# shellcheck source-path=SCRIPTDIR

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/lab/common.sh"
source "$here/lab/image.sh"

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

# --- settings ----------------------------------------------------------------------------------------------------
parse_opts() { # sets opt_shift to the number of arguments consumed
  opt_shift=0
  while [ $# -gt 0 ]; do
    case "$1" in
      --name) LAB_NAME="$2" ;;
      --vms) LAB_VMS="$2" ;;
      --subnet) LAB_SUBNET="$2" ;;
      --volume-mb) LAB_VOLUME_MB="$2" ;;
      --volume-vms) LAB_VOLUME_VMS="$2" ;;
      --state-dir) LAB_STATE_DIR="$2" ;;
      --release-port) LAB_RELEASE_PORT="$2" ;;
      -h|--help) usage ;;
      *) return 0 ;;
    esac
    [ $# -ge 2 ] || lab_die "$1 needs a value"
    shift 2; opt_shift=$((opt_shift + 2))
  done
}
parse_opts "$@"; shift "$opt_shift"
verb="${1:-}"; [ -n "$verb" ] || usage; shift
case "$verb" in up|down|status|prepare|image) parse_opts "$@"; shift "$opt_shift"; [ $# -eq 0 ] || lab_die "$verb: unexpected argument $1" ;; esac

LAB_NAME="${LAB_NAME:-natslab}"
[[ "$LAB_NAME" =~ ^[a-z][a-z0-9]{0,9}$ ]] || lab_die "LAB_NAME=$LAB_NAME: use 1-10 characters of [a-z0-9] starting with a letter (it prefixes interface names, which are limited to 15 characters)"
LAB_STATE_DIR="${LAB_STATE_DIR:-/var/lib/nats-cluster-lab/$LAB_NAME}"
[[ "$LAB_STATE_DIR" =~ ^/[A-Za-z0-9._/-]+$ && "$LAB_STATE_DIR" != *..* ]] || lab_die "LAB_STATE_DIR=$LAB_STATE_DIR: use an absolute path of [A-Za-z0-9._/-]"
LAB_STATE_DIR="${LAB_STATE_DIR%/}"
[ "$(realpath -m "$LAB_STATE_DIR")" != / ] || lab_die "LAB_STATE_DIR must not be /"

state="$LAB_STATE_DIR"
marker="$state/.nats-cluster-lab"
bridge="${LAB_NAME}-br"
nft_table="natscluster_lab_${LAB_NAME}"

# A lab that exists keeps the settings it was made with (down/status/exec/boot need no repeat of them); `up` compares.
requested_vms="${LAB_VMS:-4}" requested_subnet="${LAB_SUBNET:-10.213.0}" requested_volume_mb="${LAB_VOLUME_MB:-}"
requested_volume_vms="${LAB_VOLUME_VMS:-}" requested_port="${LAB_RELEASE_PORT:-8081}"
if [ "$verb" != up ] && [ -f "$state/config.env" ]; then
  # shellcheck disable=SC1091
  source "$state/config.env"
else
  LAB_VMS="$requested_vms" LAB_SUBNET="$requested_subnet" LAB_VOLUME_MB="$requested_volume_mb"
  LAB_VOLUME_VMS="$requested_volume_vms" LAB_RELEASE_PORT="$requested_port"
fi
[[ "$LAB_VMS" =~ ^[1-9][0-9]?$ && "$LAB_VMS" -le 50 ]] || lab_die "LAB_VMS=$LAB_VMS: use 1 to 50"
[[ "$LAB_SUBNET" =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$ ]] && [ "${BASH_REMATCH[1]}" -le 255 ] && [ "${BASH_REMATCH[2]}" -le 255 ] && [ "${BASH_REMATCH[3]}" -le 255 ] \
  || lab_die "LAB_SUBNET=$LAB_SUBNET: give the /24's first three octets, e.g. LAB_SUBNET=10.213.0"
[ -z "$LAB_VOLUME_MB" ] || [[ "$LAB_VOLUME_MB" =~ ^[1-9][0-9]{0,6}$ ]] || lab_die "LAB_VOLUME_MB=$LAB_VOLUME_MB: a size in MB (at least 300 if it is to hold XFS)"
[[ "$LAB_RELEASE_PORT" =~ ^[1-9][0-9]{0,4}$ && "$LAB_RELEASE_PORT" -le 65535 ]] || lab_die "LAB_RELEASE_PORT=$LAB_RELEASE_PORT: not a port"
LAB_VOLUME_VMS="${LAB_VOLUME_VMS//,/ }"
for n in $LAB_VOLUME_VMS; do [[ "$n" =~ ^[0-9]+$ && "$n" -ge 1 && "$n" -le "$LAB_VMS" ]] || lab_die "LAB_VOLUME_VMS: $n is not a VM number (1-$LAB_VMS)"; done
LAB_ROOT_MODE="${LAB_ROOT_MODE:-overlay}"
[[ "$LAB_ROOT_MODE" =~ ^(overlay|copy)$ ]] || lab_die "LAB_ROOT_MODE=$LAB_ROOT_MODE: overlay or copy"
[[ "${LAB_CLOUD_INIT:-1}" =~ ^[01]$ ]] || lab_die "LAB_CLOUD_INIT=$LAB_CLOUD_INIT: 1 (cloud-init runs at boot, the default) or 0"
[ -z "${LAB_USER_DATA:-}" ] || [ "${LAB_CLOUD_INIT:-1}" = 1 ] || lab_die "LAB_USER_DATA is set but LAB_CLOUD_INIT=0: user data needs cloud-init"
[ -z "${LAB_FAIL_HOSTKEYS_ONCE:-}" ] || [[ "$LAB_FAIL_HOSTKEYS_ONCE" =~ ^[0-9]+$ && "$LAB_FAIL_HOSTKEYS_ONCE" -ge 1 && "$LAB_FAIL_HOSTKEYS_ONCE" -le "$LAB_VMS" ]] || lab_die "LAB_FAIL_HOSTKEYS_ONCE=$LAB_FAIL_HOSTKEYS_ONCE: a VM number (1-$LAB_VMS), or empty"
LAB_BOOT_TIMEOUT="${LAB_BOOT_TIMEOUT:-180}"
LAB_STOP_TIMEOUT="${LAB_STOP_TIMEOUT:-30}"
host_ip="$LAB_SUBNET.1"
release_base_url="http://$host_ip:$LAB_RELEASE_PORT"
ssh_key="$state/ssh/id_ed25519"
known_hosts="$state/ssh/known_hosts"

vm_name() { echo "${LAB_NAME}-vm$1"; } # also its hostname, machine name and network namespace
vm_veth() { echo "${LAB_NAME}-v$1"; }  # host end of its veth pair (the VM end is eth0)
vm_ip() { echo "$LAB_SUBNET.$((10 + $1))"; }
vm_dir() { echo "$state/vms/$(vm_name "$1")"; }
vm_has_volume() {
  [ -n "$LAB_VOLUME_MB" ] || return 1
  [ -z "$LAB_VOLUME_VMS" ] && return 0
  [[ " $LAB_VOLUME_VMS " == *" $1 "* ]]
}
# VM argument → number.
vm_index() {
  local arg="$1"
  arg="${arg#"$LAB_NAME"-}"; arg="${arg#vm}"
  [[ "$arg" =~ ^[0-9]+$ && "$arg" -ge 1 && "$arg" -le "$LAB_VMS" ]] || lab_die "no VM '$1' in lab $LAB_NAME (VMs: $(for i in $(seq "$LAB_VMS"); do printf '%s ' "$(vm_name "$i")"; done))"
  echo "$((10#$arg))"
}
ssh_opts() {
  echo -F /dev/null -i "$ssh_key" -o IdentitiesOnly=yes -o UserKnownHostsFile="$known_hosts" -o GlobalKnownHostsFile=/dev/null \
    -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=5 -o LogLevel=ERROR
}

need_root() { [ "$(id -u)" -eq 0 ] || lab_die "the lab needs root (network namespaces, systemd-nspawn, loop devices)"; }
lock_file="/run/nats-cluster-lab-$LAB_NAME.lock"
# Held by `up` while it checks its /24 is free and takes it (every lab's, so host-wide).
networks_lock="/run/nats-cluster-lab-networks.lock"
# One lab.sh at a time per lab. `down` deletes the lock file (no litter per test lab in /run), so a waiter that got
# the lock of a deleted file tries again with the new one.
take_lock() {
  local end=$((SECONDS + 900))
  while :; do
    exec 8>>"$lock_file"
    flock -w 900 8 || lab_die "another lab.sh is working on lab $LAB_NAME"
    [ "/proc/self/fd/8" -ef "$lock_file" ] && return 0
    [ "$SECONDS" -lt "$end" ] || lab_die "could not lock $lock_file"
  done
}

# --- what exists, found by name ----------------------------------------------------------------------------------
# The nspawn processes of this lab: `systemd-nspawn ... -M <LAB_NAME>-vmN ...`.
find_nspawn() {
  local d pid
  for d in /proc/[0-9]*; do
    pid="${d#/proc/}"
    [ "$(cat "$d/comm" 2>/dev/null)" = systemd-nspawn ] && lab_alive "$pid" || continue
    lab_argv "$pid" | awk -v re="^${LAB_NAME}-vm[0-9]+\$" 'prev == "-M" && $0 ~ re { found = 1 } { prev = $0 } END { exit !found }' && echo "$pid"
  done
  return 0
}
# The release server: `node .../release-server.js --lab <LAB_NAME> ...`.
find_release_server() {
  local d pid
  for d in /proc/[0-9]*; do
    pid="${d#/proc/}"
    lab_alive "$pid" || continue
    lab_argv "$pid" | awk -v name="$LAB_NAME" 'p2 ~ /release-server\.js$/ && p1 == "--lab" && $0 == name { found = 1 } { p2 = p1; p1 = $0 } END { exit !found }' && echo "$pid"
  done
  return 0
}
find_netns() { ip netns list 2>/dev/null | awk -v re="^${LAB_NAME}-vm[0-9]+\$" '$1 ~ re { print $1 }'; }
find_links() { ip -o link show 2>/dev/null | awk -F': ' -v re="^${LAB_NAME}-(br|v[0-9]+)\$" '{ sub(/@.*/, "", $2); if ($2 ~ re) print $2 }'; }
find_loops() { losetup -n -l -O NAME,BACK-FILE 2>/dev/null | awk -v re="/${LAB_NAME}-vm[0-9]+-volume\\.img( \\(deleted\\))?\$" '{ dev = $1; $1 = ""; sub(/^ /, ""); if ($0 ~ re) print dev }'; }
has_nft_table() { nft list table inet "$nft_table" >/dev/null 2>&1; }
leftovers() { # one line per thing of this lab that exists
  local x
  for x in $(find_nspawn); do echo "nspawn process $x"; done
  for x in $(find_release_server); do echo "release server process $x"; done
  for x in $(find_netns); do echo "network namespace $x"; done
  for x in $(find_links); do echo "link $x"; done
  for x in $(find_loops); do echo "loop device $x"; done
  if has_nft_table; then echo "nftables table inet $nft_table"; fi
  if [ -e "$state" ]; then echo "state directory $state"; fi
  return 0
}

# The container's systemd: the child of the nspawn process.
leader_of() {
  local child
  for child in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
    lab_alive "$child" && [ "$(cat "/proc/$child/comm" 2>/dev/null)" = systemd ] && { echo "$child"; return 0; }
  done
  return 1
}
# The running nspawn pid of VM n (recorded, and still that VM's nspawn), or nothing.
vm_nspawn_pid() {
  local pid; pid="$(cat "$(vm_dir "$1")/nspawn.pid" 2>/dev/null || true)"
  [ -n "$pid" ] && lab_alive "$pid" && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = systemd-nspawn ] \
    && lab_argv "$pid" | grep -qx -- "$(vm_name "$1")" && echo "$pid"
  return 0
}
vm_leader_pid() { local pid; pid="$(vm_nspawn_pid "$1")"; [ -n "$pid" ] && leader_of "$pid"; return 0; }
vm_systemd_state() {
  local leader; leader="$(vm_leader_pid "$1")"
  [ -n "$leader" ] || { echo "off"; return 0; }
  nsenter -t "$leader" -a systemctl is-system-running 2>/dev/null || true
}
vm_ssh_ok() { # n [user]
  # shellcheck disable=SC2046
  ssh $(ssh_opts) "${2:-root}@$(vm_ip "$1")" true </dev/null >/dev/null 2>&1
}

# --- down ----------------------------------------------------------------------------------------------------------
lab_down() {
  local started=$EPOCHREALTIME pids=() x n pid leader
  # Containers: the pids recorded (when they are still this lab's nspawn) and any other nspawn named after this lab.
  for n in $(seq "$LAB_VMS"); do pid="$(vm_nspawn_pid "$n")"; [ -n "$pid" ] && pids+=("$pid"); done
  mapfile -t -O "${#pids[@]}" pids < <(find_nspawn)
  mapfile -t pids < <(printf '%s\n' "${pids[@]}" | sort -un | sed '/^$/d')
  if [ "${#pids[@]}" -gt 0 ] && [ "${LAB_DOWN_HARD:-}" = 1 ]; then
    # SIGKILL to each container's PID 1 ends its whole PID namespace at once; nspawn then exits by itself. A halt
    # stops every unit first (nats-server's lame duck included): 25-40 s per lab, of no use to a test's teardown.
    lab_log "down: killing ${#pids[@]} container(s) (SIGKILL to each VM's systemd)"
    for pid in "${pids[@]}"; do leader="$(leader_of "$pid" || true)"; kill -KILL "${leader:-$pid}" 2>/dev/null || true; done
    lab_wait_gone 10 "${pids[@]}" || lab_log "down: warning: nspawn survived SIGKILL: ${pids[*]}"
    lab_log "down: containers gone"
  elif [ "${#pids[@]}" -gt 0 ]; then
    lab_log "down: halting ${#pids[@]} container(s) (SIGTERM to nspawn, SIGKILL after ${LAB_STOP_TIMEOUT}s)"
    kill -TERM "${pids[@]}" 2>/dev/null || true
    lab_wait_gone "$LAB_STOP_TIMEOUT" "${pids[@]}" || lab_log "down: warning: nspawn survived SIGKILL: ${pids[*]}"
    lab_log "down: containers gone"
  fi
  # Network namespaces: anything still inside (a container whose nspawn died in a crash) is killed first.
  for x in $(find_netns); do
    mapfile -t pids < <(ip netns pids "$x" 2>/dev/null)
    if [ "${#pids[@]}" -gt 0 ]; then
      lab_log "down: killing ${#pids[@]} leftover process(es) in network namespace $x"
      kill -KILL "${pids[@]}" 2>/dev/null || true
      lab_wait_gone 10 "${pids[@]}" || true
    fi
    ip netns del "$x" || lab_log "down: warning: ip netns del $x failed"
  done
  for x in $(find_links); do ip link del "$x" 2>/dev/null || true; done
  if has_nft_table; then nft delete table inet "$nft_table" || true; fi
  pids=()
  [ -f "$state/release-server.pid" ] && pid="$(cat "$state/release-server.pid")" && [ -n "$pid" ] && find_release_server | grep -qx "$pid" && pids+=("$pid")
  mapfile -t -O "${#pids[@]}" pids < <(find_release_server)
  if [ "${#pids[@]}" -gt 0 ]; then
    kill -TERM "${pids[@]}" 2>/dev/null || true
    lab_wait_gone 5 "${pids[@]}" || true
  fi
  for x in $(find_loops); do losetup -d "$x" || lab_log "down: warning: losetup -d $x failed"; done
  if [ -d "$state" ]; then
    if [ -f "$marker" ] && [ "$(cat "$marker")" = "$LAB_NAME" ]; then
      lab_umount_under "$state"
      rm -rf --one-file-system "$state"
      lab_log "down: removed $state"
    elif [ -z "$(ls -A "$state")" ]; then
      rmdir "$state"
    else
      lab_log "down: not removing $state: it has no lab marker ($marker), so it is not this lab's"
    fi
  fi
  local left; left="$(leftovers)"
  if [ -n "$left" ]; then
    printf 'lab %s: down left these behind:\n%s\n' "$LAB_NAME" "$left" >&2
    return 1
  fi
  [ "$verb" != down ] || rm -f "$lock_file"
  echo "lab $LAB_NAME: down in $(lab_since "$started")s (no container, namespace, link, loop device, release server or state left)"
}

# --- up ------------------------------------------------------------------------------------------------------------
# The machine's IPv4 addresses and routes as "CIDR<TAB>what" lines, the lab's own bridge left out.
machine_networks() {
  local line words dest dev i
  while read -r line; do
    read -r -a words <<<"$line"
    [ "${words[1]}" = "$bridge" ] || printf '%s\taddress %s on %s\n' "${words[3]}" "${words[3]}" "${words[1]}"
  done < <(ip -o -4 addr show)
  while read -r line; do
    read -r -a words <<<"$line"
    [ "${#words[@]}" -gt 0 ] || continue
    dest="${words[0]}"
    case "$dest" in local|broadcast|unicast|multicast|unreachable|blackhole|prohibit|throw|anycast|nat) dest="${words[1]}" ;; esac
    [ "$dest" = default ] || [ "$dest" = 0.0.0.0/0 ] && continue # a default route overlaps everything and nothing
    dev=""
    for ((i = 0; i < ${#words[@]} - 1; i++)); do [ "${words[i]}" = dev ] && dev="${words[i + 1]}"; done
    [ "$dev" = "$bridge" ] || printf '%s\troute %s\n' "$dest" "$line"
  done < <(ip -4 route show table all)
}

# Refuses a /24 that overlaps an address or route the machine has (the lab's own bridge excepted), naming a free one.
check_subnet() {
  local nets conflicts=() cidr what c free=""
  nets="$(machine_networks)"
  while IFS=$'\t' read -r cidr what; do
    [ -n "$cidr" ] && lab_cidr_overlap "$LAB_SUBNET.0/24" "$cidr" && conflicts+=("$what")
  done <<<"$nets"
  [ "${#conflicts[@]}" -eq 0 ] && return 0
  for c in $(seq 0 255); do
    free="10.213.$c"
    while IFS=$'\t' read -r cidr what; do
      [ -n "$cidr" ] && lab_cidr_overlap "$free.0/24" "$cidr" && { free=""; break; }
    done <<<"$nets"
    [ -n "$free" ] && break
  done
  printf 'lab: %s\n' "LAB_SUBNET=$LAB_SUBNET ($LAB_SUBNET.0/24) overlaps what this machine already has: $(printf '%s; ' "${conflicts[@]}")choose a free /24 by its first three octets${free:+, e.g. LAB_SUBNET=$free}." >&2
  return 1
}

make_network() {
  ip link add "$bridge" type bridge
  ip addr add "$host_ip/24" dev "$bridge"
  ip link set "$bridge" up
  # The VMs reach the host only at the release server (and answer what the host opened); the host forwards nothing
  # from or to the lab (the VMs have no default route either). VM to VM is bridged, but with br_netfilter loaded (as
  # here) bridged packets pass the forward hook too, in and out through the bridge: those are accepted.
  nft -f - <<NFT
table inet $nft_table {
  chain input {
    type filter hook input priority filter; policy accept;
    iifname "$bridge" ct state established,related accept
    iifname "$bridge" tcp dport $LAB_RELEASE_PORT accept
    iifname "$bridge" icmp type echo-request accept
    iifname "$bridge" meta l4proto tcp reject with tcp reset
    iifname "$bridge" drop
  }
  chain forward {
    type filter hook forward priority filter; policy accept;
    iifname "$bridge" oifname "$bridge" accept
    iifname "$bridge" drop
    oifname "$bridge" drop
  }
}
NFT
}

make_vm_network() {
  local n="$1" vm veth
  vm="$(vm_name "$n")" veth="$(vm_veth "$n")"
  ip netns add "$vm"
  ip -n "$vm" link set lo up
  ip link add "$veth" type veth peer name eth0 netns "$vm"
  ip link set "$veth" master "$bridge" up
  ip -n "$vm" addr add "$(vm_ip "$n")/24" dev eth0
  ip -n "$vm" link set eth0 up
}

# Tarballs laid out as the official release, packed once per binary into the cache and served from there.
prepare_release() {
  local www="$lab_cache/release/www" arch bin_cache v bin sum stage dir asset src gomod served=()
  arch="$(dpkg --print-architecture 2>/dev/null || true)"
  case "$arch" in amd64|arm64) ;; *) case "$(uname -m)" in x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; *) lab_die "no nats-server release arch for $(uname -m)" ;; esac ;; esac
  source "$lab_repo/versions.env"
  bin_cache="${NATS_SERVER_BIN_CACHE:-${NATS_CLUSTER_CACHE:-$HOME/.cache/nats-cluster}/nats-server}"
  gomod="$(go env GOMODCACHE 2>/dev/null || echo "$HOME/go/pkg/mod")"
  mkdir -p "$www" "$lab_cache/release/stamps"
  exec 7>"$lab_cache/.release.lock"; flock -w 300 7 || lab_die "timed out waiting for $lab_cache/.release.lock"
  for v in $NATS_SERVER_VERSIONS; do
    bin="$bin_cache/v$v/nats-server"
    if [ ! -x "$bin" ]; then lab_log "release server: no cached nats-server v$v ($bin; scripts/provision.sh builds it): not served"; continue; fi
    served+=("$v")
    sum="$(sha256sum "$bin" | cut -d' ' -f1)"
    asset="nats-server-v$v-linux-$arch"
    [ "$(cat "$lab_cache/release/stamps/v$v-$arch" 2>/dev/null)" = "$sum" ] && [ -f "$www/v$v/$asset.tar.gz" ] && continue
    stage="$(mktemp -d "$lab_cache/release/.stage-v$v.XXXXXX")"
    mkdir -p "$stage/tree/$asset" "$stage/v$v"
    install -m 0755 "$bin" "$stage/tree/$asset/nats-server"
    # The official tarball also holds README.md and LICENSE: taken from the module source go install fetched.
    src="$gomod/github.com/nats-io/nats-server/v2@v$v"
    for f in README.md LICENSE; do [ -f "$src/$f" ] && install -m 0644 "$src/$f" "$stage/tree/$asset/$f"; done
    tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$(stat -c %Y "$bin")" -C "$stage/tree" -cf - "$asset" | gzip -n > "$stage/v$v/$asset.tar.gz"
    (cd "$stage/v$v" && sha256sum "$asset.tar.gz" > SHA256SUMS)
    rm -rf "$www/v$v"; mv "$stage/v$v" "$www/v$v"; rm -rf "$stage"
    echo "$sum" > "$lab_cache/release/stamps/v$v-$arch"
    lab_log "release server: packed $asset.tar.gz ($(du -k "$www/v$v/$asset.tar.gz" | cut -f1) KB)"
  done
  prepare_exporter_release "$www" "$arch"
  flock -u 7
  [ "${#served[@]}" -gt 0 ] || lab_die "no nats-server binary cached for any of $NATS_SERVER_VERSIONS in $bin_cache: run scripts/provision.sh first"
  release_versions="${served[*]}" release_arch="$arch" release_www="$www"
}

# node_exporter laid out as its official release (<www>/node_exporter/v<ver>/node_exporter-<ver>.linux-<arch>.tar.gz
# holding node_exporter-<ver>.linux-<arch>/node_exporter, and sha256sums.txt): the real exporter a stack's `exporter`
# setting installs on the lab's VMs. Served only when scripts/provision.sh --for test built it; lab.json says which.
prepare_exporter_release() {
  local www="$1" arch="$2" v="${NODE_EXPORTER_VERSION:-}" bin sum asset stage dir
  exporter_version=""
  [ -n "$v" ] || return 0
  bin="${NATS_CLUSTER_CACHE:-$HOME/.cache/nats-cluster}/node_exporter/v$v/node_exporter"
  if [ ! -x "$bin" ]; then lab_log "release server: no cached node_exporter v$v ($bin; scripts/provision.sh --for test builds it): not served"; return 0; fi
  asset="node_exporter-$v.linux-$arch"
  dir="$www/node_exporter/v$v"
  sum="$(sha256sum "$bin" | cut -d' ' -f1)"
  if [ "$(cat "$lab_cache/release/stamps/node_exporter-v$v-$arch" 2>/dev/null)" != "$sum" ] || [ ! -f "$dir/$asset.tar.gz" ]; then
    stage="$(mktemp -d "$lab_cache/release/.stage-node_exporter-v$v.XXXXXX")"
    mkdir -p "$stage/tree/$asset" "$stage/out"
    install -m 0755 "$bin" "$stage/tree/$asset/node_exporter"
    tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$(stat -c %Y "$bin")" -C "$stage/tree" -cf - "$asset" | gzip -n > "$stage/out/$asset.tar.gz"
    (cd "$stage/out" && sha256sum "$asset.tar.gz" > sha256sums.txt)
    rm -rf "$dir"; mkdir -p "$www/node_exporter"; mv "$stage/out" "$dir"; rm -rf "$stage"
    echo "$sum" > "$lab_cache/release/stamps/node_exporter-v$v-$arch"
    lab_log "release server: packed $asset.tar.gz ($(du -k "$dir/$asset.tar.gz" | cut -f1) KB)"
  fi
  exporter_version="$v"
}

# lab.json's `exporter`: what a stack's `<platform>.exporter` needs for the served node_exporter but its port and
# args (name, version, url with {version} and {arch}, the pinned SHA-256), or null when none is served.
exporter_json() {
  local sums="${release_www:-$lab_cache/release/www}/node_exporter/v${exporter_version:-none}/sha256sums.txt"
  if [ -z "${exporter_version:-}" ] || [ ! -f "$sums" ]; then printf 'null'; return; fi
  printf '{ "name": "node_exporter", "version": %s, "url": %s, "sha256": { %s: %s } }' "$(json_str "$exporter_version")" \
    "$(json_str "$release_base_url/node_exporter/v{version}/node_exporter-{version}.linux-{arch}.tar.gz")" \
    "$(json_str "$release_arch")" "$(json_str "$(cut -d' ' -f1 "$sums")")"
}

start_release_server() {
  local pidf="$state/release-server.pid" log="$state/release-server.log" i first="${release_versions%% *}"
  command -v node >/dev/null || lab_die "node is needed for the release server: source ~/.cache/nats-cluster/env.sh (scripts/provision.sh writes it)"
  rm -f "$pidf"
  setsid node "$here/lab/release-server.js" --lab "$LAB_NAME" --root "$release_www" --host "$host_ip" --port "$LAB_RELEASE_PORT" --pid-file "$pidf" </dev/null >>"$log" 2>&1 6>&- 7>&- 8>&- &
  for i in $(seq 100); do
    [ -s "$pidf" ] && curl -fsS --max-time 2 -o /dev/null "$release_base_url/v$first/SHA256SUMS" 2>/dev/null && return 0
    lab_alive "$!" || break
    sleep 0.1
  done
  lab_die "the release server did not come up on $release_base_url (port taken? set LAB_RELEASE_PORT): $(tail -n 3 "$log" | tr '\n' ' ')"
}

# A VM's own root: a copy of the image plus its name, keys, /etc/hosts and cloud-init seed.
make_vm_root() {
  local n="$1" image="$2" vm dir root uidgid i
  vm="$(vm_name "$n")" dir="$(vm_dir "$n")"
  root="$dir/root"
  mkdir -p "$dir"
  if [ "$LAB_ROOT_MODE" = overlay ]; then
    # The image (read-only, shared) under this VM's own upper directory: nothing to copy, page cache shared.
    mkdir -p "$dir/upper" "$dir/work" "$root"
    if ! mount -t overlay "lab-$vm" -o "lowerdir=$image,upperdir=$dir/upper,workdir=$dir/work" "$root" 2>"$dir/overlay.err"; then
      lab_log "$vm: overlay mount failed ($(cat "$dir/overlay.err")): copying the image instead"
      rmdir "$root"; rm -rf "$dir/upper" "$dir/work"
      LAB_ROOT_MODE=copy
    fi
    rm -f "$dir/overlay.err"
  fi
  if [ "$LAB_ROOT_MODE" = copy ]; then
    cp -a --reflink=auto "$image" "$root.partial"
    mv -T "$root.partial" "$root"
  fi
  echo "$vm" > "$root/etc/hostname"
  {
    printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n'
    for i in $(seq "$LAB_VMS"); do printf '%s\t%s\n' "$(vm_ip "$i")" "$(vm_name "$i")"; done
  } > "$root/etc/hosts"
  install -d -m 0700 "$root/root/.ssh"
  install -m 0600 "$ssh_key.pub" "$root/root/.ssh/authorized_keys"
  uidgid="$(awk -F: '$1 == "ops" { print $3 ":" $4 }' "$root/etc/passwd")"
  install -d -m 0700 -o "${uidgid%:*}" -g "${uidgid#*:}" "$root/home/ops/.ssh"
  install -m 0600 -o "${uidgid%:*}" -g "${uidgid#*:}" "$ssh_key.pub" "$root/home/ops/.ssh/authorized_keys"
  mkdir -p "$root/var/lib/cloud/seed/nocloud"
  printf 'instance-id: %s-%s\nlocal-hostname: %s\n' "$vm" "$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')" "$vm" > "$root/var/lib/cloud/seed/nocloud/meta-data"
  if [ -n "${LAB_USER_DATA:-}" ]; then cp "$LAB_USER_DATA" "$root/var/lib/cloud/seed/nocloud/user-data"
  else printf '#cloud-config\n{}\n' > "$root/var/lib/cloud/seed/nocloud/user-data"; fi
  # cloud-init's own switch: its systemd generator then leaves all four stages out of the boot.
  if [ "${LAB_CLOUD_INIT:-1}" = 0 ]; then : > "$root/etc/cloud/cloud-init.disabled"; fi
  # A fault for the lab's own test (test/lab/lab.test.ts): this VM's host-key unit fails at its first start, as one did
  # in a CI run; `up` must start it again (retry_failed_boot_units).
  if [ "${LAB_FAIL_HOSTKEYS_ONCE:-}" = "$n" ]; then
    mkdir -p "$root/etc/systemd/system/lab-ssh-hostkeys.service.d"
    cat > "$root/etc/systemd/system/lab-ssh-hostkeys.service.d/lab-fault.conf" <<'UNIT'
[Service]
ExecStartPre=/bin/sh -c 'test -e /var/lib/lab-hostkeys-failed-once || { touch /var/lib/lab-hostkeys-failed-once; echo "lab fault: failing once" >&2; exit 1; }'
UNIT
  fi
  if vm_has_volume "$n"; then
    truncate -s "${LAB_VOLUME_MB}M" "$dir/$vm-volume.img"
    losetup -f --show "$dir/$vm-volume.img" > "$dir/loop"
  fi
}

# Starts VM n's container detached; its console goes to console.log in the VM's state directory. A small bash parent
# waits for nspawn and logs its exit status: this machine's PID 1 reaps nothing, so without it every stopped VM
# would leave a systemd-nspawn zombie behind (now it is a bash one).
boot_vm() {
  local n="$1" vm dir args i
  vm="$(vm_name "$n")" dir="$(vm_dir "$n")"
  args=(systemd-nspawn -D "$dir/root" -b --register=no --keep-unit "--network-namespace-path=/run/netns/$vm" -M "$vm" --console=pipe)
  [ -s "$dir/loop" ] && args+=("--bind=$(cat "$dir/loop"):/dev/sdf")
  printf '=== lab.sh: %s boot %s\n' "$(date -u +%FT%TZ)" "$vm" >> "$dir/console.log"
  rm -f "$dir/nspawn.pid"
  # shellcheck disable=SC2016
  setsid bash -c 'pidf="$1"; shift; "$@" & echo "$!" > "$pidf.tmp"; mv "$pidf.tmp" "$pidf"; wait "$!"; rc=$?
    echo "=== lab.sh: $(date -u +%FT%TZ) systemd-nspawn exited with status $rc"' lab-vm "$dir/nspawn.pid" "${args[@]}" \
    </dev/null >>"$dir/console.log" 2>&1 6>&- 7>&- 8>&- &
  for i in $(seq 50); do [ -s "$dir/nspawn.pid" ] && break; sleep 0.1; done
  # The pid is written right after the fork, before the child has exec'd systemd-nspawn (its comm still reads bash
  # for a moment on a busy machine): wait for the exec, or for the process to be gone (a real failure).
  for i in $(seq 50); do
    [ -n "$(vm_nspawn_pid "$n")" ] && break
    lab_alive "$(cat "$dir/nspawn.pid" 2>/dev/null || echo 0)" || break
    sleep 0.1
  done
  [ -n "$(vm_nspawn_pid "$n")" ] || lab_die "$vm: systemd-nspawn did not start: $(tail -n 5 "$dir/console.log" | tr '\n' ' ')"
}

# What a VM's console and journal say, for a failure message.
vm_diagnostics() {
  local n="$1" dir leader
  dir="$(vm_dir "$n")"
  echo "--- console ($dir/console.log):"; tail -n 10 "$dir/console.log" 2>/dev/null || true
  leader="$(vm_leader_pid "$n")"
  if [ -n "$leader" ]; then
    echo "--- failed units:"; nsenter -t "$leader" -a systemctl --failed --no-legend --plain 2>&1 || true
    echo "--- journal (last 25 lines):"; nsenter -t "$leader" -a journalctl -b --no-pager -n 25 2>&1 || true
  fi
}

# Boot units a loaded machine has been seen to fail, each safe to run again, in the order they run:
# - systemd-user-sessions removes /run/nologin; while it is failed, pam_nologin refuses every user but root, so ops
#   (the ssh platform's user) could never log in. Seen when several labs boot at once (its start timed out).
# - lab-ssh-hostkeys runs `ssh-keygen -A`, which makes only the keys that are missing; while it is failed the VM has no
#   host key, and ssh.service, which requires it, never starts. Seen once in a CI run (the faults lab's vm4, 6 s into
#   its boot, beside three other labs); its journal goes to the log, so the next time says why.
LAB_BOOT_RETRY_UNITS=(systemd-user-sessions.service lab-ssh-hostkeys.service)
retry_failed_boot_units() { # vm leader
  local vm="$1" leader="$2" unit retried="" out attempt
  for unit in "${LAB_BOOT_RETRY_UNITS[@]}"; do
    nsenter -t "$leader" -a systemctl is-failed --quiet "$unit" 2>/dev/null || continue
    lab_log "$vm: $unit failed ($(unit_journal "$leader" "$unit" 5)); starting it again"
    # Up to three starts, a second apart: a CI run saw the first start again fail at once, without saying why.
    for attempt in 1 2 3; do
      if out="$(nsenter -t "$leader" -a systemctl restart "$unit" 2>&1)"; then retried=1; break; fi
      lab_log "$vm: $unit start $attempt of 3 failed: $out $(unit_journal "$leader" "$unit" 4)"
      sleep 1
    done
  done
  # ssh.service does not start by itself once what it requires has: start it (nothing happens when it runs).
  if [ -n "$retried" ]; then
    nsenter -t "$leader" -a systemctl start ssh.service 2>/dev/null || lab_log "$vm: ssh.service did not start: ops will not log in"
  fi
}
# The last n lines of a unit's journal on one line, without nspawn's "Failed to kill control group … Input/output
# error" lines, which say nothing here.
unit_journal() { # leader unit n
  nsenter -t "$1" -a journalctl -u "$2" --no-pager -o cat 2>/dev/null | grep -v 'Failed to kill control group' | tail -n "$3" | tr '\n' ' '
}

# Waits until VM n's systemd is up (running or degraded).
wait_vm() {
  local n="$1" vm dir pid leader="" st="" end
  vm="$(vm_name "$n")" dir="$(vm_dir "$n")"
  pid="$(cat "$dir/nspawn.pid")"
  end=$((SECONDS + LAB_BOOT_TIMEOUT))
  while :; do
    lab_alive "$pid" || lab_die "$vm: the container exited during boot
$(vm_diagnostics "$n")"
    leader="$(leader_of "$pid" || true)"
    if [ -n "$leader" ]; then
      st="$(nsenter -t "$leader" -a systemctl is-system-running 2>/dev/null || true)"
      case "$st" in running|degraded) break ;; esac
    fi
    [ "$SECONDS" -lt "$end" ] || lab_die "$vm: systemd is '${st:-not started}' after ${LAB_BOOT_TIMEOUT}s
$(vm_diagnostics "$n")"
    sleep 0.3
  done
  if [ "$st" = degraded ]; then
    lab_log "$vm: systemd is degraded: $(nsenter -t "$leader" -a systemctl --failed --no-legend --plain 2>/dev/null | awk '{print $1}' | tr '\n' ' ')"
    retry_failed_boot_units "$vm" "$leader"
  fi
}

collect_host_keys() {
  local n tmp="$known_hosts.tmp" f
  : > "$tmp"
  for n in $(seq "$LAB_VMS"); do
    for f in "$(vm_dir "$n")"/root/etc/ssh/ssh_host_*_key.pub; do
      [ -f "$f" ] || lab_die "$(vm_name "$n") has no SSH host key ($f)"
      awk -v h="$(vm_ip "$n"),$(vm_name "$n")" '{ print h, $1, $2 }' "$f" >> "$tmp"
    done
  done
  mv "$tmp" "$known_hosts"
}

# A VM is up for ssh once both root and ops log in: root is exempt from pam_nologin, which refuses every other user
# (sshd closes the connection after its banner) until systemd-user-sessions has run; ops is the ssh platform's user.
wait_ssh() {
  local n="$1" end=$((SECONDS + 30)) err user
  for user in root ops; do
    until vm_ssh_ok "$n" "$user"; do
      if [ "$SECONDS" -ge "$end" ]; then
        # shellcheck disable=SC2046
        err="$(ssh $(ssh_opts) "$user@$(vm_ip "$n")" true 2>&1 </dev/null || true)"
        lab_die "$(vm_name "$n"): ssh $user@$(vm_ip "$n") does not work after 30s: $err"
      fi
      sleep 0.5
    done
  done
}

# The SHA-256 of each served tarball, from its SHA256SUMS: { "<version>": { "<arch>": "<sha256>" } }.
release_pins_json() {
  local v sep="" sum
  printf '{'
  for v in $release_versions; do
    sum="$(cut -d' ' -f1 "${release_www:-$lab_cache/release/www}/v$v/SHA256SUMS")"
    printf '%s"%s": { "%s": "%s" }' "$sep" "$v" "$release_arch" "$sum"
    sep=", "
  done
  printf '}'
}

json_str() { local s="${1//\\/\\\\}"; s="${s//\"/\\\"}"; printf '"%s"' "$s"; }
write_json() {
  local n dir pid leader sep="" tmp="$state/lab.json.tmp" v vsep=""
  {
    printf '{\n  "name": %s,\n  "subnet": %s,\n  "cidr": %s,\n  "bridge": %s,\n  "hostIp": %s,\n' \
      "$(json_str "$LAB_NAME")" "$(json_str "$LAB_SUBNET")" "$(json_str "$LAB_SUBNET.0/24")" "$(json_str "$bridge")" "$(json_str "$host_ip")"
    printf '  "releaseBaseUrl": %s,\n  "releaseArch": %s,\n  "releaseVersions": [' "$(json_str "$release_base_url")" "$(json_str "$release_arch")"
    for v in $release_versions; do printf '%s%s' "$vsep" "$(json_str "$v")"; vsep=", "; done
    printf '],\n  "releaseSha256": %s,\n  "exporter": %s,\n  "sshKey": %s,\n  "knownHosts": %s,\n  "stateDir": %s,\n  "image": %s,\n  "vms": [\n' \
      "$(release_pins_json)" "$(exporter_json)" "$(json_str "$ssh_key")" "$(json_str "$known_hosts")" "$(json_str "$state")" "$(json_str "$image_dir")"
    for n in $(seq "$LAB_VMS"); do
      dir="$(vm_dir "$n")"
      pid="$(vm_nspawn_pid "$n")"
      leader=""; [ -n "$pid" ] && leader="$(leader_of "$pid" || true)"
      printf '%s    { "name": %s, "ip": %s, "netns": %s, "veth": %s, "nspawnPid": %s, "leaderPid": %s, "root": %s, "consoleLog": %s' "$sep" \
        "$(json_str "$(vm_name "$n")")" "$(json_str "$(vm_ip "$n")")" "$(json_str "$(vm_name "$n")")" "$(json_str "$(vm_veth "$n")")" \
        "${pid:-null}" "${leader:-null}" "$(json_str "$dir/root")" "$(json_str "$dir/console.log")"
      if [ -s "$dir/loop" ]; then
        printf ', "volumeDevice": %s, "volumeFile": %s, "volumeMb": %s' "$(json_str "$(cat "$dir/loop")")" "$(json_str "$dir/$(vm_name "$n")-volume.img")" "$LAB_VOLUME_MB"
      fi
      printf ' }'
      sep=$',\n'
    done
    printf '\n  ]\n}\n'
  } > "$tmp"
  mv "$tmp" "$state/lab.json"
}

save_config() {
  cat > "$state/config.env" <<CONF
LAB_VMS=$LAB_VMS
LAB_SUBNET=$LAB_SUBNET
LAB_VOLUME_MB=$LAB_VOLUME_MB
LAB_VOLUME_VMS="$LAB_VOLUME_VMS"
LAB_RELEASE_PORT=$LAB_RELEASE_PORT
release_versions="$release_versions"
release_arch=$release_arch
release_www=$release_www
exporter_version=${exporter_version:-}
image_dir=$image_dir
CONF
}

print_summary() {
  local took="$1" n
  echo "lab $LAB_NAME: $LAB_VMS VMs on $bridge $LAB_SUBNET.0/24 (host $host_ip)${took:+, up in ${took}s}"
  for n in $(seq "$LAB_VMS"); do
    printf '  %-14s %-15s systemd %s%s\n' "$(vm_name "$n")" "$(vm_ip "$n")" "$(vm_systemd_state "$n")" \
      "$([ -s "$(vm_dir "$n")/loop" ] && echo ", /dev/sdf = $(cat "$(vm_dir "$n")/loop") (${LAB_VOLUME_MB} MB)")"
  done
  echo "  release server: $release_base_url (nats-server ${release_versions// /, }${exporter_version:+; node_exporter $exporter_version}; linux-$release_arch)"
  echo "  ssh:    ssh -i $ssh_key -o UserKnownHostsFile=$known_hosts root@$(vm_ip 1)   (or ops@, with sudo)"
  echo "  state:  $state/lab.json"
  echo "  down:   LAB_NAME=$LAB_NAME bash scripts/lab.sh down"
}

# Whether the lab that exists is the one asked for and fully up (then `up` has nothing to do).
healthy_as_requested() {
  [ -f "$state/config.env" ] && [ -f "$state/lab.json" ] || return 1
  local LAB_VMS LAB_SUBNET LAB_VOLUME_MB LAB_VOLUME_VMS LAB_RELEASE_PORT release_versions release_arch image_dir exporter_version n
  # shellcheck disable=SC1091
  source "$state/config.env"
  [ "$LAB_VMS" = "$requested_vms" ] && [ "$LAB_SUBNET" = "$requested_subnet" ] && [ "$LAB_VOLUME_MB" = "$requested_volume_mb" ] \
    && [ "$LAB_VOLUME_VMS" = "${requested_volume_vms//,/ }" ] && [ "$LAB_RELEASE_PORT" = "$requested_port" ] || return 1
  [ "$image_dir" = "$(lab_image_dir)" ] || return 1
  [ -n "$(find_release_server)" ] || return 1
  for n in $(seq "$LAB_VMS"); do
    case "$(vm_systemd_state "$n")" in running|degraded) ;; *) return 1 ;; esac
    vm_ssh_ok "$n" || return 1
  done
}

up_failed() {
  local rc=$?
  [ "$rc" -ne 0 ] || return 0
  if [ "${LAB_KEEP_FAILED:-}" = 1 ]; then
    lab_log "up failed; the lab is left as it is (LAB_KEEP_FAILED=1): inspect $state, then run: LAB_NAME=$LAB_NAME bash scripts/lab.sh down"
  else
    lab_log "up failed; tearing down what it made (LAB_KEEP_FAILED=1 keeps it for inspection)"
    lab_down >&2 && rm -f "$lock_file" || true
  fi
  exit "$rc"
}

# Each VM's systemd (PID 1, journald, logind, …) holds about seven of root's inotify instances, and the kernel allows
# a user 128 by default: with some 18 VMs up at once (the full suite runs several labs side by side) the next
# systemd-nspawn exits 255 without a word (a CI run with four jest workers: "systemd-nspawn did not start" at a lab's
# third VM, 126 of 128 instances in use). The limit is raised host-wide, as container hosts (LXD, …) set it.
LAB_INOTIFY_INSTANCES=8192
ensure_inotify_headroom() {
  local now
  now="$(sysctl -n fs.inotify.max_user_instances 2>/dev/null || echo 0)"
  [ "$now" -ge "$LAB_INOTIFY_INSTANCES" ] && return 0
  if sysctl -qw "fs.inotify.max_user_instances=$LAB_INOTIFY_INSTANCES" 2>/dev/null; then
    lab_log "up: fs.inotify.max_user_instances $now → $LAB_INOTIFY_INSTANCES (each VM's systemd holds several)"
  else
    lab_log "up: warning: fs.inotify.max_user_instances is $now and cannot be raised here: beyond about $((now / 8)) VMs up at once, systemd-nspawn fails to start"
  fi
}

lab_up() {
  local started=$EPOCHREALTIME n
  lab_ensure_host_tools
  ensure_inotify_headroom
  image_dir="$(lab_ensure_image)"
  if healthy_as_requested; then
    # shellcheck disable=SC1091
    source "$state/config.env"
    write_json
    echo "lab $LAB_NAME is already up as requested: nothing to do (checked in $(lab_since "$started")s)"
    print_summary ""
    return 0
  fi
  if [ -n "$(leftovers)" ]; then
    lab_log "up: lab $LAB_NAME exists but is not the one requested or not fully up: removing it first"
    lab_down >&2
  fi
  # The /24 is claimed under a host-wide lock, from the overlap check until the bridge holds its address: two labs
  # starting at once once picked the same random /24, both passed the check, and the second's release server found
  # the first's on its address (EADDRINUSE).
  exec 6>>"$networks_lock"
  flock -w 300 6 || lab_die "timed out waiting for $networks_lock (another lab.sh claiming a subnet)"
  # Nothing of this lab exists at this point: a refusal leaves no lock file behind either.
  check_subnet || { rm -f "$lock_file"; exit 1; }
  # Interrupted (Ctrl-C, a test runner's SIGTERM, a closed pipe): tear down what was made, as on any failure.
  trap up_failed EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM HUP
  trap '' PIPE
  mkdir -p "$state/ssh" "$state/vms"
  echo "$LAB_NAME" > "$marker"
  [ -z "${LAB_OWNER_PID:-}" ] || echo "$LAB_OWNER_PID" > "$state/owner.pid"
  make_network
  exec 6>&-
  ssh-keygen -q -t ed25519 -N '' -C "nats-cluster-lab-$LAB_NAME" -f "$ssh_key"
  prepare_release
  save_config
  start_release_server
  lab_log "up: bridge $bridge, release server $release_base_url"
  for n in $(seq "$LAB_VMS"); do
    make_vm_network "$n"
    make_vm_root "$n" "$image_dir"
    boot_vm "$n"
    lab_log "up: $(vm_name "$n"): root ready ($LAB_ROOT_MODE), booting"
  done
  lab_log "up: $LAB_VMS containers started; waiting for systemd in each"
  for n in $(seq "$LAB_VMS"); do wait_vm "$n"; done
  collect_host_keys
  for n in $(seq "$LAB_VMS"); do wait_ssh "$n"; done
  write_json
  trap - EXIT
  print_summary "$(lab_since "$started")"
}

# --- verbs ---------------------------------------------------------------------------------------------------------
lab_status() {
  local n ok=0 pid leader st sshs
  if [ ! -f "$state/lab.json" ]; then
    echo "lab $LAB_NAME: not up (no $state/lab.json)"
    local left; left="$(leftovers)"; [ -z "$left" ] || printf 'leftovers (scripts/lab.sh down removes them):\n%s\n' "$left"
    return 1
  fi
  local release="running"
  [ -n "$(find_release_server)" ] || { release="NOT running"; ok=1; }
  echo "lab $LAB_NAME: $LAB_VMS VMs on $bridge $LAB_SUBNET.0/24, release server $release_base_url ($release)"
  for n in $(seq "$LAB_VMS"); do
    pid="$(vm_nspawn_pid "$n")"; leader=""; [ -n "$pid" ] && leader="$(leader_of "$pid" || true)"
    st="$(vm_systemd_state "$n")"
    if [ -n "$pid" ] && vm_ssh_ok "$n"; then sshs="ssh ok"; else sshs="ssh FAILS"; fi
    case "$st" in running|degraded) ;; *) ok=1 ;; esac
    [ "$sshs" = "ssh ok" ] || ok=1
    printf '  %-14s %-15s %-34s systemd %-9s %s\n' "$(vm_name "$n")" "$(vm_ip "$n")" \
      "$([ -n "$pid" ] && echo "running (nspawn $pid, systemd ${leader:-?})" || echo "powered off")" "$st" "$sshs"
  done
  return "$ok"
}

lab_poweroff() { # n hard|clean
  local n="$1" how="$2" pid leader vm
  vm="$(vm_name "$n")"
  pid="$(vm_nspawn_pid "$n")"
  [ -n "$pid" ] || { echo "$vm is already off"; return 0; }
  local started=$EPOCHREALTIME
  if [ "$how" = hard ]; then
    # SIGKILL to the container's PID 1 ends every process of its PID namespace at once: the VM dies, nothing stops cleanly.
    leader="$(leader_of "$pid" || true)"
    if [ -n "$leader" ]; then kill -KILL "$leader"; else kill -KILL "$pid"; fi
    lab_wait_gone 10 "$pid" || lab_die "$vm: nspawn $pid survived"
  else
    kill -TERM "$pid"
    lab_wait_gone "$LAB_STOP_TIMEOUT" "$pid" || lab_die "$vm: nspawn $pid survived"
  fi
  # Nothing of the VM may run on: its namespace is kept (same address at the next boot) but must be empty.
  local end=$((SECONDS + 10))
  while [ -n "$(ip netns pids "$vm" 2>/dev/null)" ]; do
    [ "$SECONDS" -lt "$end" ] || lab_die "$vm: processes still in its namespace: $(ip netns pids "$vm" | tr '\n' ' ')"
    sleep 0.2
  done
  rm -f "$(vm_dir "$n")/nspawn.pid"
  write_json
  echo "$vm: powered off ($how) in $(lab_since "$started")s"
}

lab_boot() {
  local n="$1" vm started=$EPOCHREALTIME
  vm="$(vm_name "$n")"
  [ -z "$(vm_nspawn_pid "$n")" ] || { echo "$vm is already running"; return 0; }
  [ -d "$(vm_dir "$n")/root" ] && ip netns list | awk '{print $1}' | grep -qx "$vm" || lab_die "$vm has no root or namespace: the lab is not up (scripts/lab.sh up)"
  boot_vm "$n"
  wait_vm "$n"
  wait_ssh "$n"
  write_json
  echo "$vm: booted in $(lab_since "$started")s"
}

# VM n destroyed and made again at the same address, as a cloud replaces a lost instance: powered off hard, its root
# and volume thrown away, a fresh root from the image (its first boot makes new SSH host keys), booted.
lab_recreate() {
  local n="$1" vm dir image_dir started=$EPOCHREALTIME
  vm="$(vm_name "$n")" dir="$(vm_dir "$n")"
  [ -d "$dir" ] && ip netns list | awk '{print $1}' | grep -qx "$vm" || lab_die "$vm has no state or namespace: the lab is not up (scripts/lab.sh up)"
  image_dir="$(lab_ensure_image)"
  lab_poweroff "$n" hard >/dev/null
  lab_umount_under "$dir/root"
  if [ -s "$dir/loop" ]; then losetup -d "$(cat "$dir/loop")" || lab_log "recreate: warning: losetup -d failed"; fi
  rm -rf --one-file-system "$dir/root" "$dir/upper" "$dir/work" "$dir/loop" "$dir/$vm-volume.img"
  make_vm_root "$n" "$image_dir"
  boot_vm "$n"
  wait_vm "$n"
  collect_host_keys
  wait_ssh "$n"
  write_json
  echo "$vm: recreated (new root, new host keys, empty volume) in $(lab_since "$started")s"
}

case "$verb" in
  prepare|image)
    need_root
    lab_ensure_host_tools
    lab_ensure_image
    ;;
  release-pins) prepare_release >&2; release_pins_json; echo ;;
  up) need_root; take_lock; lab_up ;;
  down) need_root; take_lock; lab_down ;;
  status) need_root; lab_status ;;
  exec)
    need_root
    [ $# -ge 1 ] || lab_die "usage: scripts/lab.sh exec VM [CMD...]"
    n="$(vm_index "$1")"; shift
    leader="$(vm_leader_pid "$n")"
    [ -n "$leader" ] || lab_die "$(vm_name "$n") is not running"
    [ $# -gt 0 ] || set -- /bin/bash -l
    exec nsenter -t "$leader" -a -- /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" "$@"
    ;;
  ssh)
    [ $# -ge 1 ] || lab_die "usage: scripts/lab.sh ssh VM [CMD...]"
    n="$(vm_index "$1")"; shift
    # shellcheck disable=SC2046
    exec ssh $(ssh_opts) "${LAB_SSH_USER:-root}@$(vm_ip "$n")" "$@"
    ;;
  poweroff|shutdown)
    need_root; take_lock
    [ $# -eq 1 ] || lab_die "usage: scripts/lab.sh $verb VM"
    lab_poweroff "$(vm_index "$1")" "$([ "$verb" = poweroff ] && echo hard || echo clean)"
    ;;
  boot)
    need_root; take_lock
    [ $# -eq 1 ] || lab_die "usage: scripts/lab.sh boot VM"
    lab_boot "$(vm_index "$1")"
    ;;
  recreate)
    need_root; take_lock
    [ $# -eq 1 ] || lab_die "usage: scripts/lab.sh recreate VM"
    lab_recreate "$(vm_index "$1")"
    ;;
  *) usage ;;
esac
