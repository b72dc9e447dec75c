# shellcheck shell=bash
# The lab's VM image: a Debian rootfs built once by debootstrap and cached outside the repo.
# Sourced by scripts/lab.sh (after common.sh). The image's directory name carries a hash of the suite, the package
# lists and the code of the two functions that install and configure it (as bash prints them: comments do not
# count), so a change to any of them builds a new image next to the old one.

LAB_SUITE=bookworm
# debootstrap installs the base; apt-get (in a chroot) the rest: debootstrap's own dependency resolution fails to
# configure cloud-init's python stack (python3-cryptography) when everything is passed to --include.
LAB_IMAGE_BASE=(systemd systemd-sysv dbus iproute2 curl ca-certificates)
LAB_IMAGE_PACKAGES=(
  openssh-server sudo                  # the ssh platform: root with a key, and a sudo user (ops)
  cloud-init                           # user data (NoCloud seed), as on EC2
  procps nftables                      # fault tests: process views, packet filters
  xfsprogs util-linux mount            # the JetStream data volume: mkfs.xfs, blkid, mount
)

lab_image_id() {
  { echo "$LAB_SUITE"; printf '%s\n' "${LAB_IMAGE_BASE[@]}" "${LAB_IMAGE_PACKAGES[@]}" | sort; declare -f lab_install_packages lab_configure_image; } | sha256sum | cut -c1-12
}

lab_image_dir() { echo "$lab_cache/image-$(lab_image_id)"; }

# The Debian mirror apt already uses on this machine: the first enabled deb source serving $LAB_SUITE with "main"
# (deb822 .sources files first, then one-line .list files). LAB_MIRROR overrides.
lab_debian_mirror() {
  if [ -n "${LAB_MIRROR:-}" ]; then echo "$LAB_MIRROR"; return; fi
  local f mirror=""
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    mirror="$(awk -v suite="$LAB_SUITE" '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " suite " ") && (" " comps " ") ~ / main / && enabled != "no" && uri != "") { print uri; found = 1; exit }
        types = suites = comps = uri = ""; enabled = "yes"
      }
      BEGIN { enabled = "yes" }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      { key = tolower($1); sub(/:$/, "", key); $1 = ""; sub(/^ +/, "", $0)
        if (key == "types") types = $0; else if (key == "suites") suites = $0; else if (key == "components") comps = $0
        else if (key == "enabled") enabled = tolower($0); else if (key == "uris") { split($0, u, " "); uri = u[1] } }
      END { if (!found) flush() }' "$f")"
    [ -n "$mirror" ] && { echo "$mirror"; return; }
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    # deb [options] URI SUITE COMPONENT...
    mirror="$(sed -E 's/\[[^]]*\]//' "$f" | awk -v suite="$LAB_SUITE" '$1 == "deb" && $3 == suite { for (i = 4; i <= NF; i++) if ($i == "main") { print $2; exit } }')"
    [ -n "$mirror" ] && { echo "$mirror"; return; }
  done
  return 1
}

# Prints the image directory, building it first when it is not cached. Safe to run concurrently: one builder at a
# time (flock), and the image only appears under its final name by a rename once it is complete.
lab_ensure_image() {
  local dir; dir="$(lab_image_dir)"
  if [ -d "$dir" ]; then echo "$dir"; return; fi
  mkdir -p "$lab_cache"
  (
    flock -w 1800 9 || lab_die "timed out waiting for another image build (lock $lab_cache/.image.lock)"
    [ -d "$dir" ] && exit 0
    lab_build_image "$dir"
  ) 9>"$lab_cache/.image.lock"
  [ -d "$dir" ] || lab_die "the image was not built: see $lab_cache/image-build.log"
  echo "$dir"
}

lab_build_image() {
  local dir="$1" mirror partial started=$EPOCHREALTIME log="$lab_cache/image-build.log"
  mirror="$(lab_debian_mirror)" || lab_die "no Debian mirror for $LAB_SUITE in /etc/apt/sources.list{,.d/*} (set LAB_MIRROR=http://…/debian)"
  # Leftovers of a crashed build (we hold the lock, so nobody else is building): unmount what debootstrap mounted.
  for partial in "$lab_cache"/.image-*.partial.*; do
    [ -e "$partial" ] || continue
    lab_log "removing the leftover of an interrupted image build: $partial"
    lab_umount_under "$partial"
    rm -rf --one-file-system "$partial"
  done
  partial="$lab_cache/.image-$(lab_image_id).partial.$$"
  lab_log "image: building $LAB_SUITE (debootstrap --variant=minbase, mirror $mirror) into $dir; log in $log"
  local include; include="$(IFS=,; echo "${LAB_IMAGE_BASE[*]}")"
  if ! debootstrap --variant=minbase --include="$include" "$LAB_SUITE" "$partial" "$mirror" >"$log" 2>&1; then
    cat "$partial/debootstrap/debootstrap.log" >>"$log" 2>/dev/null || true
    lab_umount_under "$partial"; rm -rf --one-file-system "$partial"
    lab_die "debootstrap failed (last lines of $log: $(tail -n 5 "$log" | tr '\n' ' '))"
  fi
  lab_log "image: base system in $(lab_since "$started")s; installing ${LAB_IMAGE_PACKAGES[*]}"
  local rc=0
  # Not in an `||` list: errexit must stay in force inside the configuration.
  set +e; (set -e; lab_install_packages "$partial"; lab_configure_image "$partial") >>"$log" 2>&1; rc=$?; set -e
  lab_umount_under "$partial"
  if [ "$rc" -ne 0 ]; then
    lab_umount_under "$partial"; rm -rf --one-file-system "$partial"
    lab_die "configuring the image failed (last lines of $log: $(tail -n 5 "$log" | tr '\n' ' '))"
  fi
  local took; took="$(lab_since "$started")"
  cat > "$partial/etc/nats-cluster-lab-image" <<META
id=$(lab_image_id)
suite=$LAB_SUITE
mirror=$mirror
packages=${LAB_IMAGE_PACKAGES[*]}
built=$(date -u +%Y-%m-%dT%H:%M:%SZ)
build_seconds=$took
META
  mv -T "$partial" "$dir"
  lab_log "image: built in ${took}s, $(du -sm "$dir" | cut -f1) MB: $dir"
  lab_prune_images "$dir"
}

# Removes older images, except those a running lab still uses as its overlay's lower directory.
lab_prune_images() {
  local keep="$1" old
  for old in "$lab_cache"/image-*; do
    [ -d "$old" ] && [ "$old" != "$keep" ] || continue
    if grep -qF "lowerdir=$old," /proc/self/mountinfo; then
      lab_log "image: keeping the older $old (a running lab uses it)"
    else
      lab_log "image: removing the older $old"
      rm -rf --one-file-system "$old"
    fi
  done
}

lab_install_packages() {
  local r="$1"
  set -x
  # No service starts inside the chroot; /proc for the maintainer scripts (unmounted by the caller).
  printf '#!/bin/sh\nexit 101\n' > "$r/usr/sbin/policy-rc.d"
  chmod 0755 "$r/usr/sbin/policy-rc.d"
  mount -t proc proc "$r/proc"
  chroot "$r" apt-get update -qq
  chroot "$r" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${LAB_IMAGE_PACKAGES[@]}"
  umount "$r/proc"
  rm -f "$r/usr/sbin/policy-rc.d"
}

lab_configure_image() {
  local r="$1"
  set -x
  # cloud-init: NoCloud only (a seed in /var/lib/cloud/seed/nocloud, written per VM by lab.sh up), no network
  # config (the host sets the VM's address), C.UTF-8 (minbase has no locales; cc_locale fails without it).
  # It never touches SSH: host keys come from lab-ssh-hostkeys.service, root's keys from lab.sh; no default user.
  cat > "$r/etc/cloud/cloud.cfg.d/90-nats-cluster-lab.cfg" <<'CFG'
datasource_list: [NoCloud, None]
network: {config: disabled}
locale: C.UTF-8
users: []
disable_root: false
ssh_deletekeys: false
ssh_genkeytypes: []
CFG
  # sshd: keys only.
  mkdir -p "$r/etc/ssh/sshd_config.d"
  cat > "$r/etc/ssh/sshd_config.d/10-nats-cluster-lab.conf" <<'SSHD'
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
SSHD
  # No host keys in the image: every VM makes its own at first boot, before sshd starts.
  rm -f "$r"/etc/ssh/ssh_host_*
  cat > "$r/etc/systemd/system/lab-ssh-hostkeys.service" <<'UNIT'
[Unit]
Description=Generate this VM's own SSH host keys (the lab image ships none)
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key
Before=ssh.service

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
RequiredBy=ssh.service
UNIT
  systemctl --root="$r" enable lab-ssh-hostkeys.service ssh.service
  # The console is a pipe to a log file: no getty on it. No apt runs on timers in an offline VM.
  systemctl --root="$r" mask console-getty.service apt-daily.timer apt-daily-upgrade.timer
  # ops: the non-root operator of the ssh platform, passwordless sudo. '*' (no password, not locked) so sshd
  # accepts its key whatever UsePAM says.
  chroot "$r" useradd --create-home --shell /bin/bash --comment "lab operator" ops
  chroot "$r" usermod -p '*' ops
  chroot "$r" usermod -p '*' root
  echo 'ops ALL=(ALL) NOPASSWD:ALL' > "$r/etc/sudoers.d/90-ops"
  chmod 0440 "$r/etc/sudoers.d/90-ops"
  chroot "$r" visudo -cf /etc/sudoers.d/90-ops
  # Every VM gets its own machine-id at first boot.
  : > "$r/etc/machine-id"
  if [ -e "$r/var/lib/dbus/machine-id" ] && [ ! -L "$r/var/lib/dbus/machine-id" ]; then rm -f "$r/var/lib/dbus/machine-id"; fi
  # Smaller copies per VM.
  chroot "$r" apt-get clean
  rm -rf "$r"/var/lib/apt/lists/*
}
