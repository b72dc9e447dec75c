# shellcheck shell=bash
# Shared helpers of scripts/lab.sh: logging, timing, host tools, process and mount checks. Sourced, not run.

lab_repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
lab_cache="${NATS_CLUSTER_CACHE:-$HOME/.cache/nats-cluster}/lab"
lab_t0=$EPOCHREALTIME

# Seconds (one decimal) since an $EPOCHREALTIME value.
lab_since() {
  local now=${EPOCHREALTIME/./} then=${1/./}
  local d=$((now - then))
  printf '%d.%d' $((d / 1000000)) $(((d / 100000) % 10))
}
# Never fails: a reader that went away (SIGPIPE is ignored in lab.sh) must not stop a teardown half way.
lab_log() { printf '[lab %5ss] %s\n' "$(lab_since "$lab_t0")" "$*" >&2 2>/dev/null || true; }
lab_die() { printf 'lab: %s\n' "$*" >&2 2>/dev/null || true; exit 1; }

# Host tools the lab drives, as command:package.
lab_host_tools=(systemd-nspawn:systemd-container debootstrap:debootstrap nft:nftables ssh:openssh-client
  ssh-keygen:openssh-client ip:iproute2 losetup:mount nsenter:util-linux setsid:util-linux flock:util-linux)

# Installs the missing host tools from Debian's packages (root only). Prints why it cannot, and fails, otherwise.
lab_ensure_host_tools() {
  local pair missing=()
  for pair in "${lab_host_tools[@]}"; do
    command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  [ "$(id -u)" -eq 0 ] || lab_die "missing ${missing[*]}; the lab needs root (apt-get install -y ${missing[*]})"
  command -v apt-get >/dev/null || lab_die "missing ${missing[*]} and no apt-get to install them"
  lab_log "host tools: installing ${missing[*]} from Debian's packages"
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >"${TMPDIR:-/tmp}/lab-apt.$$.log" 2>&1; then
    local tail_lines; tail_lines="$(tail -n 3 "${TMPDIR:-/tmp}/lab-apt.$$.log" | tr '\n' ' ')"
    rm -f "${TMPDIR:-/tmp}/lab-apt.$$.log"
    lab_die "apt-get install -y ${missing[*]} failed: $tail_lines"
  fi
  rm -f "${TMPDIR:-/tmp}/lab-apt.$$.log"
  for pair in "${lab_host_tools[@]}"; do
    command -v "${pair%%:*}" >/dev/null || lab_die "${pair%%:*} still missing after installing ${pair#*:}"
  done
}

# A process that exited may linger as a zombie here (PID 1 does not reap): a zombie counts as gone.
lab_alive() {
  local pid="$1" stat
  [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
  stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [ "${stat%% *}" != Z ] && [ "${stat%% *}" != X ]
}

# argv of a process, one argument per line.
lab_argv() { tr '\0' '\n' < "/proc/$1/cmdline" 2>/dev/null || true; }

# Waits until none of the pids is alive; SIGKILLs the survivors after $deadline seconds. Returns 1 if some survived
# even SIGKILL for 5 more seconds.
lab_wait_gone() {
  local deadline="$1"; shift
  local pid left end=$((SECONDS + deadline)) killed=0
  while :; do
    left=()
    for pid in "$@"; do lab_alive "$pid" && left+=("$pid"); done
    [ "${#left[@]}" -eq 0 ] && return 0
    if [ "$SECONDS" -ge "$end" ]; then
      [ "$killed" -eq 1 ] && return 1
      lab_log "still running after ${deadline}s, SIGKILL: ${left[*]}"
      kill -KILL "${left[@]}" 2>/dev/null || true
      killed=1; end=$((SECONDS + 5))
    fi
    sleep 0.2
  done
}

# Unmounts everything mounted at or below a directory, innermost first.
lab_umount_under() {
  local dir target
  dir="$(realpath -m "$1")"
  while read -r target; do
    [ -n "$target" ] && umount -l "$target" 2>/dev/null || true
  done < <(awk -v d="$dir" '{ gsub(/\\040/, " ", $5); if ($5 == d || index($5, d "/") == 1) print $5 }' /proc/self/mountinfo | sort -r)
}

# IPv4 helpers for the subnet checks.
lab_ip2int() { local IFS=.; local -a o; read -r -a o <<<"$1"; echo $(( (o[0] << 24) | (o[1] << 16) | (o[2] << 8) | o[3] )); }
# Whether two CIDRs (a.b.c.d/p) share any address.
lab_cidr_overlap() {
  local a="${1%/*}" pa="${1#*/}" b="${2%/*}" pb="${2#*/}" p mask
  [ "$pa" = "$1" ] && pa=32
  [ "$pb" = "$2" ] && pb=32
  p=$((pa < pb ? pa : pb))
  mask=$(( p == 0 ? 0 : (0xffffffff << (32 - p)) & 0xffffffff ))
  [ $(( $(lab_ip2int "$a") & mask )) -eq $(( $(lab_ip2int "$b") & mask )) ]
}
