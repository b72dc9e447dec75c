/**
 * The names an AWS-hosted nats-server is found by, shared by the Pulumi side (components/aws: user data, IAM policy,
 * tags) and the SSM host driver (engine/hosts/aws-ssm.ts), so the two can never disagree about a path or a tag.
 * Plain data, no AWS SDK and no Pulumi import.
 *
 * AWS parts of this project are verified only with mocks (Pulumi mocks and fakes at the AWS SDK boundary).
 */

/** Where things live on an EC2 host. The rendered user data creates them, the SSM driver uses them. */
export interface AwsHostPaths {
  /** Directory holding `nats-server-<version>` binaries and the `nats-server` symlink to the active one. */
  readonly installDir: string;
  /** The config file nats-server starts with (mode 0600, owned by the `nats` user: it can hold secrets). */
  readonly configPath: string;
  /** Data directory; the JetStream EBS volume is mounted here on members. */
  readonly dataDir: string;
  /** `pid_file`: under a systemd RuntimeDirectory, so it is recreated at every boot. */
  readonly pidFile: string;
}

export const DEFAULT_AWS_HOST_PATHS: AwsHostPaths = {
  installDir: "/opt/nats",
  configPath: "/etc/nats/nats.conf",
  dataDir: "/var/lib/nats",
  pidFile: "/var/run/nats/nats.pid",
};

/**
 * Throws unless every path is absolute and made of plain characters: they are spliced into shell scripts (user
 * data, SSM commands) and a systemd unit, where a space or quote would change their meaning.
 */
export function assertHostPaths(paths: AwsHostPaths): void {
  for (const [field, value] of Object.entries(paths)) {
    if (typeof value !== "string" || !/^\/[A-Za-z0-9_./-]*[A-Za-z0-9_.-]$/.test(value)) {
      throw new Error(
        `${field} ${JSON.stringify(value)} must be an absolute path of letters, digits, "_", ".", "-" and "/"`,
      );
    }
  }
}

/** The systemd unit name: `systemctl … nats-server`, `journalctl -u nats-server`. */
export const NATS_UNIT = "nats-server";

/** The unprivileged user nats-server runs as (the official unit's `User=nats`). */
export const NATS_USER = "nats";

/** JetStream's `store_dir` under the data directory. */
export function storeDirOf(paths: AwsHostPaths): string {
  return `${paths.dataDir.replace(/\/+$/, "")}/jetstream`;
}

/**
 * Tags that identify a cluster's hosts. The surge instance has no Pulumi resource (the driver launches it from the
 * launch template during a rollout), so these tags are how a re-run finds an orphaned one.
 */
export const TAG_CLUSTER = "nats-cluster:cluster";
export const TAG_SERVER = "nats-cluster:server";
export const TAG_ROLE = "nats-cluster:role";

/** The Parameter Store hierarchy a cluster's configs live under, unless one is configured. */
export function defaultConfigParameterPrefix(clusterName: string): string {
  return `/nats-cluster/${clusterName}`;
}

/**
 * The SecureString parameter that carries one server's config to its host (see aws-config-store.ts for why).
 * The instance role may read `<prefix>/*` and nothing else.
 */
export function configParameterName(prefix: string, serverName: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(serverName)) {
    throw new Error(
      `server name ${JSON.stringify(serverName)} cannot be part of an SSM parameter name: use letters, digits, "_" and "-"`,
    );
  }
  return `${normalizePrefix(prefix)}/${serverName}/nats.conf`;
}

/** `/a/b/` → `/a/b`; refuses what Parameter Store would refuse, naming the value. */
export function normalizePrefix(prefix: string): string {
  const trimmed = prefix.replace(/\/+$/, "");
  if (!/^(\/[A-Za-z0-9_.-]+)+$/.test(trimmed)) {
    throw new Error(
      `config parameter prefix ${JSON.stringify(prefix)} must look like /nats-cluster/prod (slash-separated letters, digits, "_", ".", "-")`,
    );
  }
  return trimmed;
}
