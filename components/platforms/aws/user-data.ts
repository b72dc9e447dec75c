/**
 * Cloud-init user data for an EC2-hosted nats-server (a member, or the surge server's launch template): the host
 * preparation of engine/hosts/systemd/host-prep.ts (the `nats` user and directories, the JetStream EBS volume
 * formatted only when blank, the systemd unit that stops by lame duck, written and enabled before any download),
 * then the configured nats-server version from the release with SHA-256 verification (engine/binaries.ts
 * `installScriptFor`). A failed step is recorded for the rollout's boot check, which runs the same preparation
 * again over SSM. The release comes from GitHub (internet egress: a NAT) unless `releaseBaseUrl` names a mirror.
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
 * Plain functions (no Pulumi import). The tests run the install part with `sh`, and the whole user data through
 * cloud-init on lab VMs with a loop device as the volume (test/aws/lab-user-data.test.ts); never on EC2 itself.
 */
import { ExporterRelease } from "../../../engine/exporter";
import { installScriptFor } from "../../../engine/hosts/systemd/install-scripts";
import { ReleasePins, releaseSource } from "../../../engine/release";
import { DATA_VOLUME_DEVICE, DATA_VOLUME_WAIT_SECONDS } from "../../../engine/hosts/aws/names";
import { ebsDeviceCandidates } from "../../../engine/hosts/aws/scripts";
import { hostPrepScript, INSTALL_HEREDOC } from "../../../engine/hosts/systemd/host-prep";
import { assertHostPaths, DEFAULT_HOST_PATHS, HostPaths } from "../../../engine/hosts/systemd/paths";
import { systemdUnitFor } from "../../../engine/hosts/systemd/unit";
import { ClusterSpec, ServerEndpoint } from "../../../engine/spec";

/** The device name the JetStream volume is attached as (`aws.ec2.VolumeAttachment.deviceName`). */
export const JETSTREAM_DEVICE = DATA_VOLUME_DEVICE;

export { INSTALL_HEREDOC };

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
  /**
   * The EBS volume id of that volume (`vol-…`), when known: the volume is then found by its `/dev/disk/by-id` link,
   * which every distribution's udev makes on Nitro instances, not only by the device name Amazon Linux adds.
   */
  readonly jetstreamVolumeId?: string;
  /** File locations; default {@link DEFAULT_HOST_PATHS} (what the SSM driver assumes). */
  readonly paths?: HostPaths;
  /** Release download base URL, for mirrors. Default the official GitHub releases. */
  readonly releaseBaseUrl?: string;
  /** Version → arch → SHA-256 of the release tarball; needed when releaseBaseUrl is plain http (engine/release.ts). */
  readonly releaseSha256?: ReleasePins;
  /** How long to wait for the volume to be attached (Pulumi attaches it after the instance runs). Default 600 s. */
  readonly volumeWaitSeconds?: number;
  /** systemd `TimeoutStopSec`: how long lame duck may take before SIGKILL. Default 150 (the official unit). */
  readonly stopTimeoutSeconds?: number;
  /** A metrics exporter installed after nats-server (engine/exporter.ts); its port is opened by security-group.ts. */
  readonly exporter?: ExporterRelease;
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
  // Throws for a plain-http mirror without a pin for this version: at preview, before any instance exists.
  const release = releaseSource(options.releaseBaseUrl, options.releaseSha256);
  const install = installScriptFor(options.version, options.arch, paths.installDir, release);
  return [
    "#!/bin/sh",
    `# nats-cluster user data for ${options.serverName}: nats-server v${options.version} (linux-${options.arch}).`,
    "# No config and no secret here: the rollout writes the config through SSM from a Parameter Store SecureString.",
    "# A failed first boot is retried by the rollout: it runs the same preparation again over SSM.",
    hostPrepScript({
      paths,
      volume:
        options.jetstreamDevice !== undefined
          ? {
              devices: ebsDeviceCandidates(options.jetstreamDevice, options.jetstreamVolumeId),
              waitSeconds: options.volumeWaitSeconds ?? DATA_VOLUME_WAIT_SECONDS,
            }
          : undefined,
      stopTimeoutSeconds: options.stopTimeoutSeconds,
      install: { what: `install nats-server v${options.version} from ${release.baseUrl}`, script: install },
      ...(options.exporter ? { exporter: { release: options.exporter, arch: options.arch } } : {}),
    }),
  ].join("\n");
}
