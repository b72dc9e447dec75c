/**
 * The preparation of a fresh systemd host for nats-server, as one idempotent POSIX sh script: the `nats` user and
 * its directories, the data volume (formatted only when blank, mounted by UUID with `nofail`, grown to its size),
 * the systemd unit with its stop-timeout drop-in, and (first boot only) the binary. EC2 user data is this script;
 * the SSM driver sends the same script again when a first boot failed, so a failed first boot is retryable.
 *
 * The unit is written before the download on purpose: a release server or NAT that is not reachable yet at first
 * boot leaves a host that only lacks its binary, which the rollout stages over SSM anyway.
 *
 * Every step is named, and a failure records the step, the command and the command's first line of output in
 * {@link BOOT_STATUS_PATH} (`done`, `running`, or `failed: …`), which the boot check prints: `mkfs.xfs` answers a bad
 * option with 40 lines of usage, whose first line is the one that says what was wrong.
 */
import { HostPaths, NATS_UNIT, NATS_USER, storeDirOf } from "./paths";
import { ExporterRelease } from "../../exporter";
import { installExporterScript } from "./exporter-scripts";
import { DEFAULT_STOP_TIMEOUT_SECONDS } from "../../defaults";
import { shellQuote } from "./scripts";
import { STOP_TIMEOUT_DROP_IN_PATH, stopTimeoutDropIn, systemdUnitFor, UNIT_PATH } from "./unit";

/** Where the preparation records how it ended: `done`, `running` (it never finished), or `failed: <step> …`. */
export const BOOT_STATUS_PATH = "/var/lib/nats-cluster/boot-status";

/** The data volume's XFS label. XFS labels hold at most 12 characters: `mkfs.xfs -L` refuses longer ones. */
export const DATA_VOLUME_LABEL = "nats-data";

/** Delimits the install part: the tests cut it out at these lines and run it with `sh`. */
export const INSTALL_HEREDOC = "NATS_INSTALL_EOF";

/** A block device for the data directory. */
export interface DataVolume {
  /** Device paths to look for, in order; the first that exists is the volume (a link is resolved). */
  readonly devices: ReadonlyArray<string>;
  /** How long to wait for one of them to appear (a volume is often attached after the instance runs). */
  readonly waitSeconds: number;
}

export interface HostPrepOptions {
  readonly paths: HostPaths;
  /** The data volume, mounted at `paths.dataDir`; undefined keeps the data directory on the root disk. */
  readonly volume?: DataVolume;
  /** The unit's `TimeoutStopSec`, also written as the drop-in every rollout rewrites. Default 150. */
  readonly stopTimeoutSeconds?: number;
  /** A script that installs the binary (first boot), run last in a shell of its own. */
  readonly install?: { readonly what: string; readonly script: string };
  /** The metrics exporter beside nats-server (engine/exporter.ts) for hosts of `arch`, installed after it. */
  readonly exporter?: { readonly release: ExporterRelease; readonly arch: string };
}

/** The whole preparation as one script (no shebang): safe to run again on a host it already prepared. */
export function hostPrepScript(options: HostPrepOptions): string {
  const { paths } = options;
  const data = shellQuote(paths.dataDir);
  const status = shellQuote(BOOT_STATUS_PATH);
  const unitText = systemdUnitFor(paths, {
    withVolume: options.volume !== undefined,
    stopTimeoutSeconds: options.stopTimeoutSeconds,
  });
  const dropIn = stopTimeoutDropIn(options.stopTimeoutSeconds ?? stopTimeoutOf(unitText));
  return [
    "set -eu",
    "umask 022",
    "# How this preparation ends, for the boot check: done, or the step that failed and what it said.",
    `mkdir -p ${shellQuote(dirname(BOOT_STATUS_PATH))}`,
    "nats_step='start'",
    "nats_finish() {",
    "  nats_rc=$?",
    `  if [ "$nats_rc" -eq 0 ]; then echo done > ${status}; else`,
    `    printf 'failed: %s (exit %s)\\n' "$nats_step" "$nats_rc" > ${status}`,
    `    echo "nats-cluster host preparation FAILED at: $nats_step (exit $nats_rc)" >&2`,
    "  fi",
    "}",
    "trap nats_finish EXIT",
    `echo running > ${status}`,
    "# nats_run WHAT CMD...: runs CMD; on failure names WHAT, the command and its first line of output.",
    "nats_run() {",
    '  nats_what="$1"; shift',
    '  nats_step="$nats_what"',
    '  if nats_out="$("$@" 2>&1)"; then',
    '    [ -z "$nats_out" ] || printf \'%s\\n\' "$nats_out"',
    "  else",
    "    nats_rc=$?",
    "    printf '%s\\n' \"$nats_out\" >&2",
    "    nats_step=\"$nats_what: \\`$*\\` exited $nats_rc: $(printf '%s\\n' \"$nats_out\" | sed -n '/[^[:space:]]/{p;q;}')\"",
    '    exit "$nats_rc"',
    "  fi",
    "}",
    "",
    "# 1. The user nats-server runs as, and its directories.",
    `nats_step='create the ${NATS_USER} user and its directories'`,
    `id -u ${NATS_USER} >/dev/null 2>&1 || useradd --system --no-create-home --home-dir ${data} --shell /sbin/nologin ${NATS_USER}`,
    `install -d -m 0750 -o root -g ${NATS_USER} ${shellQuote(dirname(paths.configPath))}`,
    `install -d -m 0755 ${shellQuote(paths.installDir)}`,
    `install -d -m 0750 -o ${NATS_USER} -g ${NATS_USER} ${data}`,
    "",
    ...(options.volume
      ? volumeSection(options.volume, paths)
      : ["# 2. No data volume on this host: the data directory stays on the root disk.", ""]),
    `install -d -m 0750 -o ${NATS_USER} -g ${NATS_USER} ${shellQuote(storeDirOf(paths))}`,
    "",
    "# 3. The systemd unit (stops by lame duck, SIGUSR2), before any download: enabled, not started (no config yet).",
    "nats_step='install the systemd unit'",
    `cat > ${shellQuote(UNIT_PATH)} <<'NATS_UNIT_EOF'`,
    unitText.trimEnd(),
    "NATS_UNIT_EOF",
    `mkdir -p ${shellQuote(dirname(STOP_TIMEOUT_DROP_IN_PATH))}`,
    `cat > ${shellQuote(STOP_TIMEOUT_DROP_IN_PATH)} <<'NATS_DROPIN_EOF'`,
    dropIn.trimEnd(),
    "NATS_DROPIN_EOF",
    "nats_run 'reload systemd' systemctl daemon-reload",
    `nats_run 'enable the ${NATS_UNIT} unit' systemctl enable ${NATS_UNIT}`,
    ...(options.install ? installSection(options.install) : []),
    ...(options.exporter
      ? installSection(
          {
            what: `install the metrics exporter ${options.exporter.release.name} ${options.exporter.release.version}`,
            script: installExporterScript(paths, options.exporter.release, options.exporter.arch),
          },
          "5. The metrics exporter beside it",
        )
      : []),
    "nats_step='finish'",
    'echo "nats-cluster host preparation done"',
    "",
  ].join("\n");
}

/**
 * Waits for the volume, formats it only when a low-level probe finds nothing on it at all (no file system, no
 * partition table: a re-attached volume keeps its JetStream data, and a volume holding something else is refused,
 * never formatted), records it in fstab by UUID with `nofail` (so a missing volume cannot block boot; the unit then
 * refuses to start instead), mounts it and grows it to the volume's size.
 */
function volumeSection(volume: DataVolume, paths: HostPaths): string[] {
  const data = paths.dataDir;
  const quoted = volume.devices.map(shellQuote).join(" ");
  const wait = Math.max(1, Math.ceil(volume.waitSeconds));
  const names = volume.devices.join(", ");
  return [
    `# 2. The data volume (${names}), mounted at ${data}.`,
    `nats_step='wait for the data volume (${names})'`,
    "nats_dev=''",
    "i=0",
    `while [ -z "$nats_dev" ] && [ "$i" -lt ${wait} ]; do`,
    `  for d in ${quoted}; do if [ -z "$nats_dev" ] && [ -b "$d" ]; then nats_dev="$(readlink -f "$d")"; fi; done`,
    '  [ -n "$nats_dev" ] || sleep 1',
    "  i=$((i + 1))",
    "done",
    `[ -n "$nats_dev" ] || { nats_step="the data volume (${names}) was not attached within ${wait}s"; exit 1; }`,
    // blkid -p exits 2 when it finds nothing at all on the device: that, and only that, is a blank volume.
    'nats_probe_rc=0; nats_probe="$(blkid -p -o export "$nats_dev" 2>&1)" || nats_probe_rc=$?',
    'if [ "$nats_probe_rc" -eq 2 ]; then',
    `  nats_run "format the blank data volume $nats_dev" mkfs.xfs -q -L ${DATA_VOLUME_LABEL} "$nats_dev"`,
    'elif [ "$nats_probe_rc" -ne 0 ]; then',
    '  nats_step="probe the data volume $nats_dev: blkid -p exited $nats_probe_rc: $nats_probe"; exit 1',
    "fi",
    'nats_fs="$(blkid -p -o value -s TYPE "$nats_dev" || true)"',
    'if [ "$nats_fs" != xfs ]; then',
    "  nats_step=\"the data volume $nats_dev holds $(printf '%s' \"$nats_probe\" | tr '\\n' ' '), not an XFS file system: refusing to format or mount it (it may hold data)\"",
    "  exit 1",
    "fi",
    'nats_uuid="$(blkid -p -o value -s UUID "$nats_dev")"',
    `nats_step='record the data volume in /etc/fstab'`,
    // One line for the data directory: ours. A stale line (a replaced volume) would otherwise mount the wrong disk.
    `awk -v m=${shellQuote(data)} -v u="UUID=$nats_uuid" '!($2 == m && $1 != u)' /etc/fstab > /etc/fstab.nats-cluster`,
    `grep -q "^UUID=$nats_uuid " /etc/fstab.nats-cluster || echo "UUID=$nats_uuid ${data} xfs defaults,noatime,nofail 0 2" >> /etc/fstab.nats-cluster`,
    "cat /etc/fstab.nats-cluster > /etc/fstab && rm -f /etc/fstab.nats-cluster",
    "nats_run 'reload systemd' systemctl daemon-reload",
    // By device, not by the fstab line: resolving UUID= needs udev's links or a primed blkid cache, and with
    // `nofail` a mount that cannot resolve it "succeeds" without mounting anything.
    `mountpoint -q ${shellQuote(data)} || nats_run "mount the data volume $nats_dev at ${data}" mount -t xfs -o noatime "$nats_dev" ${shellQuote(data)}`,
    `mountpoint -q ${shellQuote(data)} || { nats_step="mount the data volume $nats_dev at ${data}: not mounted after mount"; exit 1; }`,
    `nats_run 'grow the file system on ${data} to the volume size' sh -c 'xfs_growfs -d "$1" >/dev/null' sh ${shellQuote(data)}`,
    `chown ${NATS_USER}:${NATS_USER} ${shellQuote(data)}`,
    `chmod 0750 ${shellQuote(data)}`,
    "",
  ];
}

/** The install, in a shell of its own (it sets traps); its last line of stderr names what failed. */
function installSection(install: { what: string; script: string }, title = "4. nats-server itself"): string[] {
  return [
    "",
    `# ${title} (own shell: it sets traps); its last error line goes into the status.`,
    `nats_step=${shellQuote(install.what)}`,
    'nats_err="$(mktemp)"',
    `if sh 2>"$nats_err" <<'${INSTALL_HEREDOC}'`,
    install.script.trimEnd(),
    INSTALL_HEREDOC,
    "then",
    '  cat "$nats_err" >&2; rm -f "$nats_err"',
    "else",
    "  nats_rc=$?",
    '  cat "$nats_err" >&2',
    '  nats_step="$nats_step: $(tail -n 1 "$nats_err")"',
    '  rm -f "$nats_err"',
    '  exit "$nats_rc"',
    "fi",
  ];
}

function dirname(file: string): string {
  return file.replace(/\/[^/]*$/, "") || "/";
}

function stopTimeoutOf(unitText: string): number {
  return Number(/^TimeoutStopSec=(\d+)$/m.exec(unitText)?.[1] ?? DEFAULT_STOP_TIMEOUT_SECONDS);
}
