/**
 * Cloud-init user data for an EC2-hosted nats-server (a member, or the surge server's launch template): creates the
 * `nats` user and directories, mounts the JetStream EBS volume (formatting it only when blank), installs the
 * configured nats-server version from the official release with SHA-256 verification (engine/binaries.ts
 * `installScriptFor`), and writes and enables a systemd unit that stops by lame duck.
 *
 * What it does NOT do: write the config. A config can hold tokens, passwords and system-account credentials, and
 * user data is readable by anyone with `ec2:DescribeInstanceAttribute` and from inside the VM through IMDS. The
 * config is written later, by the RollingUpgrade through SSM, from an SSM Parameter Store SecureString
 * (engine/hosts/aws/config-store.ts); until then the unit's `ConditionPathExists` keeps nats-server from starting.
 * After a reboot the config is on the root disk and the enabled unit starts by itself.
 *
 * The user data is only read at first boot, and the instance ignores later changes to it (member-host.ts): a
 * version bump in the stack is carried out in place by the RollingUpgrade, never by replacing the VM.
 *
 * Plain functions (no Pulumi import), so the tests run the rendered install part for real. AWS parts of this
 * project are verified only with mocks.
 */
import { installScriptFor } from "../../../engine/binaries";
import {
  assertHostPaths,
  DEFAULT_HOST_PATHS,
  HostPaths,
  NATS_UNIT,
  NATS_USER,
  storeDirOf,
} from "../../../engine/hosts/systemd/paths";
import { systemdUnitFor } from "../../../engine/hosts/systemd/unit";
import { ClusterSpec, ServerEndpoint } from "../../../engine/spec";

/** The device name the JetStream volume is attached as (`aws.ec2.VolumeAttachment.deviceName`). */
export const JETSTREAM_DEVICE = "/dev/sdf";

/** Delimits the install part in the user data: the tests cut it out at these lines and run it with `sh`. */
export const INSTALL_HEREDOC = "NATS_INSTALL_EOF";

/** What user data may know about a server. Deliberately no ClusterSpec: nothing secret can reach this type. */
export interface UserDataOptions {
  /** `server_name` (for comments only). */
  readonly serverName: string;
  /** nats-server version to install at first boot, e.g. "2.15.2". */
  readonly version: string;
  /** Release tarball architecture; must match the AMI. */
  readonly arch: "amd64" | "arm64";
  /**
   * Device the JetStream EBS volume is attached as (usually {@link JETSTREAM_DEVICE}); undefined for a host without
   * one (the client-only surge server), whose data directory stays on the root disk.
   */
  readonly jetstreamDevice?: string;
  /** File locations; default {@link DEFAULT_HOST_PATHS} (what the SSM driver assumes). */
  readonly paths?: HostPaths;
  /** Release download base URL, for mirrors. Default the official GitHub releases. */
  readonly releaseBaseUrl?: string;
  /** How long to wait for the volume to be attached (Pulumi attaches it after the instance runs). Default 600 s. */
  readonly volumeWaitSeconds?: number;
  /** systemd `TimeoutStopSec`: how long lame duck may take before SIGKILL. Default 150 (the official unit). */
  readonly stopTimeoutSeconds?: number;
}

/**
 * The non-secret user-data inputs for one server of a spec: its name, the version, and whether it runs JetStream
 * (members when JetStream is on; the surge server only when `surge.jetstream`). The spec's auth and TLS stay behind.
 */
export function userDataInputsFor(
  spec: ClusterSpec,
  server: ServerEndpoint,
): { serverName: string; version: string; jetstream: boolean } {
  const isSurge = server.name === spec.surge.name;
  return {
    serverName: server.name,
    version: spec.version,
    jetstream: spec.jetstream.enabled && (!isSurge || spec.surge.jetstream === true),
  };
}

export { systemdUnitFor };

/** Renders the whole user data script (`#!/bin/sh`, run once by cloud-init as root). */
export function renderUserData(options: UserDataOptions): string {
  const paths = options.paths ?? DEFAULT_HOST_PATHS;
  assertHostPaths(paths);
  const install = installScriptFor(options.version, options.arch, paths.installDir, options.releaseBaseUrl);
  const unitText = systemdUnitFor(paths, {
    withVolume: options.jetstreamDevice !== undefined,
    stopTimeoutSeconds: options.stopTimeoutSeconds,
  });
  const data = paths.dataDir;
  const configDir = paths.configPath.replace(/\/[^/]*$/, "") || "/";
  return [
    "#!/bin/sh",
    `# nats-cluster user data for ${options.serverName}: nats-server v${options.version} (linux-${options.arch}).`,
    "# No config and no secret here: the rollout writes the config through SSM from a Parameter Store SecureString.",
    "set -eu",
    "",
    "# 1. The user nats-server runs as, and its directories.",
    `id -u ${NATS_USER} >/dev/null 2>&1 || useradd --system --no-create-home --home-dir '${data}' --shell /sbin/nologin ${NATS_USER}`,
    `install -d -m 0750 -o root -g ${NATS_USER} '${configDir}'`,
    `install -d -m 0755 '${paths.installDir}'`,
    `install -d -m 0750 -o ${NATS_USER} -g ${NATS_USER} '${data}'`,
    "",
    ...(options.jetstreamDevice !== undefined
      ? volumeSection(options.jetstreamDevice, paths, options.volumeWaitSeconds ?? 600)
      : ["# 2. No JetStream volume on this host: the data directory stays on the root disk.", ""]),
    `install -d -m 0750 -o ${NATS_USER} -g ${NATS_USER} '${storeDirOf(paths)}'`,
    "",
    "# 3. nats-server itself, from the official release, verified against its SHA256SUMS (own shell: it sets traps).",
    `sh <<'${INSTALL_HEREDOC}'`,
    install.trimEnd(),
    INSTALL_HEREDOC,
    "",
    "# 4. The systemd unit: stops by lame duck (SIGUSR2), like the official nats-server.service. Enabled, not started.",
    `cat > '/etc/systemd/system/${NATS_UNIT}.service' <<'NATS_UNIT_EOF'`,
    unitText.trimEnd(),
    "NATS_UNIT_EOF",
    "systemctl daemon-reload",
    `systemctl enable ${NATS_UNIT}`,
    `echo "nats-cluster user data for ${options.serverName} done"`,
    "",
  ].join("\n");
}

/**
 * Waits for the volume (Pulumi attaches it only once the instance runs), formats it only when it has no file
 * system (a re-attached volume keeps its JetStream data), mounts it by UUID with `nofail` so a missing volume cannot
 * block boot (the unit's RequiresMountsFor then keeps nats-server down instead).
 * Nitro instances expose EBS as NVMe; Amazon Linux's udev rules add the `/dev/sdf` name, Xen ones use `/dev/xvdf`.
 */
function volumeSection(device: string, paths: HostPaths, waitSeconds: number): string[] {
  const alt = device.replace(/^\/dev\/sd/, "/dev/xvd");
  const data = paths.dataDir;
  return [
    `# 2. The JetStream EBS volume (${device}), mounted at ${data}.`,
    "nats_dev=''",
    "i=0",
    `while [ -z "$nats_dev" ] && [ "$i" -lt ${Math.ceil(waitSeconds)} ]; do`,
    `  for d in '${device}' '${alt}'; do if [ -b "$d" ]; then nats_dev="$(readlink -f "$d")"; fi; done`,
    '  [ -n "$nats_dev" ] || sleep 1',
    "  i=$((i + 1))",
    "done",
    `[ -n "$nats_dev" ] || { echo "JetStream volume ${device} was not attached within ${Math.ceil(waitSeconds)}s" >&2; exit 1; }`,
    // blkid exits 2 for "no file system": that is the blank case, not an error.
    'if [ -z "$(blkid -o value -s TYPE "$nats_dev" || true)" ]; then mkfs.xfs -L nats-jetstream "$nats_dev"; fi',
    'nats_uuid="$(blkid -o value -s UUID "$nats_dev")"',
    `grep -q "^UUID=$nats_uuid " /etc/fstab || echo "UUID=$nats_uuid ${data} xfs defaults,noatime,nofail 0 2" >> /etc/fstab`,
    "systemctl daemon-reload",
    `mountpoint -q '${data}' || mount '${data}'`,
    `chown ${NATS_USER}:${NATS_USER} '${data}'`,
    `chmod 0750 '${data}'`,
    "",
  ];
}
